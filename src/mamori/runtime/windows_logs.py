"""Run the Windows rules over event log files (.evtx, forwarded JSON lines, exported XML): the alerts, a timeline
of the events that matter and a logon summary, in flat memory whatever the size of the input.

The timeline is sorted by time through a temporary SQLite file (its sorter spills to disk), so a timeline of
millions of events is written in order without being held in memory.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import sqlite3
import tempfile
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mamori import escape
from mamori.config import RemoteMaintenanceSettings
from mamori.config.windows import WindowsSettings
from mamori.detection.exempt import Exemptions
from mamori.detection.maintenance import SessionSink
from mamori.detection.windows import LogonSummary, SigmaRuleSet, WindowsEngine, load_sigma, timeline_row
from mamori.ingest import (
    EvtxFile,
    EvtxWorkers,
    ReadStats,
    WindowsLogFile,
    expand_paths,
    open_log,
    read_evtx_files,
)
from mamori.model import Alert, ExemptHost, Site, WindowsEvent

__all__ = [
    "LOGON_COLUMNS",
    "TIMELINE_COLUMNS",
    "AlertSpool",
    "RowWriter",
    "TimelineSink",
    "WindowsAnalysis",
    "analyze_windows_logs",
    "load_sigma_for",
]

# progress(file index, file path, bytes read, file size)
Progress = Callable[[int, Path, int, int], None]

TIMELINE_COLUMNS = (
    "time",
    "computer",
    "channel",
    "event_id",
    "record_id",
    "what_ja",
    "what_en",
    "user",
    "source",
    "logon_type",
    "rules",
    "detail",
    "file",
)
LOGON_COLUMNS = ("computer", "user", "source", "logon_type", "first", "last", "successes", "failures")
_COLLECT_EVERY = 65536  # events between hand-overs of changed alerts (to the store)


class RowWriter:
    """Rows to a CSV file (UTF-8 with BOM, so that Excel on a Japanese Windows reads it) or JSON lines, chosen by
    the file name: ``.csv`` or anything else (``.jsonl``)."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self.csv = self.path.suffix.lower() == ".csv"
        self._file: IO[str] = self.path.open("w", encoding="utf-8-sig" if self.csv else "utf-8", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="ignore") if self.csv else None
        if self._writer is not None:
            self._writer.writeheader()
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.writerow({k: escape.spreadsheet(row.get(k)) for k in self.columns})
        else:
            self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.rows += 1

    def close(self) -> None:
        self._file.close()


class TimelineSink:
    """Collects timeline rows in a temporary SQLite file and writes them sorted by time on ``close``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._tmp = tempfile.TemporaryDirectory(prefix="mamori-timeline-")
        self._db = sqlite3.connect(str(Path(self._tmp.name) / "timeline.db"))
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE rows (ts REAL, seq INTEGER, row TEXT)")
        self._seq = 0
        self.rows = 0

    def add(self, items: Sequence[tuple[WindowsEvent, tuple[str, ...]]]) -> None:
        if not items:
            return
        start = self._seq
        self._seq += len(items)
        self._db.executemany(
            "INSERT INTO rows VALUES (?, ?, ?)",
            (
                (event.ts, start + i, json.dumps(timeline_row(event, hits), ensure_ascii=False))
                for i, (event, hits) in enumerate(items)
            ),
        )
        self.rows += len(items)

    def close(self) -> int:
        """Write the file (sorted by time, then by reading order); returns the number of rows."""
        writer = RowWriter(self.path, TIMELINE_COLUMNS)
        try:
            for (text,) in self._db.execute("SELECT row FROM rows ORDER BY ts, seq"):
                writer.write(json.loads(text))
        finally:
            writer.close()
            self._db.close()
            self._tmp.cleanup()
        return writer.rows


class AlertSpool:
    """Alert snapshots by uid in a temporary SQLite file: a run that raises a hundred thousand alerts keeps none
    of them in memory; they are read back sorted by first time."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="mamori-alerts-")
        self._db = sqlite3.connect(str(Path(self._tmp.name) / "alerts.db"))
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE alerts (uid TEXT PRIMARY KEY, first REAL, rule TEXT, key TEXT, data BLOB)")

    def add(self, alerts: Sequence[Alert]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?)",
            ((a.uid, a.first_seen, a.rule, a.key, pickle.dumps(a, protocol=pickle.HIGHEST_PROTOCOL)) for a in alerts),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM alerts").fetchone()[0])

    def __iter__(self) -> Iterator[Alert]:
        for (data,) in self._db.execute("SELECT data FROM alerts ORDER BY first, rule, key"):
            yield pickle.loads(data)  # noqa: S301 - our own temporary file, written just above

    def close(self) -> None:
        self._db.close()
        self._tmp.cleanup()


@dataclass
class WindowsAnalysis:
    """What a run found. The alerts wait in a temporary file: iterate ``iter_alerts()``, then ``close()``."""

    spool: AlertSpool | None = None
    files: list[ReadStats] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # named paths that do not exist or hold no log files
    events: int = 0  # events the rules saw (after the event-id filter)
    timeline_rows: int = 0
    logons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def alert_count(self) -> int:
        return len(self.spool) if self.spool is not None else 0

    def iter_alerts(self) -> Iterator[Alert]:
        """Every alert (its latest state), sorted by first time."""
        return iter(self.spool) if self.spool is not None else iter(())

    @property
    def alerts(self) -> list[Alert]:
        """All alerts as a list (for small runs and tests; large runs should iterate ``iter_alerts``)."""
        return list(self.iter_alerts())

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    @property
    def failed(self) -> list[str]:
        return self.missing + [f"{f.name}: {f.failed}" for f in self.files if f.failed]

    @property
    def warnings(self) -> list[str]:
        return [w for f in self.files for w in f.warnings()]

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def cut_short(self) -> int:
        """Files that end early."""
        return sum(1 for f in self.files if f.cut is not None)


