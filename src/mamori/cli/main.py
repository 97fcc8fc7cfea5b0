"""The ``mamori`` command. The only place that reads argv and the environment and assembles the parts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from mamori.cli.check import check
from mamori.cli.common import CONFIG_OPTION, EXIT_PROBLEM, LANG_OPTION, fail, load_or_exit
from mamori.cli.evtx import evtx
from mamori.cli.learn import learn
from mamori.cli.logs import archive, collect, logs, start_collector_process, verify
from mamori.cli.rules import rules
from mamori.cli.segments import segments
from mamori.cli.terminals import terminals, with_ledger
from mamori.cli.web import user, web
from mamori.cli.zabbix import zabbix_template
from mamori.config import Settings
from mamori.errors import MamoriError
from mamori.model import Alert, Delivery, Severity
from mamori.rules import render

__all__ = ["main"]

log = logging.getLogger("mamori")

_ACT_TIMEOUT = 120.0  # analyze --act: how long actions may take (retries included) before giving up


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        # django-axes says INFO on every login (success, clean-up, reset): warnings (failures, lockouts) are enough.
        logging.getLogger("axes").setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mamori")
@click.option("--verbose", "-v", is_flag=True, help="詳しいログ / debug logging.")
def cli(verbose: bool) -> None:
    """mamori (守り): 病院ネットワークのセキュリティ監視 / a security monitor for hospital networks."""
    _setup_logging(verbose)
    # The sensor allocates many small, long-lived objects; fewer, later collections keep the capture loop steady.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


# -- output helpers -----------------------------------------------------------------------------------------------


def _print_alerts(alerts: Sequence[Alert], *, as_json: bool, lang: str) -> None:
    from mamori.reports import alert_to_json

    if as_json:
        for alert in alerts:
            click.echo(alert_to_json(alert))
        return
    if not alerts:
        click.echo("アラートはありません / no alerts")
        return
    if sys.stdout.isatty():
        _alert_table(alerts, lang)
    else:
        from mamori.reports import alert_line

        for alert in alerts:
            click.echo(alert_line(alert, lang))


_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _alert_table(alerts: Sequence[Alert], lang: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from mamori.reports import local_time

    ja = lang == "ja"
    table = Table(show_lines=False, header_style="bold")
    for title in (
        ("重大度", "Severity"),
        ("ルール", "Rule"),
        ("最初", "First"),
        ("最後", "Last"),
        ("件数", "Count"),
        ("送信元", "Source"),
        ("システム", "System"),
        ("概要", "Summary"),
    ):
        table.add_column(title[0] if ja else title[1], overflow="fold")
    for a in alerts:
        source = " ".join(x for x in (a.src_ip, f"({a.src_mac})" if a.src_mac else None) if x)
        table.add_row(
            f"[{_SEVERITY_STYLE[a.severity]}]{a.severity.label}[/]",
            a.rule,
            local_time(a.first_seen),
            local_time(a.last_seen),
            f"{a.count:,}",
            source,
            a.system or "-",
            render.summary(a, "ja" if ja else "en"),
        )
    Console().print(table)


# -- analyze ------------------------------------------------------------------------------------------------------


@cli.command()
@CONFIG_OPTION
@click.argument("captures", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="1 行 1 アラートの JSON / one JSON object per alert per line.")
@click.option("--no-store", is_flag=True, help="データベースに保存しない / do not save the alerts in the database.")
@click.option(
    "--act", is_flag=True, help="設定の通知・対応アクションを実行する / run the configured actions on the alerts found."
)
@LANG_OPTION
def analyze(config: Path, captures: tuple[Path, ...], as_json: bool, no_store: bool, act: bool, lang: str) -> None:
    """キャプチャファイルを解析する / Run the detectors over pcap/pcapng files and print the alerts."""
    settings = load_or_exit(config)
    from mamori.runtime import analyze_captures

    store = None
    writer = None
    if not no_store:
        from mamori.storage import AlertWriter, Store

        store = Store(settings.database_path)
        writer = AlertWriter(store, interval=settings.storage.batch_interval, origin="analyze")
    settings = with_ledger(settings, store)  # the settings file's terminals plus the ledger's
    progress_cb, finish = _progress(captures)
    try:
        result = analyze_captures(
            settings, list(captures), progress=progress_cb, on_changes=writer.submit if writer else None
        )
    finally:
        finish()
        if writer is not None:
            writer.flush()
            writer.close()
    for warning in result.warnings:
        click.echo(click.style("warning: ", fg="yellow") + warning, err=True)
    for failure in result.failed:
        click.echo(click.style("error: ", fg="red") + failure, err=True)
    if writer is not None and writer.last_error:
        click.echo(click.style("error: ", fg="red") + writer.last_error, err=True)
    _print_alerts(result.alerts, as_json=as_json, lang=lang)
    failed_actions = _act_on(settings, result.alerts) if act else 0
    if result.failed or (writer is not None and writer.last_error) or failed_actions:
        sys.exit(EXIT_PROBLEM)


def _act_on(settings: Settings, alerts: Sequence[Alert]) -> int:
    """Run the configured actions on alerts found in old captures (only with --act). Returns failed deliveries."""
    from mamori.runtime.responses import build_dispatcher
    from mamori.storage import Store

    if not settings.actions:
        click.echo("warning: --act: no actions in the settings file / 設定にアクションがありません", err=True)
        return 0
    store = Store(settings.database_path)
    records: list[Delivery] = []

    def record(deliveries: list[Delivery]) -> None:
        records.extend(deliveries)
        store.record_deliveries(deliveries)

    dispatcher = build_dispatcher(settings, record, heartbeat=False)
    if dispatcher is None:
        return 0
    dispatcher.submit(alerts)
    dispatcher.close(timeout=_ACT_TIMEOUT)
    failed = 0
    for d in records:
        if d.final:
            state = "ok" if d.ok else "FAILED"
            click.echo(
                f"action {d.action} ({d.action_type}) {state} after {d.attempt} attempt(s): {d.detail}", err=True
            )
            failed += not d.ok
    return failed


def _progress(captures: Sequence[Path]) -> tuple[Any, Any]:
    """A progress bar on a terminal for long files; nothing otherwise."""
    sizes = []
    for path in captures:
        try:
            sizes.append(path.stat().st_size)
        except OSError:
            sizes.append(0)
    total = sum(sizes)
    if not sys.stderr.isatty() or total < 32 * 1024 * 1024:
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("解析中 / analysing", total=total)
    bar.start()
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]

    def update(index: int, path: Path, done: int, size: int) -> None:
        bar.update(task, completed=offsets[index] + min(done, size), description=path.name)

    return update, bar.stop


# -- watch --------------------------------------------------------------------------------------------------------


@cli.command()
@CONFIG_OPTION
@click.option(
    "--interface",
    "-i",
    "interfaces",
    multiple=True,
    help="監視するインタフェース（複数可、設定より優先） / capture on this interface (repeatable).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="アラートの更新を JSON で出力 / print alert updates as JSON lines."
)
@LANG_OPTION
def watch(config: Path, interfaces: tuple[str, ...], as_json: bool, lang: str) -> None:
    """ライブで監視する / Run the live sensor in the foreground until SIGINT/SIGTERM."""
    settings = load_or_exit(config)
    from mamori.runtime import Sensor
    from mamori.storage import Store

    store = Store(settings.database_path)  # the sensor adds the ledger's terminals, and follows its changes
    printed: set[str] = set()

    def on_alerts(alerts: list[Alert]) -> None:
        from mamori.reports import alert_line, alert_to_json

        for alert in alerts:
            if as_json:
                click.echo(alert_to_json(alert, samples=False))
            elif alert.uid not in printed:
                printed.add(alert.uid)
                click.echo(alert_line(alert, lang))
        sys.stdout.flush()

    capturing = bool(interfaces or settings.capture.interfaces)
    start_collector_process(settings, capturing=capturing, as_json=as_json, lang=lang)  # syslog: in its own process
    try:
        sensor = Sensor(settings, interfaces=list(interfaces) or None, store=store, on_alerts=on_alerts)
    except MamoriError as exc:
        fail(str(exc))
    restored = sensor.restore()
    if restored:
        log.info("continuing %d open alert(s) from before the restart", restored)
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        log.info("stopping on %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    log.info("mamori sensor started; alerts go to %s", settings.database_path)
    try:
        report = sensor.run(stop)
    except MamoriError as exc:
        fail(str(exc))
    for st in report.interfaces:
        log.info(
            "%s: %d packets matched the filter, %d decoded, %d malformed; kernel: %d received, %d dropped",
            st.name,
            st.matched,
            st.decoded,
            st.malformed,
            st.received,
            st.dropped,
        )
    log.info("%d observations analysed, %d alert updates written", report.observations, report.alerts_written)


# -- alerts -------------------------------------------------------------------------------------------------------


def _parse_time(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date or time (e.g. 2026-11-23 or 2026-11-23T09:00)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return parsed.timestamp()


@cli.command()
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="1 行 1 アラートの JSON / one JSON object per alert per line.")
@click.option("--rule", help="このルールのみ / only this rule (e.g. unregistered-terminal).")
@click.option("--system", help="この部門システムのみ / only this department system.")
@click.option(
    "--min-severity",
    type=click.Choice([s.label for s in Severity]),
    help="この重大度以上 / only this severity or above.",
)
@click.option("--since", help="この日時以降 / active since (ISO 8601; local time unless an offset is given).")
@click.option("--until", help="この日時以前 / started before (ISO 8601).")
@click.option("--limit", type=int, help="新しい順に N 件 / only the newest N.")
@LANG_OPTION
def alerts(  # one parameter per command-line option
    config: Path,
    as_json: bool,
    rule: str | None,
    system: str | None,
    min_severity: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
    lang: str,
) -> None:
    """保存されたアラートを表示する / List stored alerts."""
    settings = load_or_exit(config)
    from mamori.storage import AlertFilter, Store, check_database_path

    _known_rule(rule)
    check_database_path(settings.database_path)  # "no alerts" only from a database that could hold some
    store = Store(settings.database_path) if settings.database_path.exists() else None
    _known_system(settings, system, store)
    if store is None:
        _print_alerts([], as_json=as_json, lang=lang)
        return
    flt = AlertFilter(
        rule=rule,
        system=system,
        min_severity=Severity.parse(min_severity) if min_severity else None,
        since=_parse_time(since),
        until=_parse_time(until),
        limit=limit,
    )
    _print_alerts(store.alerts(flt), as_json=as_json, lang=lang)


def _known_rule(rule: str | None) -> None:
    """A rule the filter could ever match, else an error listing the rules."""
    from mamori.rules import catalogue

    if rule is not None and rule not in catalogue():
        known = ", ".join(catalogue().ids())
        raise click.BadParameter(
            f"ルール {rule!r} はありません。あるもの: {known} / unknown rule {rule!r}; known: {known}",
            param_hint="--rule",
        )


def _known_system(settings: Settings, system: str | None, store: Any) -> None:
    """A system of the settings file, or one that stored alerts name (a system since renamed or removed)."""
    if system is None or any(s.name == system for s in settings.site.systems):
        return
    if store is not None:
        from mamori.storage import AlertFilter

        if store.alerts(AlertFilter(system=system, limit=1)):
            return
    known = ", ".join(s.name for s in settings.site.systems) or "(なし / none)"
    raise click.BadParameter(
        f"部門システム {system!r} はありません。あるもの: {known} / unknown system {system!r}; known: {known}",
        param_hint="--system",
    )


# -- deliveries -----------------------------------------------------------------------------------------------


@cli.command()
@CONFIG_OPTION
@click.option("--alert", "alert_uid", help="この アラート（uid）のみ / only the deliveries of this alert (uid).")
@click.option("--limit", type=int, default=200, show_default=True, help="新しい順に N 件 / the newest N.")
@click.option("--json", "as_json", is_flag=True, help="1 行 1 件の JSON / one JSON object per line.")
def deliveries(config: Path, alert_uid: str | None, limit: int, as_json: bool) -> None:
    """通知・対応アクションの実行記録 / The record of every delivery attempt of the actions."""
    settings = load_or_exit(config)
    from mamori.storage import Store, check_database_path

    check_database_path(settings.database_path)
    if not settings.database_path.exists():
        click.echo("記録はありません / no deliveries")
        return
    from mamori.config import redact_secrets

    rows = [
        dataclasses.replace(d, detail=redact_secrets(d.detail, settings.actions))  # older records may quote a URL
        for d in Store(settings.database_path).deliveries(alert_uid, limit=limit)
    ]
    if as_json:
        from mamori.model import iso_time

        for d in rows:
            click.echo(json.dumps({**dataclasses.asdict(d), "ts": iso_time(d.ts)}, ensure_ascii=False))
        return
    if not rows:
        click.echo("記録はありません / no deliveries")
        return
    from mamori.reports import local_time

    for d in rows:
        state = "ok" if d.ok else ("FAILED" if d.final else "failed, will retry")
        click.echo(
            f"{local_time(d.ts)} {d.action} ({d.action_type}) {d.event} alert={d.alert_uid} "
            f"attempt={d.attempt} {state}: {d.detail}"
        )


# -- demo ---------------------------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("mamori-demo"),
    show_default=True,
    help="デモの保存先 / where to write the demo site, captures and database.",
)
@click.option("--no-web", is_flag=True, help="ダッシュボードを起動しない / only analyse; do not start the dashboard.")
@click.option(
    "--listen", default="127.0.0.1:8080", show_default=True, help="ダッシュボードの待ち受け / dashboard address"
)
@LANG_OPTION
def demo(folder: Path, no_web: bool, listen: str, lang: str) -> None:
    """デモ病院で試す / Make a demo site and capture, analyse them into SQLite, and open the dashboard on them."""
    from mamori.demo import write_demo
    from mamori.runtime import analyze_captures
    from mamori.storage import AlertWriter, SensorHealth, Store

    if not no_web:
        _check_listen(listen)  # before anything is written or printed: a busy port fails now, with the fix
    site_file, captures = write_demo(folder)
    settings = load_or_exit(site_file)
    db = settings.database_path
    if db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    if not no_web:
        from mamori.web.setup import setup_django

        setup_django(settings)  # the dashboard's Django first: the store then shares its database connection
    store = Store(db)
    writer = AlertWriter(store, origin="analyze")
    result = analyze_captures(settings, captures, on_changes=writer.submit)
    writer.submit_health(
        [
            SensorHealth(
                f.name, "file", f.last_packet or 0.0, f.last_packet, f.matched, f.decoded, f.malformed, 0, 0, 0
            )
            for f in result.files
        ]
    )
    writer.flush()
    writer.close()
    click.echo(f"デモサイト / demo site: {site_file}")
    click.echo(f"キャプチャ / capture:   {', '.join(str(c) for c in captures)}")
    click.echo(f"データベース / database: {db}\n")
    _print_alerts(result.alerts, as_json=False, lang=lang)
    if no_web:
        click.echo(
            f"\n次に / next:\n  mamori alerts --config {site_file}\n  mamori web --config {site_file}\n"
            f"  sudo mamori watch --config {site_file} --interface <IF>"
        )
        return
    _demo_dashboard(settings, listen)


def _check_listen(listen: str) -> None:
    """The demo's address must be free: say so, and suggest a --listen that is."""
    from mamori.config.web import parse_listen
    from mamori.web.server import free_port_near, listen_problem

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    problem = listen_problem(host, port)
    if problem is None:
        return
    free = free_port_near(host, port)
    shown = f"[{host}]" if ":" in host else host
    example = f"{shown}:{free}" if free is not None else f"{shown}:PORT"
    fail(
        f"{problem}\n  別のアドレスを --listen で指定してください / choose another address with --listen:\n"
        f"  mamori demo --listen {example}"
    )


