"""Backup jobs' states and the restore tests recorded by hand, in the database; and the evidence for the Ministry's
checklist item 3-② read from them (docs/design.md §10).

The states are the latest check of each job (``mamori backups``, the sensor's schedule); the restore tests are kept
all, newest first. :meth:`BackupTable.posture` gathers what item 3-② asks (backups taken, several generations by
more than one method, the restore procedure confirmed) for the checklist report, which reads through storage only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from mamori.errors import StorageError
from mamori.model import BackupJob, BackupStatus, RestoreTest
from mamori.storage.store import Store

__all__ = ["BACKUP_RULES", "BackupPosture", "BackupTable"]

BACKUP_RULES = ("backup-missed", "backup-generations", "backup-deleted", "backup-offline-exposed")


def _utc(ts: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC) if ts is not None else None


def _ts(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


@dataclass(frozen=True)
class BackupPosture:
    """The evidence for checklist item 3-②, as of the jobs' latest checks.

    ``jobs`` declared; ``checked`` of them checked at least once; ``ok`` whose latest check found a recent success
    and the declared generations; ``methods`` the kinds of evidence (folder, restic, borg, wsb) with at least one
    job in order; ``generations`` the most generations any job keeps; ``offline`` whether some job declares an
    offline copy; ``last_restore`` the newest restore test recorded, if any."""

    jobs: int
    checked: int
    ok: int
    methods: tuple[str, ...]
    generations: int
    offline: bool
    statuses: tuple[BackupStatus, ...]
    last_restore: RestoreTest | None

    @property
    def several_generations_by_several_methods(self) -> bool:
        return len(self.methods) >= 2 and self.generations >= 2


class BackupTable:
    def __init__(self, store: Store) -> None:
        from mamori.storage.models import BackupStatusRecord, RestoreTestRecord

        self.store = store
        self.alias = store.alias
        self._Status = BackupStatusRecord
        self._Restore = RestoreTestRecord

    # -- states ---------------------------------------------------------------------------------------------------

    def save_statuses(self, statuses: Sequence[BackupStatus]) -> None:
        from django.db import DatabaseError, transaction

        try:
            with transaction.atomic(using=self.alias):
                manager = self._Status.objects.using(self.alias)
                for s in statuses:
                    manager.update_or_create(
                        job=s.job,
                        defaults={
                            "kind": s.kind,
                            "checked_at": _utc(s.checked_at),
                            "state": s.state,
                            "expected": s.expected,
                            "last_success": _utc(s.last_success),
                            "generations": s.generations,
                            "oldest": _utc(s.oldest),
                            "due_at": _utc(s.due_at),
                            "last_failure": _utc(s.last_failure),
                            "failure": s.failure[:200],
                            "error": s.error,
                            "skipped": s.skipped,
                            "source": s.source,
                        },
                    )
        except DatabaseError as exc:
            raise StorageError(f"cannot write the backup states to {self.store.path}: {exc}") from exc

    def statuses(self) -> dict[str, BackupStatus]:
        """The latest state of each job checked, by job name."""
        from django.db import DatabaseError

        try:
            rows = list(self._Status.objects.using(self.alias).all())
        except DatabaseError as exc:
            raise StorageError(f"cannot read the backup states in {self.store.path}: {exc}") from exc
        return {
            r.job: BackupStatus(
                job=r.job,
                kind=r.kind,
                checked_at=r.checked_at.timestamp(),
                state=r.state,
                expected=r.expected,
                last_success=_ts(r.last_success),
                generations=r.generations,
                oldest=_ts(r.oldest),
                due_at=_ts(r.due_at),
                last_failure=_ts(r.last_failure),
                failure=r.failure,
                error=r.error,
                skipped=r.skipped,
                source=r.source,
            )
            for r in rows
        }

    # -- restore tests ----------------------------------------------------------------------------------------------

    def add_restore_test(self, test: RestoreTest) -> None:
        from django.db import DatabaseError

        try:
            self._Restore.objects.using(self.alias).create(
                job=test.job,
                tested_on=dt.date.fromisoformat(test.tested_on),
                what=test.what,
                by=test.by,
                note=test.note,
                recorded_at=dt.datetime.fromtimestamp(test.recorded_at, tz=dt.UTC),
                recorded_by=test.recorded_by,
            )
        except DatabaseError as exc:
            raise StorageError(f"cannot record the restore test in {self.store.path}: {exc}") from exc

    def restore_tests(self, job: str | None = None, *, limit: int = 200) -> list[RestoreTest]:
        """Recorded restore tests, newest first."""
        from django.db import DatabaseError

        qs = self._Restore.objects.using(self.alias).all()
        if job is not None:
            qs = qs.filter(job=job)
        try:
            rows = list(qs.order_by("-tested_on", "-recorded_at")[:limit])
        except DatabaseError as exc:
            raise StorageError(f"cannot read the restore tests in {self.store.path}: {exc}") from exc
        return [
            RestoreTest(
                job=r.job,
                tested_on=r.tested_on.isoformat(),
                what=r.what,
                by=r.by,
                note=r.note,
                recorded_at=r.recorded_at.timestamp(),
                recorded_by=r.recorded_by,
            )
            for r in rows
        ]

    def last_restore_tests(self) -> dict[str, RestoreTest]:
        """The newest restore test of each job."""
        out: dict[str, RestoreTest] = {}
        for test in self.restore_tests(limit=10_000):
            out.setdefault(test.job, test)
        return out

    # -- checklist 3-② --------------------------------------------------------------------------------------------

    def posture(self, jobs: Sequence[BackupJob]) -> BackupPosture:
        """What the checklist's item 3-② needs, for the declared ``jobs`` (states of jobs no longer declared are
        left out)."""
        names = {j.name for j in jobs}
        statuses = {name: s for name, s in self.statuses().items() if name in names}
        ok = [s for s in statuses.values() if s.state == "ok"]
        tests = [t for t in self.restore_tests(limit=1_000) if t.job in names]
        return BackupPosture(
            jobs=len(jobs),
            checked=len(statuses),
            ok=len(ok),
            methods=tuple(sorted({s.kind for s in ok})),
            generations=max((s.generations or 0 for s in ok), default=0),
            offline=any(j.offline is not None or j.immutable for j in jobs),
            statuses=tuple(statuses[j.name] for j in jobs if j.name in statuses),
            last_restore=tests[0] if tests else None,
        )