def load_sigma_for(settings: WindowsSettings, base: Path | None, extra: Sequence[Path] = ()) -> SigmaRuleSet | None:
    """The Sigma rules of the settings (relative to the settings file's folder) and of the command line."""
    paths = [p if p.is_absolute() or base is None else base / p for p in settings.sigma_rules] + list(extra)
    return load_sigma(paths) if paths else None


def _total_size(files: Sequence[Path]) -> int:
    total = 0
    for path in files:
        try:
            total += os.stat(path).st_size
        except OSError:
            continue
    return total


def _stream(
    sources: list[WindowsLogFile],
    parallel_min_bytes: int,
    pool: EvtxWorkers | None,
    keep: Callable[[WindowsEvent], bool] | None,
) -> Iterator[tuple[WindowsLogFile, list[WindowsEvent]]]:
    """.evtx files first (by the worker processes when large), then the JSON lines and XML files."""
    evtx = [s for s in sources if isinstance(s, EvtxFile)]
    yield from read_evtx_files(evtx, parallel_min_bytes=parallel_min_bytes, pool=pool, keep=keep)
    for source in sources:
        if not isinstance(source, EvtxFile):
            for batch in source.batches():
                yield source, batch


def analyze_windows_logs(
    paths: Sequence[Path],
    settings: WindowsSettings,
    *,
    sigma: SigmaRuleSet | None = None,
    timeline: TimelineSink | None = None,
    logons: bool = False,
    engine: WindowsEngine | None = None,
    progress: Progress | None = None,
    on_changes: Callable[[list[Alert]], None] | None = None,
    parallel_min_bytes: int = 4 * 1024 * 1024,
    exempt_hosts: tuple[ExemptHost, ...] = (),
    site: Site | None = None,
    maintenance: RemoteMaintenanceSettings | None = None,
    sessions: SessionSink | None = None,
) -> WindowsAnalysis:
    """Analyse every file (folders are searched) with one engine, so an attack spread over files is one alert.

    A file that cannot be read is reported and the others are still analysed; a damaged chunk or line is
    reported and skipped, and the rest of its file is read. .evtx files adding up to ``parallel_min_bytes`` are
    parsed by worker processes (see :func:`mamori.ingest.read_evtx_files`), started before the files are opened
    when the input is that large, so that they get going meanwhile. ``exempt_hosts`` (the site's) are left out of
    lateral movement.
    """
    summary = LogonSummary() if logons else None
    engine = engine or WindowsEngine(
        settings,
        sigma=sigma,
        timeline=timeline is not None,
        logons=summary,
        exempt=Exemptions(exempt_hosts),
        site=site,
        maintenance=maintenance,
        sessions=sessions,
    )
    tz = zoneinfo.ZoneInfo(settings.log_timezone) if settings.log_timezone else None
    wanted, handover = engine.wanted_event_ids(), engine.handover_filter()
    files, missing = expand_paths(paths)
    pool = EvtxWorkers.start(wanted, keep=handover) if _total_size(files) >= parallel_min_bytes else None
    try:
        sources = [open_log(p, wanted, tz=tz) for p in files]
        stream = _stream(sources, parallel_min_bytes, pool, handover)
        spool = AlertSpool()
        result = WindowsAnalysis(spool=spool, files=[s.stats for s in sources], missing=missing)
        return _analyze(stream, sources, result, spool, engine, summary, timeline, progress, on_changes)
    finally:
        if pool is not None:
            pool.stop()


def _analyze(
    stream: Iterator[tuple[WindowsLogFile, list[WindowsEvent]]],
    sources: list[WindowsLogFile],
    result: WindowsAnalysis,
    spool: AlertSpool,
    engine: WindowsEngine,
    summary: LogonSummary | None,
    timeline: TimelineSink | None,
    progress: Progress | None,
    on_changes: Callable[[list[Alert]], None] | None,
) -> WindowsAnalysis:
    """Feed the engine the stream's batches; hand the changed alerts on as they come (and into the spool)."""
    index_of = {id(s): i for i, s in enumerate(sources)}
    keep: list[tuple[WindowsEvent, tuple[str, ...]]] | None = [] if timeline is not None else None
    since_collect = 0
    for source, batch in stream:
        engine.feed(batch, keep)
        source.stats.last_event = batch[-1].ts
        if keep:
            timeline.add(keep)  # type: ignore[union-attr]
            keep.clear()
        if progress is not None:
            progress(index_of[id(source)], source.path, source.position(), source.size)
        since_collect += len(batch)
        if since_collect >= _COLLECT_EVERY:
            since_collect = 0
            changes = engine.collect_changes()
            if on_changes is not None:
                on_changes(changes)
            spool.add(changes)
    engine.finish()
    changes = engine.collect_changes()
    if on_changes is not None:
        on_changes(changes)
    spool.add(changes)
    result.events = engine.events
    if timeline is not None:
        result.timeline_rows = timeline.close()
    if summary is not None:
        result.logons = summary.rows()
    return result
