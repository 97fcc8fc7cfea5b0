"""``mamori evtx``: Windows event logs (.evtx files and folders, forwarded JSON lines, exported XML) -> alerts,
a timeline and a logon summary."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mamori.ingest import ReadStats
    from mamori.runtime.windows_logs import WindowsAnalysis
    from mamori.storage import SensorHealth

__all__ = ["evtx"]

from mamori.cli.common import EXIT_PROBLEM
from mamori.cli.output import print_alerts, progress, stream_alerts

_TABLE_MAX = 2000  # more alerts than this are printed as lines, not as a table


@click.group()
def evtx() -> None:
    """Windows イベントログを解析する / Analyse Windows event logs (.evtx, forwarded JSON, XML)."""


_SIGMA = click.option(
    "--sigma",
    "sigma_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Sigma ルールのファイルかフォルダ（複数可） / Sigma rule file or folder (repeatable).",
)


def _settings(config: Path | None):  # type: ignore[no-untyped-def]  # Settings | None, imported lazily
    if config is None:
        return None
    from mamori.cli.common import load_or_exit

    return load_or_exit(config)


def _sigma(settings, extra: tuple[Path, ...]):  # type: ignore[no-untyped-def]
    from mamori.config.windows import WindowsSettings
    from mamori.runtime.windows_logs import load_sigma_for

    windows = settings.windows if settings is not None else WindowsSettings()
    base = Path(settings.source).parent if settings is not None else None
    rules = load_sigma_for(windows, base, extra)
    if rules is not None:
        for problem in rules.problems:
            click.echo(click.style("sigma: ", fg="yellow") + f"not evaluated: {problem}", err=True)
    return windows, rules


@evtx.command()
@click.option(
    "--config",
    "-c",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="設定ファイル（省略可: 許可する RDP 管理端末とアラートの保存先） / settings file (optional: the allowed RDP "
    "admin hosts, and where alerts are stored).",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="1 行 1 アラートの JSON / one JSON object per alert per line.")
@click.option(
    "--timeline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="重要なイベントの時系列を書き出す（.csv または .jsonl） / write a timeline of the relevant events.",
)
@click.option(
    "--logons",
    type=click.Path(path_type=Path, dir_okay=False),
    help="ログオンの一覧（誰が・どこへ・どこから・最初と最後）を書き出す（.csv / .jsonl） / write a logon summary.",
)
@_SIGMA
@click.option("--no-store", is_flag=True, help="データベースに保存しない / do not save the alerts in the database.")
@click.option(
    "--lang",
    type=click.Choice(["ja", "en"]),
    default="ja",
    show_default=True,
    help="Language of summaries / 表示言語",
)
def analyze(
    config: Path | None,
    paths: tuple[Path, ...],
    as_json: bool,
    timeline: Path | None,
    logons: Path | None,
    sigma_paths: tuple[Path, ...],
    no_store: bool,
    lang: str,
) -> None:
    """イベントログを解析してアラートを表示する / Run the Windows rules over event logs and print the alerts.

    PATH は .evtx ファイル、それを含むフォルダ、Winlogbeat / Elastic Agent / NXLog の JSON lines（.gz 可）、
    または wevtutil の XML です。 / PATH: .evtx files, folders holding them, JSON lines from Winlogbeat, Elastic
    Agent or NXLog (optionally gzip-compressed), or XML exported with wevtutil.
    """
    from mamori.ingest import expand_paths
    from mamori.runtime.windows_logs import TimelineSink, analyze_windows_logs

    settings = _settings(config)
    windows, rules = _sigma(settings, sigma_paths)
    writer = None
    site = settings.site if settings is not None else None
    sessions = None
    if settings is not None and not no_store:
        from mamori.cli.compose import open_store
        from mamori.runtime.maintenance import StoredSessions, site_with_plans
        from mamori.storage import AlertWriter

        store = open_store(settings.database_path, settings)
        writer = AlertWriter(store, interval=settings.storage.batch_interval, origin="evtx")
        site = site_with_plans(settings.site, store)  # the dashboard's work plans too
        sessions = StoredSessions(store, writer, origin="evtx")
    sink = TimelineSink(timeline) if timeline is not None else None
    files, missing = expand_paths(list(paths))  # the progress bar counts the files inside folders too
    for problem in missing:
        click.echo(click.style("error: ", fg="red") + problem, err=True)
    progress_cb, finish = progress(files)
    started = time.time()
    try:
        result = analyze_windows_logs(
            files,
            windows,
            sigma=rules,
            timeline=sink,
            logons=logons is not None,
            progress=progress_cb,
            on_changes=writer.submit if writer else None,
            exempt_hosts=settings.site.exempt_hosts if settings is not None else (),
            site=site,
            maintenance=settings.detection.remote_maintenance if settings is not None else None,
            sessions=sessions,
        )
        if writer is not None:
            writer.submit_health(_sources(result.files, started))
    finally:
        finish()
        if writer is not None:
            writer.flush()
            writer.close()
    store_error = writer.last_error if writer is not None else None
    _report(result, store_error=store_error, timeline=timeline, logons=logons, as_json=as_json, lang=lang)
    if missing or result.failed or store_error:
        sys.exit(EXIT_PROBLEM)


def _sources(files: list[ReadStats], started: float) -> list[SensorHealth]:
    """Each file read, for the dashboard's table of sources: records, events, problems, and in its error column
    why it could not be read or where it ends early."""
    from mamori.storage import SensorHealth

    def short(name: str) -> str:  # the whole path; the table holds 255 characters: the end of a long path says more
        name = os.path.abspath(name)
        return name if len(name) <= 255 else "…" + name[-254:]

    return [
        SensorHealth(
            name=short(f.name),
            kind=f.kind,
            started_at=started,
            last_packet=f.last_event,
            matched=f.decoded,
            decoded=f.decoded,
            malformed=f.problem_count,
            received=f.records,
            dropped=0,
            if_dropped=0,
            error=" ".join(text for text in (f.failed, f.ends_early) if text),
        )
        for f in files
    ]


def _report(  # one keyword per output of the command
    result: WindowsAnalysis,
    *,
    store_error: str | None,
    timeline: Path | None,
    logons: Path | None,
    as_json: bool,
    lang: str,
) -> None:
    """Problems and counts on stderr; the logon summary file; the alerts on stdout."""
    from mamori.runtime.windows_logs import LOGON_COLUMNS, RowWriter

    for warning in result.warnings:
        click.echo(click.style("warning: ", fg="yellow") + warning, err=True)
    for failure in result.failed + ([store_error] if store_error else []):
        click.echo(click.style("error: ", fg="red") + failure, err=True)
    if logons is not None:
        out = RowWriter(logons, LOGON_COLUMNS)
        for row in result.logons:
            out.write(row)
        out.close()
        click.echo(f"ログオン一覧 / logon summary: {logons} ({out.rows} rows)", err=True)
    if timeline is not None:
        click.echo(f"時系列 / timeline: {timeline} ({result.timeline_rows} events)", err=True)
    count, cut = result.alert_count, result.cut_short
    click.echo(
        f"{len(result.files)} files{f' ({cut} ending early)' if cut else ''}, {result.records:,} records, "
        f"{result.events:,} events examined, {count} alerts / ファイル {len(result.files)}"
        f"{f'（途中で終わるもの {cut}）' if cut else ''}、レコード {result.records:,}、アラート {count} 件",
        err=True,
    )
    if as_json or not sys.stdout.isatty() or count > _TABLE_MAX:
        stream_alerts(result.iter_alerts(), as_json=as_json, lang=lang)
    else:
        print_alerts(result.alerts, as_json=False, lang=lang)
    result.close()


@evtx.command()
@click.option(
    "--config", "-c", "config", type=click.Path(path_type=Path, dir_okay=False), help="設定ファイル / settings."
)
@_SIGMA
def rules(config: Path | None, sigma_paths: tuple[Path, ...]) -> None:
    """ルールの一覧と Sigma ルールの読み込み結果 / List the built-in rules and check Sigma rule files."""
    from mamori.detection.windows import REGISTRY

    settings = _settings(config)
    windows, loaded = _sigma(settings, sigma_paths)
    for name, cls in REGISTRY.items():
        state = "off" if name in windows.disabled_rules else "on"
        ids = ", ".join(str(i) for i in sorted(cls.event_ids))
        click.echo(f"{name:22} {state:3}  event ids: {ids}")
    if loaded is not None:
        click.echo(
            f"sigma: {loaded.files} files, {len(loaded.bases)} rules and {len(loaded.correlations)} correlations "
            f"evaluated, {len(loaded.problems)} not evaluated"
        )
        for base in loaded.bases:
            ids = "any" if base.event_ids is None else ", ".join(str(i) for i in sorted(base.event_ids))
            click.echo(f"  {base.severity.label:8} {base.title} (event ids: {ids})")
        for corr in loaded.correlations:
            click.echo(f"  {corr.severity.label:8} {corr.title} ({corr.kind}, {len(corr.rules)} rules)")
        if loaded.problems:
            sys.exit(EXIT_PROBLEM)
