"""Log evidence commands: ``collect``, ``verify``, ``logs search``/``logs export``, ``archive keygen``; and the
collector that ``watch`` starts beside the packet sensor when the settings have a ``syslog:`` section."""

from __future__ import annotations

import atexit
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from mamori.cli.common import CONFIG_OPTION, EXIT_PROBLEM, action_options, default_data_dir
from mamori.cli.output import AlertPrinter, parse_time
from mamori.config import Settings
from mamori.errors import ConfigError, MamoriError

__all__ = ["archive", "collect", "logs", "start_collector_process", "verify"]

log = logging.getLogger("mamori")

EXIT_TAMPERED = 1
_CONFIG = CONFIG_OPTION


def _settings(config: Path, *, need_syslog: bool = True) -> Settings:
    from mamori.config import load_settings

    try:
        settings = load_settings(config, data_dir=default_data_dir(), action_types=action_options())
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_PROBLEM)
    if need_syslog and settings.syslog is None:
        click.echo(f"error: {config}: no syslog: section / syslog: の設定がありません", err=True)
        sys.exit(EXIT_PROBLEM)
    return settings


# -- collect ------------------------------------------------------------------------------------------------------


@click.command()
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="アラートを JSON で出力 / print alert updates as JSON lines.")
@click.option("--lang", type=click.Choice(["ja", "en"]), default="ja", show_default=True, help="表示言語 / language.")
@click.pass_context
def collect(ctx: click.Context, config: Path, as_json: bool, lang: str) -> None:
    """syslog を受信して証跡として保管する / Receive syslog into the evidence archive (until SIGINT/SIGTERM).

    \b
    UDP・TCP・TLS・RELP で受信し、1 行ずつ改ざん検知できる形で保管し、ルータ・ファイアウォールの許可/拒否ログを
    接続として検知にかけます。/ Listens on UDP, TCP, TLS and RELP, archives every line in a hash chain, and runs
    the detectors on the permit/deny lines of routers and firewalls.
    """
    settings = _settings(config)
    from mamori.cli.compose import open_store, with_ledger
    from mamori.runtime.collector import Collector

    settings = with_ledger(settings, open_store(settings.database_path))
    verbose = bool(ctx.find_root().params.get("verbose"))
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        collector = Collector(settings, on_alerts=AlertPrinter(as_json, lang), verbose=verbose)
        report = collector.run(stop)
    except (MamoriError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_PROBLEM)
    received = sum(report.received.values())
    log.info(
        "collector stopped: %d received, %d archived, %d dropped%s, %d kernel UDP drops, %d cut to size",
        received,
        report.archived,
        sum(report.dropped.values()),
        "".join(f" ({reason}: {n})" for reason, n in report.dropped.items()),
        report.kernel_drops,
        report.truncated,
    )


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("stopping on %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _collector_process(settings: Settings, stop: Any, printer: AlertPrinter, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # watch tells us when to stop (after its own signal), so that the last lines are archived first
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from mamori.runtime.collector import Collector

    event = threading.Event()
    parent = os.getppid()

    def watch_parent() -> None:
        while not stop.wait(1.0):
            if os.getppid() != parent:  # watch was killed: do not run on alone
                break
        event.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    Collector(settings, on_alerts=printer, verbose=verbose).run(event)


class CollectorProcess:
    """The collector that ``watch`` runs beside the packet sensor, in a process of its own."""

    def __init__(self, settings: Settings, printer: AlertPrinter) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        verbose = logging.getLogger().isEnabledFor(logging.DEBUG)
        self._process = context.Process(
            target=_collector_process,
            args=(settings, self._stop, printer, verbose),
            name="mamori-collector",
        )
        self._process.start()
        atexit.register(self.stop)  # runs before multiprocessing joins its children at exit

    def stop(self, timeout: float = 120.0) -> None:
        self._stop.set()
        self._process.join(timeout)

    def alive(self) -> bool:
        return self._process.is_alive()


def start_collector_process(
    settings: Settings, *, capturing: bool, as_json: bool, lang: str
) -> CollectorProcess | None:
    """For ``watch``: run the collector in its own process when the settings have ``syslog:``. With no interface
    to capture on, ``watch`` is the collector alone: wait here for SIGINT/SIGTERM, stop it, and exit."""
    if settings.syslog is None:
        return None
    collector = CollectorProcess(settings, AlertPrinter(as_json, lang))
    if capturing:
        return collector
    stop = threading.Event()
    _stop_on_signals(stop)
    log.info("no capture interface: running the syslog collector only")
    while not stop.wait(0.5):
        if not collector.alive():
            click.echo("error: the syslog collector stopped / syslog 受信が停止しました", err=True)
            sys.exit(EXIT_PROBLEM)
    collector.stop()
    sys.exit(0)


# -- verify -------------------------------------------------------------------------------------------------------


@click.command()
@_CONFIG
@click.option(
    "--path",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    help="この場所を検査（ミラーなど） / verify this folder instead (e.g. the mirror).",
)
@click.option(
    "--public-key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="署名の検証に使う公開鍵（archive.pub） / public key to check signatures with.",
)
@click.option("--json", "as_json", is_flag=True, help="結果を JSON で出力 / print the findings as JSON lines.")
def verify(config: Path, folder: Path | None, public_key: Path | None, as_json: bool) -> None:
    """証跡アーカイブの改ざんを検査する / Verify the evidence archive (exit 1 if anything was altered).

    \b
    すべての記録のハッシュ連鎖、連番、日ごとの署名付きマニフェストを調べ、改変・削除・挿入・順序の入れ替えを
    ファイル名・行・記録番号で示します。/ Checks every record's hash chain, the sequence numbers and each day's
    signed manifest, and names the file, line and record of anything altered, deleted, inserted or reordered.
    """
    settings = _settings(config)
    from mamori.runtime.collector import archive_root, key_path
    from mamori.storage.archive_keys import load_verifier
    from mamori.storage.archive_maintenance import retention_days
    from mamori.storage.archive_verify import verify_archive

    syslog = settings.syslog
    if syslog is None:  # _settings() exits first; this tells the type checker
        sys.exit(EXIT_PROBLEM)
    root = folder or archive_root(settings)
    if not root.is_dir():
        click.echo(f"error: no archive at {root} / アーカイブがありません", err=True)
        sys.exit(EXIT_PROBLEM)
    verifier = None
    key_file = public_key or syslog.archive.public_key
    candidates = [key_file] if key_file else [key_path(settings), key_path(settings).with_suffix(".pub")]
    for candidate in candidates:
        try:
            verifier = load_verifier(candidate)
            break
        except MamoriError as exc:
            last_error = str(exc)
    if verifier is None:
        click.echo(f"warning: signatures not checked: {last_error} / 署名は検査していません", err=True)
    report = verify_archive(root, verifier, keep_days=retention_days(syslog.archive.retention_years))
    for finding in report.findings:
        if as_json:
            click.echo(json.dumps(finding.__dict__, ensure_ascii=False))
        else:
            click.echo(f"{finding.level}: {finding}")
    summary = (
        f"{root}: {report.days} day(s), {report.records} record(s)"
        + (f" ({report.first_seq}-{report.last_seq})" if report.first_seq is not None else "")
        + f", {report.signatures} signature(s) verified"
    )
    if report.ok:
        click.echo(f"OK: {summary} / 改ざんは見つかりませんでした", err=as_json)
        return
    click.echo(f"TAMPERED: {summary}: {len(report.errors)} problem(s) / 改ざん・欠落が見つかりました", err=True)
    sys.exit(EXIT_TAMPERED)


# -- logs search / export -----------------------------------------------------------------------------------------


def _filters(func: Any) -> Any:
    for option in reversed(
        (
            _CONFIG,
            click.option("--since", help="この日時以降 / from this time (ISO 8601; local time without an offset)."),
            click.option("--until", help="この日時以前 / up to this time (ISO 8601)."),
            click.option("--host", help="送信元アドレスまたはホスト名 / sender address or host name."),
            click.option("--text", help="この文字列を含む行 / lines containing this text (case-insensitive)."),
            click.option("--limit", type=int, help="最大件数 / at most this many lines."),
        )
    ):
        func = option(func)
    return func


def _query(since: str | None, until: str | None, host: str | None, text: str | None, limit: int | None) -> Any:
    from mamori.runtime.log_search import LogQuery

    return LogQuery(since=parse_time(since), until=parse_time(until), host=host, text=text, limit=limit)


@click.group()
def logs() -> None:
    """保管したログの検索・出力 / Search and export the archived logs."""


@logs.command("search")
@_filters
@click.option("--json", "as_json", is_flag=True, help="1 行 1 件の JSON / one JSON object per line.")
def logs_search(
    config: Path,
    since: str | None,
    until: str | None,
    host: str | None,
    text: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """保管したログを検索する / Search the archive: one line (or JSON object) per archived message."""
    settings = _settings(config)
    from mamori.runtime.collector import archive_root
    from mamori.runtime.log_search import search_archive

    for row in search_archive(archive_root(settings), settings, _query(since, until, host, text, limit)):
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"{row['received_at']} {row['sender']} {row['transport']} {row['message']}")


@logs.command("export")
@_filters
@click.option("--csv", "as_csv", is_flag=True, required=True, help="CSV で出力 / write CSV.")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="出力先 / file (default: stdout)."
)
@click.option(
    "--encoding",
    type=click.Choice(["utf-8-sig", "utf-8", "cp932"]),
    default="utf-8-sig",
    show_default=True,
    help="文字コード（Excel 用の BOM 付き UTF-8 が既定） / character set (UTF-8 with BOM opens in Excel).",
)
def logs_export(
    config: Path,
    since: str | None,
    until: str | None,
    host: str | None,
    text: str | None,
    limit: int | None,
    as_csv: bool,
    output: Path | None,
    encoding: str,
) -> None:
    """保管したログを CSV で出力する / Export archived lines as CSV."""
    settings = _settings(config)
    from mamori.runtime.collector import archive_root
    from mamori.runtime.log_search import search_archive, write_csv

    rows = search_archive(archive_root(settings), settings, _query(since, until, host, text, limit))
    if output is None:
        stream = open(sys.stdout.fileno(), "w", encoding=encoding, errors="replace", newline="", closefd=False)  # noqa: SIM115
        count = write_csv(rows, stream)
        stream.flush()
    else:
        with output.open("w", encoding=encoding, errors="replace", newline="") as out:
            count = write_csv(rows, out)
    click.echo(f"{count} line(s) / 件", err=True)


