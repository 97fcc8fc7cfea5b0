"""``mamori doctor``: whether this box is ready, in Japanese and English, each problem with its fix
(docs/design.md §12)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mamori.cli.common import CONFIG_OPTION, fail, load_or_exit, warn
from mamori.config import Settings
from mamori.errors import MamoriError
from mamori.model import Alert

if TYPE_CHECKING:
    from mamori.runtime.doctor import Finding

__all__ = ["EXIT_NOT_READY", "doctor"]

EXIT_NOT_READY = 1  # a check found a problem

_MARK = {"ok": "OK", "problem": "問題 / PROBLEM", "warning": "注意 / WARNING", "skipped": "対象外 / SKIPPED"}


@click.command()
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="1 行 1 項目の JSON / one JSON object per finding per line.")
@click.option(
    "--seconds",
    type=click.FloatRange(0.5, 60),
    default=3.0,
    show_default=True,
    help="インタフェースで通信を見る秒数 / seconds of capture on each interface.",
)
@click.option("--max-offset", type=float, default=1.0, show_default=True, help="許容する時刻のずれ（秒） / seconds.")
@click.option(
    "--min-free-mb", type=int, default=512, show_default=True, help="常に残す空き（MiB） / free space always kept."
)
@click.option(
    "--no-record",
    is_flag=True,
    help="結果をデータベースに保存しない / do not store the findings (nor the self-check alert) in the database.",
)
@click.option(
    "--key-backed-up",
    "backed_up_to",
    metavar="WHERE",
    help="署名鍵を WHERE にバックアップしたと記録する / record that the signing key was copied to WHERE.",
)
def doctor(  # one parameter per command-line option
    config: Path,
    as_json: bool,
    seconds: float,
    max_offset: float,
    min_free_mb: int,
    no_record: bool,
    backed_up_to: str | None,
) -> None:
    """この機械の準備を点検する / Check that this box is ready (exit 1 on problems).

    \b
    インタフェースとサーバの通信、キャプチャの権限、時刻同期、保存期間に足りるディスクの空き、データベースと
    証跡アーカイブ（書き込みと検査）、署名鍵とそのバックアップ、ダッシュボード（TLS）、通知先（Zabbix・メール・
    Webhook）を調べ、問題ごとに直し方を示します。結果はダッシュボードの概要に表示され、問題があれば
    self-check アラートになります。 / Checks the interfaces and the servers' traffic, capture permission, time
    synchronisation, disk space for the archive's retention, the database and the archive (writable, verified),
    the signing key and its backup, the dashboard (TLS) and the notification endpoints; says how to fix each
    problem. The findings appear on the dashboard's overview; problems raise a self-check alert, sent through the
    configured actions.
    """
    from mamori.runtime.doctor import DoctorOptions, record_key_backup, run_doctor

    settings = load_or_exit(config)
    if backed_up_to is not None:
        from mamori.runtime.collector import key_path

        if settings.syslog is None:
            fail("syslog が設定されていないため署名鍵はありません / no signing key: syslog is not configured")
        try:
            record = record_key_backup(key_path(settings), backed_up_to)
        except OSError as exc:
            fail(f"記録できません / cannot record the key backup: {exc}")
        click.echo(f"記録しました / recorded: {record}", err=True)
    options = DoctorOptions(capture_seconds=seconds, max_offset=max_offset, min_free_bytes=min_free_mb * 1024 * 1024)
    findings = run_doctor(settings, options=options)
    for finding in findings:
        if as_json:
            click.echo(json.dumps(finding.as_dict(), ensure_ascii=False))
            continue
        where = f" [{finding.target}]" if finding.target else ""
        click.echo(f"{_MARK[finding.status]:>18}  {finding.check}{where}: {finding.found_ja} / {finding.found_en}")
        if finding.fix_ja:
            click.echo(f"{'':>18}  → {finding.fix_ja} / {finding.fix_en}")
    problems = sum(1 for f in findings if f.status == "problem")
    if not no_record:
        _record(settings, findings)
    if problems:
        click.echo(f"{problems} 件の問題があります / {problems} problem(s) found", err=True)
        sys.exit(EXIT_NOT_READY)
    click.echo("準備はできています / this box is ready", err=True)


def _record(settings: Settings, findings: list[Finding]) -> None:
    if not any(f.check == "database" and f.status == "ok" for f in findings):
        warn("データベースが使えないため結果を保存しません / the database is not usable: findings not stored")
        return
    from mamori.cli.compose import open_store
    from mamori.runtime.selfcheck import record_doctor

    try:
        store = open_store(settings.database_path)
        alert = record_doctor(store, findings, time.time())
    except MamoriError as exc:
        warn(f"結果を保存できません / cannot store the findings: {exc}")
        return
    if alert is not None:
        _notify(settings, store, alert)


_NOTIFY_TIMEOUT = 60.0  # seconds the configured actions get to deliver the self-check alert (retries included)


def _notify(settings: Settings, store: Any, alert: Alert) -> None:
    """Send the self-check alert through the configured actions (e-mail, Zabbix, syslog, webhook...), as the sensor
    sends its alerts: what was already delivered for it (an hourly timer continues one alert) is restored first, so
    an action that notifies only new or escalated alerts is not told again every hour."""
    from mamori.alerting import installed_action_types
    from mamori.runtime.responses import build_dispatcher

    try:
        dispatcher = build_dispatcher(
            settings, store.record_deliveries, heartbeat=False, action_types=installed_action_types()
        )
        if dispatcher is None:
            return
        dispatcher.restore(store.delivered([alert.uid]))
        dispatcher.submit([alert])
        dispatcher.close(timeout=_NOTIFY_TIMEOUT)
    except MamoriError as exc:
        warn(f"self-check アラートを通知できません / cannot send the self-check alert: {exc}")
