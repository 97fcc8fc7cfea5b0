"""``mamori learn``: propose the terminals seen connecting to each department system, for the operator to review
(in Excel, or as a YAML fragment) and then import. Nothing is registered by this command."""

from __future__ import annotations

import datetime as dt
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mamori.cli.common import CONFIG_OPTION, CSV_ENCODINGS, EXIT_PROBLEM, fail, load_or_exit, warn
from mamori.cli.compose import with_ledger
from mamori.config import Settings, parse_duration
from mamori.errors import MamoriError

if TYPE_CHECKING:
    from mamori.reports import ProposalRow
    from mamori.runtime import Learner, Proposal

__all__ = ["learn"]

DECLINE = "いいえ"
KNOWN = "登録済み"


@click.command()
@CONFIG_OPTION
@click.argument("captures", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--duration",
    default="24h",
    show_default=True,
    help="ライブで学習する時間（例: 30m, 24h, 7d） / how long to learn live (Ctrl-C stops early).",
)
@click.option(
    "--interface",
    "-i",
    "interfaces",
    multiple=True,
    help="学習するインタフェース（設定より優先） / learn on this interface (repeatable).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="提案の書き出し先（- は標準出力） / proposal file (default: mamori-learn-DATE.csv or .yaml; - for stdout).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "yaml"]), default="csv", show_default=True, help="提案の形式 / format."
)
@click.option(
    "--encoding",
    type=click.Choice(CSV_ENCODINGS),
    default="utf-8-sig",
    show_default=True,
    help="CSV の文字コード / CSV encoding (shift_jis for older Excel).",
)
@click.option("--all", "include_known", is_flag=True, help="登録済みの端末も載せる / also list known terminals.")
def learn(
    config: Path,
    captures: tuple[Path, ...],
    duration: str,
    interfaces: tuple[str, ...],
    output: Path | None,
    fmt: str,
    encoding: str,
    include_known: bool,
) -> None:
    """通信から正規端末の候補を作る / Propose terminals from who connects to each system.

    Reads the capture files given (pcap, pcapng, Packet Police CSV), else learns live on the configured
    interfaces for --duration. Writes a proposal to review: in the CSV, a 判定 (decision) of いいえ/no/× declines
    a row and an empty one accepts it; then `mamori terminals import --config FILE PROPOSAL.csv`.
    """
    from mamori.runtime import Learner

    file_settings = load_or_exit(config)
    settings = with_ledger(file_settings, None)  # the ledger, if the database exists already
    in_file = {(s.name, t.mac) for s in file_settings.site.systems for t in s.terminals}
    learner = Learner(settings.site, settings)
    failed = (
        _learn_files(learner, settings, captures) if captures else _learn_live(learner, settings, duration, interfaces)
    )
    if captures and len(failed) == len(captures):
        fail("読めるキャプチャがありません / no capture could be read")
    if learner.dropped:
        warn(
            f"送信元が多すぎるため {learner.dropped} 個の SYN を数えていません / {learner.dropped} SYNs from sources "
            f"beyond the first {learner.max_sources} were not tallied (a flood?)"
        )
    proposals = learner.proposals()
    path = output or Path(f"mamori-learn-{dt.datetime.now().strftime('%Y%m%d-%H%M')}.{fmt}")
    rows = _rows(proposals, in_file, include_known=include_known)
    _write(path, rows, settings, learner, fmt=fmt, encoding=encoding)
    _report(path, proposals, settings, fmt=fmt, config=config)
    if failed:
        sys.exit(EXIT_PROBLEM)


def _learn_files(learner: Learner, settings: Settings, captures: Sequence[Path]) -> list[str]:
    from mamori.runtime import learn_from_files

    run = learn_from_files(learner, settings, list(captures))
    for stats in run.sources:
        for error in stats.errors:
            warn(error)
    for failure in run.failed:
        click.echo(click.style("error: ", fg="red") + failure, err=True)
    return run.failed