# -- archive keygen -----------------------------------------------------------------------------------------------


@click.group()
def archive() -> None:
    """証跡アーカイブの署名鍵 / The evidence archive's signing key."""


@archive.command("keygen")
@_CONFIG
@click.option(
    "--type",
    "algorithm",
    type=click.Choice(["ed25519", "hmac-sha256"]),
    default="ed25519",
    show_default=True,
    help="署名方式 / signature algorithm.",
)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="鍵の保存先 / key file (default: archive.key)."
)
@click.option("--force", is_flag=True, help="既存の鍵を上書き / replace an existing key.")
def keygen(config: Path, algorithm: str, out: Path | None, force: bool) -> None:
    """署名鍵を作る（アーカイブとは別の場所に、root のみ読める） / Make the archive signing key (mode 0600, kept
    apart from the archive)."""
    settings = _settings(config)
    from mamori.runtime.collector import archive_root, key_path
    from mamori.storage.archive_keys import generate_key

    path = out or key_path(settings)
    if path.resolve().is_relative_to(archive_root(settings).resolve()):
        click.echo(f"error: keep the key outside the archive {archive_root(settings)} / 鍵はアーカイブの外に", err=True)
        sys.exit(EXIT_PROBLEM)
    try:
        key_id, public = generate_key(path, algorithm=algorithm, overwrite=force)
    except MamoriError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_PROBLEM)
    click.echo(f"{path} (key id {key_id}, mode 0600)")
    if public is not None:
        click.echo(
            f"{public}: 監査用の公開鍵。別の場所にも保管してください / public key for auditors: keep a copy elsewhere"
        )
