"""``mamori backups``: check every backup job now, print its state and store the alerts; ``mamori backups
restore-test``: record a restore test done by hand."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mamori.cli.common import CONFIG_OPTION, LANG_OPTION, fail, load_or_exit, warn
from mamori.cli.compose import open_store
from mamori.escape import one_line
from mamori.model import RestoreTest, iso_time
from mamori.rules import render

if TYPE_CHECKING:
    from mamori.model import BackupJob
    from mamori.runtime.backups import BackupReport

__all__ = ["backups"]

_LABELS = {
    "kind": ("確認の方法", "Checked through"),
    "schedule": ("予定", "Schedule"),
    "what": ("対象", "What"),
    "where": ("場所", "Where"),
    "last_success": ("最後の成功", "Last success"),
    "generations": ("世代", "Generations"),
    "offline": ("オフラインのコピー", "Offline copy"),
    "restore_test": ("最後の復元テスト", "Last restore test"),
    "error": ("エラー", "Error"),
}


@click.group(invoke_without_command=True)
@click.option(
    "--config",
    "-c",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Settings file (YAML) / 設定ファイル",
)
@click.option("--json", "as_json", is_flag=True, help="JSON で出力 / print the states and alerts as JSON.")
@LANG_OPTION
@click.pass_context
def backups(ctx: click.Context, config: Path | None, as_json: bool, lang: str) -> None:
    """バックアップを今すぐ確認する / Check every backup job now, print its state and store the alerts."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        fail("--config が必要です / --config is required")
    settings = load_or_exit(config)
    if not settings.site.backups:
        fail(f"{config}: バックアップ（backups）が設定されていません / no backup jobs (backups) in the settings")
    from mamori.runtime.backups import BackupRun
    from mamori.storage import BackupTable

    store = open_store(settings.database_path)
    run = BackupRun(settings, store=store, environ=dict(os.environ))
    report = run.check()
    if report.alerts:
        store.upsert_alerts(report.alerts, origin="backups")
    tests = BackupTable(store).last_restore_tests()
    now = run.clock.now()
    for problem in report.problems:
        warn(one_line(problem, 500))
    if as_json:
        _print_json(report, tests, lang)
    else:
        _print_text(settings.site.backups, report, tests, now, lang)
    store.close()


def _print_text(
    jobs: tuple[BackupJob, ...], report: BackupReport, tests: dict[str, RestoreTest], now: float, lang: str
) -> None:
    from mamori.reports.backups import job_view

    statuses = {s.job: s for s in report.statuses}
    index = 0 if lang == "ja" else 1
    for job in jobs:
        view = job_view(job, statuses.get(job.name), tests.get(job.name), now, lang)
        mark = "✔" if view.state == "ok" else "✖"
        click.echo(f"{mark} {one_line(view.name, 200)}: {view.state_text}")
        values = dataclasses.asdict(view)
        values["last_success"] = (
            f"{view.last_success}（{view.last_success_age}）"
            if lang == "ja"
            else (f"{view.last_success} ({view.last_success_age})")
        )
        if view.restore_test != "–":
            values["restore_test"] = (
                f"{view.restore_test}（{view.restore_test_age}）"
                if lang == "ja"
                else (f"{view.restore_test} ({view.restore_test_age})")
            )
        for name, label in _LABELS.items():
            value = values.get(name) or ""
            if (value and value != "–") or name in ("last_success", "generations", "restore_test"):
                click.echo(f"    {label[index]}: {one_line(value or '–', 500)}")
    alerts = report.alerts
    if alerts:
        click.echo("")
        click.echo("アラート / alerts:" if lang == "ja" else "Alerts:")
        for alert in alerts:
            click.echo(f"  [{alert.severity.label}] {alert.rule}: {one_line(render.summary(alert, lang), 500)}")


def _print_json(report: BackupReport, tests: dict[str, RestoreTest], lang: str) -> None:
    def ts(value: float | None) -> str | None:
        return iso_time(value) if value is not None else None

    doc = {
        "jobs": [
            {
                **{k: v for k, v in dataclasses.asdict(s).items() if k not in ("checked_at", "last_success", "oldest")},
                "checked_at": ts(s.checked_at),
                "last_success": ts(s.last_success),
                "oldest": ts(s.oldest),
                "due_at": ts(s.due_at),
                "last_failure": ts(s.last_failure),
                "last_restore_test": dataclasses.asdict(tests[s.job]) if s.job in tests else None,
            }
            for s in report.statuses
        ],
        "alerts": [render.alert_to_dict(a) for a in report.alerts],
    }
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))


@backups.command("restore-test")
@CONFIG_OPTION
@click.option("--job", required=True, help="バックアップの名前 / the backup job's name.")
@click.option("--what", required=True, help="何を復元したか / what was restored.")
@click.option("--by", "by", required=True, help="誰が行ったか / who did it.")
@click.option("--date", "tested_on", help="行った日（YYYY-MM-DD、既定は今日） / the day (default: today).")
@click.option("--note", default="", help="メモ / a note.")
def restore_test(config: Path, job: str, what: str, by: str, tested_on: str | None, note: str) -> None:
    """復元テストを記録する / Record a restore test done by hand."""
    settings = load_or_exit(config)
    names = [j.name for j in settings.site.backups]
    if job not in names:
        known = ", ".join(names) or "–"
        fail(f"バックアップ {job!r} は設定にありません（あるもの: {known}） / no backup job {job!r} (known: {known})")
    day = tested_on or dt.date.today().isoformat()
    try:
        parsed = dt.date.fromisoformat(day)
    except ValueError:
        fail(f"--date は 2026-11-30 のように書いてください（{day!r}） / write --date as 2026-11-30, not {day!r}")
    if parsed > dt.date.today():
        fail("--date が未来の日付です / --date is in the future")
    for name, value in (("--what", what), ("--by", by)):
        if not value.strip():
            fail(f"{name} が空です / {name} is empty")
    from mamori.storage import BackupTable

    store = open_store(settings.database_path)
    BackupTable(store).add_restore_test(
        RestoreTest(
            job=job,
            tested_on=parsed.isoformat(),
            what=what.strip()[:500],
            by=by.strip()[:200],
            note=note.strip(),
            recorded_at=dt.datetime.now(tz=dt.UTC).timestamp(),
            recorded_by="cli",
        )
    )
    store.close()
    click.echo(f"記録しました / recorded: {one_line(job, 200)} {parsed.isoformat()}")