def _learn_live(learner: Learner, settings: Settings, duration: str, interfaces: Sequence[str]) -> list[str]:
    from mamori.runtime import learn_live

    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from None
    names = list(interfaces) or list(settings.capture.interfaces)
    if not names:
        fail(
            f"{settings.source}: 学習するインタフェースがありません（capture.interfaces か --interface）"
            " / no interface to learn on: set capture.interfaces or pass --interface (or give capture files)"
        )
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    click.echo(
        f"{', '.join(names)} で {duration} 学習します（Ctrl-C で終了し提案を書き出します） / learning for {duration} "
        f"on {', '.join(names)} (Ctrl-C stops early and writes the proposal)",
        err=True,
    )

    def progress(current: Learner) -> None:
        click.echo(f"  SYN {current.syns:,}, 送信元 / sources {current.sources:,}", err=True)

    try:
        learn_live(learner, settings, names, duration=seconds, stop=stop, progress=progress)
    except MamoriError as exc:
        fail(str(exc))
    return []


# -- writing the proposal ---------------------------------------------------------------------------------------------


def _note(p: Proposal, in_file: bool) -> str:
    parts = []
    if p.via_router and p.gateway:
        parts.append(
            f"ルータ {p.gateway} 経由のため MAC は分からず IP で判定します / through router {p.gateway}: "
            "the frames carry the router's MAC, so the IP is checked"
        )
    elif p.via_router:
        parts.append("MAC のない記録のため IP で判定します / no MAC in the source: the IP is checked")
    if len(p.ips) > 1:
        parts.append(
            "複数の IP を使用: IP 欄が空ならどの IP でも可、固定するには 1 つ記入 / several IPs used: an empty IP "
            "accepts any, enter one to pin it"
        )
    if p.registered and not p.known:
        parts.append(
            f"登録済み端末 {p.registered}（IP {p.registered_ip or '任意'}）が別の IP で接続 / registered terminal "
            f"{p.registered} (IP {p.registered_ip or 'any'}) connected from another IP"
        )
        if in_file:
            parts.append(
                "設定ファイルの登録が優先されるため、IP を変えるには設定ファイルを直してください / the settings "
                "file's entry wins: change its IP there"
            )
    if p.flagged:
        rules = ", ".join(p.flagged)
        parts.append(
            f"学習中にこの送信元で {rules} を検知: 確認してください / {rules} detected from this source while "
            "learning: check it before accepting"
        )
    return " ／ ".join(parts)


def _rows(proposals: Sequence[Proposal], in_file: set[tuple[str, str]], *, include_known: bool) -> list[ProposalRow]:
    from mamori.reports import OuiRegistry, ProposalRow

    vendors = OuiRegistry()
    if not vendors.available and any(p.mac for p in proposals):
        warn(
            "ベンダー名を表示するには ieee-data をインストールしてください (apt-get install ieee-data) / "
            "install Debian's ieee-data to see vendor names"
        )
    rows = []
    for p in proposals:
        if p.known and not include_known:
            continue
        file_entry = (p.system, p.mac) in in_file
        # Declined by default: a source that raised alerts while learning, or a settings-file terminal seen with
        # another IP (an import could not change the file's entry).
        decision = KNOWN if p.known else DECLINE if p.flagged or file_entry else ""
        name = p.registered or ("via-router" if p.via_router else f"learn-{p.ips[0][0]}")
        rows.append(
            ProposalRow(
                system=p.system,
                name=name,
                mac=p.mac,
                ip=p.ip,
                note=_note(p, file_entry),
                first_seen=p.first_seen,
                last_seen=p.last_seen,
                connections=p.connections,
                ports=p.ports,
                ips=p.ips,
                vendor=vendors.vendor(p.mac) if p.mac else "",
                decision=decision,
            )
        )
    return rows


def _preamble(settings: Settings, learner: Learner) -> list[str]:
    return [
        f"mamori learn の提案 / terminals proposed by mamori learn: {settings.source}, SYN {learner.syns:,}",
        "判定: 空欄 = 登録する、いいえ / no / × = 登録しない、登録済み = 登録済み（変更なし） / decision: empty = "
        "register, いいえ / no / × = do not register, 登録済み = already registered",
        "端末名・IP・備考は書き換えられます。IP が空欄ならどの IP でも可 / you may edit name, IP and note; an empty "
        "IP accepts any IP",
        f"確認後 / then: mamori terminals import --config {settings.source} <this file>",
    ]


