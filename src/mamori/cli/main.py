"""The ``mamori`` command: the group, the commands that find and list alerts (``analyze``, ``watch``, ``alerts``,
``deliveries``), and every other command from its own module. With the command modules, the only place that reads
argv and the environment; the parts are built in ``compose.py`` (docs/design.md §11). Nothing imports this module."""

from __future__ import annotations

import dataclasses
import gc
import importlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mamori.cli.common import CONFIG_OPTION, EXIT_PROBLEM, LANG_OPTION, fail, load_or_exit
from mamori.cli.compose import compose_sensor, existing_store, open_store, with_ledger
from mamori.cli.output import AlertPrinter, parse_time, print_alerts, progress
from mamori.config import Settings
from mamori.errors import MamoriError
from mamori.model import Alert, Delivery, Severity, Site

if TYPE_CHECKING:
    from mamori.storage import Store

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


# The other commands, each from its own module, imported only when it is the one run (or when --help lists them):
# start-up of `mamori analyze` must not pay for the dashboard, the Windows rules or the backup checks.
_LAZY_COMMANDS = {
    "checklist-answer": "checklist",
    "archive": "logs",
    "assets": "checklist",
    "backups": "backups",
    "central": "central",
    "check": "check",
    "checklist": "checklist",
    "collect": "logs",
    "demo": "demo",
    "doctor": "doctor",
    "evtx": "evtx",
    "incidents": "incidents",
    "inspection-pack": "checklist",
    "learn": "learn",
    "logs": "logs",
    "publish": "central",
    "sensor": "central",
    "rules": "rules",
    "scan": "scan",
    "segments": "segments",
    "terminals": "terminals",
    "upgrade": "upgrade",
    "user": "web",
    "vendors": "vendors",
    "verify": "logs",
    "web": "web",
    "zabbix-template": "zabbix",
}


class _LazyGroup(click.Group):
    """A group whose commands in ``_LAZY_COMMANDS`` are imported from ``mamori.cli.<module>`` when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in _LAZY_COMMANDS:
            return found
        module = importlib.import_module(f"mamori.cli.{_LAZY_COMMANDS[cmd_name]}")
        for value in vars(module).values():
            if isinstance(value, click.Command) and value.name == cmd_name:
                self.add_command(value)
                return value
        raise RuntimeError(f"mamori.cli.{_LAZY_COMMANDS[cmd_name]} has no command {cmd_name!r}")


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mamori")
@click.option("--verbose", "-v", is_flag=True, help="詳しいログ / debug logging.")
def cli(verbose: bool) -> None:
    """mamori (守り): 病院ネットワークのセキュリティ監視 / a security monitor for hospital networks."""
    _setup_logging(verbose)
    # The sensor allocates many small, long-lived objects; fewer, later collections keep the capture loop steady.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


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
    from mamori.runtime.assets import StoredDevices

    store = None
    writer = None
    flows = None
    if not no_store:
        from mamori.runtime.flow_counts import stored_flows
        from mamori.storage import AlertWriter

        store = open_store(settings.database_path, settings)
        writer = AlertWriter(store, interval=settings.storage.batch_interval, origin="analyze")
        flows = stored_flows(settings, store, writer)  # the zone map's counts of flows between segments

    def site() -> Site:  # the settings file's terminals plus the ledger's, read while the first capture is read
        return with_ledger(settings, store).site

    progress_cb, finish = progress(captures)
    try:
        from mamori.runtime.exposure import stored_services
        from mamori.runtime.lan import lan_storage

        salt, logins = lan_storage(settings, store, writer)
        gc.freeze()  # what the imports and the settings made lives until the end: no collection walks it again
        result = analyze_captures(
            settings,
            list(captures),
            site=site,
            progress=progress_cb,
            on_changes=writer.submit if writer else None,
            known_services=stored_services(settings, store, writer),
            flow_counts=flows,
            devices=StoredDevices(store, writer) if store is not None else None,  # the asset ledger (2-①)
            salt=salt,
            logins=logins,
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
    print_alerts(result.alerts, as_json=as_json, lang=lang)
    failed_actions = _act_on(settings, result.alerts, store) if act else 0
    if result.failed or (writer is not None and writer.last_error) or failed_actions:
        sys.exit(EXIT_PROBLEM)


def _act_on(settings: Settings, alerts: Sequence[Alert], store: Store | None) -> int:
    """Run the configured actions on alerts found in old captures (only with --act); the deliveries are recorded
    in the store (opened for them with --no-store). Returns failed deliveries."""
    from mamori.runtime.responses import build_dispatcher

    if not settings.actions:
        click.echo("warning: --act: no actions in the settings file / 設定にアクションがありません", err=True)
        return 0
    if store is None:
        store = open_store(settings.database_path)
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
    # the sensor adds the ledger's terminals, and follows its changes
    store = open_store(settings.database_path, settings)
    on_alerts = AlertPrinter(as_json, lang)
    capturing = bool(interfaces or settings.capture.interfaces)
    from mamori.cli.logs import start_collector_process

    start_collector_process(settings, capturing=capturing, as_json=as_json, lang=lang)  # syslog: in its own process
    try:
        sensor = compose_sensor(settings, store, interfaces=list(interfaces) or None, on_alerts=on_alerts)
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
    from mamori.storage import AlertFilter

    _known_rule(rule)
    store = existing_store(settings.database_path)  # "no alerts" only from a database that could hold some
    _known_system(settings, system, store)
    if store is None:
        print_alerts([], as_json=as_json, lang=lang)
        return
    flt = AlertFilter(
        rule=rule,
        system=system,
        min_severity=Severity.parse(min_severity) if min_severity else None,
        since=parse_time(since),
        until=parse_time(until),
        limit=limit,
    )
    print_alerts(store.alerts(flt), as_json=as_json, lang=lang)


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
    store = existing_store(settings.database_path)
    if store is None:
        click.echo("記録はありません / no deliveries")
        return
    from mamori.config import redact_secrets

    rows = [
        dataclasses.replace(d, detail=redact_secrets(d.detail, settings.actions))  # older records may quote a URL
        for d in store.deliveries(alert_uid, limit=limit)
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


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="mamori")
    except MamoriError as exc:  # a deliberate error (a database that cannot be used...): one line, not a traceback
        fail(str(exc))


if __name__ == "__main__":
    main()