def _demo_dashboard(settings: Settings, listen: str) -> None:
    """Start the dashboard on the demo data with a demo administrator whose password is made now, at random."""
    import secrets

    from mamori.config.web import parse_listen
    from mamori.web.server import serve
    from mamori.web.setup import setup_django, wsgi_application

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    setup_django(settings)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    password = secrets.token_urlsafe(12)
    account = get_user_model().objects.create_user(username="demo", password=password)
    account.groups.add(Group.objects.get_or_create(name="admin")[0])
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"\nダッシュボード / dashboard: http://{shown}:{port}/\n"
        f"  ユーザー名 / user: demo\n"
        f"  パスワード / password: {password}   (このデモのために生成 / made for this demo)\n"
        "  終了するには Ctrl-C / Ctrl-C to stop"
    )
    try:
        serve(settings, wsgi_application(), listen=listen)
    except MamoriError as exc:
        fail(str(exc))


cli.add_command(check)
cli.add_command(rules)
cli.add_command(terminals)
cli.add_command(segments)
cli.add_command(web)
cli.add_command(user)
cli.add_command(learn)
cli.add_command(zabbix_template)
cli.add_command(evtx)
cli.add_command(collect)
cli.add_command(verify)
cli.add_command(logs)
cli.add_command(archive)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="mamori")
    except MamoriError as exc:  # a deliberate error (a database that cannot be used...): one line, not a traceback
        fail(str(exc))


if __name__ == "__main__":
    main()