def _write(
    path: Path, rows: Sequence[ProposalRow], settings: Settings, learner: Learner, *, fmt: str, encoding: str
) -> None:
    from mamori.reports import write_proposal

    preamble = _preamble(settings, learner)
    try:
        if fmt == "csv":
            data = write_proposal(rows, encoding=encoding, preamble=preamble)
        else:
            data = proposal_yaml(rows, preamble).encode("utf-8")
    except ValueError as exc:
        fail(str(exc))
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        path.write_bytes(data)
    except OSError as exc:
        fail(f"{path}: cannot write ({exc.strerror})")


def proposal_yaml(rows: Sequence[ProposalRow], preamble: Sequence[str]) -> str:
    """The proposal as a YAML fragment: per system, ``terminals:`` entries to paste into the settings file. Rows
    that the settings file cannot hold (no MAC) or that are declined or known stay as comments."""
    lines = [f"# {line}" for line in preamble[:1]]
    lines.append(
        "# 確認して、設定ファイルの各システムの terminals: に貼り付けてください / review, then paste the entries"
    )
    lines.append("# under the terminals: of each system in the settings file")
    systems: dict[str, list[ProposalRow]] = {}
    for row in rows:
        systems.setdefault(row.system, []).append(row)
    for system, items in systems.items():
        lines.append(f"{json.dumps(system, ensure_ascii=False)}:")
        entries = [r for r in items if r.mac and not r.decision]
        lines.append("  terminals:" if entries else "  terminals: []")
        for r in items:
            ips = ", ".join(ip for ip, _ in r.ips[:4]) + (f" (+{len(r.ips) - 4})" if len(r.ips) > 4 else "")
            seen = f"{r.connections} 回 / times, ports {' '.join(map(str, r.ports))}, {ips}"
            lines.append(f"    # {seen}{', ' + r.vendor if r.vendor else ''}")
            fields = {
                "name": r.name,
                "mac": r.mac,
                **({"ip": r.ip} if r.ip else {}),
                **({"note": r.note} if r.note else {}),
            }
            entry = "{" + ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items()) + "}"
            if r in entries:
                lines.append(f"    - {entry}")
            elif not r.mac:
                lines.append(f"    # - {entry}")
                lines.append("    #   MAC のない端末は設定ファイルに書けません。CSV で取り込んでください / a terminal")
                lines.append("    #   without MAC cannot go in the settings file: import it from the CSV instead")
            else:
                lines.append(f"    # - {entry}   # {r.decision}")
    return "\n".join(lines) + "\n"


def _report(path: Path, proposals: Sequence[Proposal], settings: Settings, *, fmt: str, config: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from mamori.runtime import summarize

    to_stdout = str(path) == "-"
    console = Console(stderr=to_stdout, width=None if sys.stdout.isatty() else 120, markup=False, highlight=False)
    table = Table(header_style="bold")
    for title in ("システム / system", "提案 / proposed", "登録済み / known"):
        table.add_column(title)
    for line in summarize(settings.site, proposals):
        table.add_row(line.system, str(line.proposed), str(line.known))
    console.print(table)
    declined = sum(1 for p in proposals if p.flagged and not p.known)
    if declined:
        console.print(
            f"{declined} 件は学習中に攻撃を検知したため判定を「いいえ」にしています / {declined} source(s) raised "
            "alerts while learning and are proposed declined (いいえ)"
        )
    if to_stdout:
        return
    console.print(f"提案 / proposal: {path}")
    if fmt == "csv":
        console.print(
            "Excel で確認し、登録しない行の判定列に「いいえ」を入れてください（空欄は登録） / review it in Excel: "
            "put いいえ (no) in the 判定 column of rows not to register; an empty decision registers the row"
        )
        console.print(f"次に / next: mamori terminals import --config {config} {path}")
    else:
        console.print("確認して設定ファイルに貼り付けてください / review it and paste it into the settings file")
