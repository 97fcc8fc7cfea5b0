"""Checking the backup jobs: read each job's evidence, judge it, keep the states and the alerts.

``BackupRun.check`` reads every job now (a folder, a restic or borg repository, Windows Server Backup's events),
runs the checker (``backup-missed``, ``backup-generations``) and the ``backup-deleted`` rule over the job's event
logs, and stores the states. ``mamori backups`` calls it once; the live sensor through :class:`BackupSchedule`, on
its own thread every ``interval`` seconds of the injected clock (reading a repository takes seconds; capture must
not wait). Both continue the open alerts of earlier checks from the store (one state, one alert).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mamori.config import Settings
from mamori.detection.backups import CHECKED_RULES, BackupChecker
from mamori.detection.book import AlertBook
from mamori.detection.windows.engine import WindowsEngine
from mamori.errors import StorageError
from mamori.ingest.backups import RepositoryTool, read_borg, read_folder, read_restic, wsb_evidence
from mamori.ingest.files import expand_paths, open_log
from mamori.model import Alert, BackupEvidence, BackupJob, BackupStatus, Clock, SystemClock, WindowsEvent
from mamori.storage import Store
from mamori.storage.backups import BackupTable

__all__ = ["BackupReport", "BackupRun", "BackupSchedule"]

log = logging.getLogger(__name__)

_DELETED = "backup-deleted"
_RESTORE_HORIZON = 400 * 86400.0  # a missed backup's alert is updated at every check; a year covers any schedule
_WSB_IDS = frozenset({4, 524, 4688, 1} | {5, 8, 9, 17, 18, 19, 20, 21, 22, 25, 50, 517, 518, 521, 527, 528})
_WSB_IDS = _WSB_IDS | frozenset({544, 545, 546, 561, 564, 565})


@dataclass(frozen=True)
class BackupReport:
    statuses: tuple[BackupStatus, ...]
    alerts: list[Alert]  # created or changed by this check
    problems: tuple[str, ...] = ()  # files that could not be read, for the operator


@dataclass
class BackupRun:
    """The backup checks of one process: the jobs, the checker and its alert book, kept across checks."""

    settings: Settings
    store: Store | None = None
    clock: Clock = field(default_factory=SystemClock)
    environ: Mapping[str, str] = field(default_factory=dict)
    restic: str = "restic"
    borg: str = "borg"

    def __post_init__(self) -> None:
        self.jobs: tuple[BackupJob, ...] = self.settings.site.backups
        self.book = AlertBook()
        self.checker = BackupChecker(self.book)
        self.windows = WindowsEngine(self.settings.windows, rules=[_DELETED], clock=self.clock)
        self.since: dict[str, float] = {}  # per job: events up to this time were judged by an earlier check
        self._restored = False

    def restore(self) -> int:
        """The open backup alerts of earlier checks, and when each job was last checked."""
        self._restored = True
        if self.store is None:
            return 0
        try:
            alerts = self.store.recent_open_alerts(
                self.clock.now() - _RESTORE_HORIZON, rules=(*CHECKED_RULES, _DELETED)
            )
            for job, status in BackupTable(self.store).statuses().items():
                self.since.setdefault(job, status.checked_at)
        except StorageError as exc:
            log.error("cannot restore the open backup alerts: %s", exc)
            return 0
        n = self.checker.restore(a for a in alerts if a.rule in CHECKED_RULES)
        for alert in alerts:
            if alert.rule == _DELETED and alert.key in {j.computer.lower() for j in self.jobs}:
                self.windows.book.restore(alert)
                n += 1
        return n

    def check(self) -> BackupReport:
        """Check every job now; store the states (the alerts are the caller's to store and deliver)."""
        if not self._restored:
            self.restore()
        now = self.clock.now()
        statuses: list[BackupStatus] = []
        problems: list[str] = []
        for job in self.jobs:
            evidence = self.read(job, now, problems)
            statuses.append(self.checker.check(job, evidence, now))
            self.since[job.name] = now
        self.windows.tick(now)
        alerts = self.book.collect_changes() + self.windows.collect_changes()
        if self.store is not None and statuses:
            try:
                BackupTable(self.store).save_statuses(statuses)
            except StorageError as exc:
                problems.append(str(exc))
        return BackupReport(tuple(statuses), alerts, tuple(problems))

    def read(self, job: BackupJob, now: float, problems: list[str] | None = None) -> BackupEvidence:
        if job.kind == "folder":
            return read_folder(job, now)
        if job.kind == "restic":
            return read_restic(job, now, RepositoryTool(self.restic, environ=self.environ))
        if job.kind == "borg":
            return read_borg(job, now, RepositoryTool(self.borg, environ=self.environ))
        return self._read_wsb(job, now, problems if problems is not None else [])

    def _read_wsb(self, job: BackupJob, now: float, problems: list[str]) -> BackupEvidence:
        """Windows Server Backup's events of the job's computer in its log files; the deletions among them (524,
        process creations) newer than the previous check go to the backup-deleted rule."""
        files, missing = expand_paths([Path(p) for p in job.logs])
        problems.extend(missing)
        since = self.since.get(job.name)
        kept: list[WindowsEvent] = []
        unreadable = 0
        for path in files:
            reader = open_log(path, _WSB_IDS)
            for batch in reader.batches():
                for event in batch:
                    kept.append(event)
                    if since is None or event.ts > since:
                        self.windows.process(event)
            stats = reader.stats
            unreadable += stats.problem_count
            if stats.failed:
                problems.append(f"{path}: {stats.failed}")
            problems.extend(stats.warnings())
        why = ""
        if missing and not files:
            why = "ログのファイルが見つかりません / the log files were not found: " + "; ".join(missing)
        return wsb_evidence(job, now, kept, unreadable=unreadable, problem=why)


@dataclass
class BackupSchedule:
    """The sensor's backup checks: every ``interval`` seconds of ``clock``, on a thread of their own; the alerts
    they made are handed to ``deliver`` at the sensor's next ``poll`` (on the sensor's thread)."""

    run: BackupRun
    interval: float = 900.0
    next_at: float | None = None
    _thread: threading.Thread | None = None
    _done: list[BackupReport] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def poll(self, deliver: Callable[[list[Alert]], None]) -> bool:
        """Hand over finished checks' alerts; start a check when one is due and none runs. Whether one started."""
        with self._lock:
            done, self._done = self._done, []
        for report in done:
            if report.alerts:
                deliver(report.alerts)
        now = self.run.clock.now()
        if self._thread is not None and self._thread.is_alive():
            return False
        if self.next_at is not None and now < self.next_at:
            return False
        self.next_at = now + self.interval
        self._thread = threading.Thread(target=self._check, name="mamori-backups", daemon=True)
        self._thread.start()
        return True

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _check(self) -> None:
        try:
            report = self.run.check()
        except Exception:  # a check that fails is logged and tried again at the next interval; capture goes on
            log.exception("the backup check failed")
            return
        for problem in report.problems:
            log.warning("backup check: %s", problem)
        with self._lock:
            self._done.append(report)


def jobs_named(jobs: Sequence[BackupJob], name: str) -> BackupJob | None:
    return next((j for j in jobs if j.name == name), None)
