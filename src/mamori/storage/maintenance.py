"""Remote-maintenance sessions and the work plans entered on the dashboard, in the database.

Sessions are upserted by uid (a session grows while it goes on). Work plans entered on the dashboard are one-off
windows; the settings file's plans stay in the file and are never copied here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mamori.errors import StorageError
from mamori.model import MaintenanceSession, Site, WorkPlan
from mamori.storage.store import Store

__all__ = ["SessionTable", "StoredPlan", "WorkPlanTable", "merge_plans", "site_with_plans"]

log = logging.getLogger(__name__)


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


_FIELDS = ("vendor", "source", "accounts", "targets", "ports", "via", "plan", "ticket", "differences", "off_plan")


class SessionTable:
    def __init__(self, store: Store) -> None:
        from mamori.storage.models import MaintenanceSessionRecord

        self.store = store
        self.alias = store.alias
        self._Row = MaintenanceSessionRecord

    def save(self, sessions: Sequence[MaintenanceSession], *, origin: str = "sensor") -> None:
        from django.db import DatabaseError, transaction

        try:
            with transaction.atomic(using=self.alias):
                for s in sessions:
                    values = {name: getattr(s, name) for name in _FIELDS}
                    values.update(
                        start=_utc(s.start),
                        end=_utc(s.end),
                        connections=s.connections,
                        alert_uid=s.alert_uid,
                        ended=s.ended,
                        origin=origin,
                    )
                    for name in ("accounts", "targets", "ports", "via", "differences", "off_plan"):
                        values[name] = list(values[name])
                    self._Row.objects.using(self.alias).update_or_create(uid=s.uid, defaults=values)
        except DatabaseError as exc:
            raise StorageError(f"cannot record remote-maintenance sessions in {self.store.path}: {exc}") from exc

    def between(self, since: float, until: float) -> list[MaintenanceSession]:
        """Sessions that started in [since, until), oldest first."""
        from django.db import DatabaseError

        try:
            rows = list(
                self._Row.objects.using(self.alias)
                .filter(start__gte=_utc(since), start__lt=_utc(until))
                .order_by("start", "id")
            )
        except DatabaseError as exc:
            raise StorageError(f"cannot read remote-maintenance sessions in {self.store.path}: {exc}") from exc
        return [
            MaintenanceSession(
                uid=r.uid,
                vendor=r.vendor,
                source=r.source,
                start=r.start.timestamp(),
                end=r.end.timestamp(),
                accounts=tuple(r.accounts),
                targets=tuple(r.targets),
                ports=tuple(int(p) for p in r.ports),
                via=tuple(r.via),
                plan=r.plan,
                ticket=r.ticket,
                differences=tuple(r.differences),
                off_plan=tuple(r.off_plan),
                connections=r.connections,
                alert_uid=r.alert_uid,
                ended=r.ended,
            )
            for r in rows
        ]


@dataclass(frozen=True)
class StoredPlan:
    """A work plan entered on the dashboard: the plan, its vendor, and who entered it when."""

    vendor: str
    plan: WorkPlan
    created_by: str
    created_at: float
    cancelled: bool


class WorkPlanTable:
    def __init__(self, store: Store) -> None:
        from mamori.storage.models import WorkPlanRecord

        self.store = store
        self.alias = store.alias
        self._Row = WorkPlanRecord

    def add(
        self,
        vendor: str,
        start: float,
        end: float,
        *,
        targets: Sequence[str] = (),
        ports: Sequence[int] = (),
        accounts: Sequence[str] = (),
        ticket: str = "",
        note: str = "",
        created_by: str = "",
    ) -> StoredPlan:
        from django.db import DatabaseError

        try:
            row = self._Row.objects.using(self.alias).create(
                vendor=vendor,
                start=_utc(start),
                end=_utc(end),
                targets=list(targets),
                ports=list(ports),
                accounts=list(accounts),
                ticket=ticket,
                note=note,
                created_by=created_by,
            )
        except DatabaseError as exc:
            raise StorageError(f"cannot record the work plan in {self.store.path}: {exc}") from exc
        return self._plan(row)

    def cancel(self, ident: int) -> StoredPlan | None:
        from django.db import DatabaseError

        try:
            row = self._Row.objects.using(self.alias).filter(id=ident).first()
            if row is None:
                return None
            row.cancelled = True
            row.save(using=self.alias, update_fields=["cancelled"])
        except DatabaseError as exc:
            raise StorageError(f"cannot cancel the work plan in {self.store.path}: {exc}") from exc
        return self._plan(row)

    def all(self, *, include_cancelled: bool = False) -> list[StoredPlan]:
        from django.db import DatabaseError

        try:
            rows = self._Row.objects.using(self.alias).order_by("start", "id")
            if not include_cancelled:
                rows = rows.filter(cancelled=False)
            return [self._plan(r) for r in rows]
        except DatabaseError as exc:
            raise StorageError(f"cannot read the work plans in {self.store.path}: {exc}") from exc

    def version(self) -> tuple[int, int]:
        """(plans, cancelled plans): changes when a plan is added or cancelled (the detectors pick it up)."""
        from django.db import DatabaseError

        try:
            rows = self._Row.objects.using(self.alias)
            return rows.count(), rows.filter(cancelled=True).count()
        except DatabaseError as exc:
            raise StorageError(f"cannot read the work plans in {self.store.path}: {exc}") from exc

    @staticmethod
    def _plan(r: Any) -> StoredPlan:
        plan = WorkPlan(
            ident=f"db:{r.id}",
            start=r.start.timestamp(),
            end=r.end.timestamp(),
            targets=tuple(r.targets),
            ports=tuple(int(p) for p in r.ports),
            accounts=tuple(r.accounts),
            ticket=r.ticket,
            note=r.note,
            origin="dashboard",
        )
        return StoredPlan(
            vendor=r.vendor,
            plan=plan,
            created_by=r.created_by,
            created_at=r.created_at.timestamp(),
            cancelled=r.cancelled,
        )


def merge_plans(site: Site, plans: Iterable[StoredPlan]) -> Site:
    """``site`` with the dashboard's (not cancelled) plans added to their vendors; a plan for a vendor the
    settings file does not name is left out with a warning."""
    by_vendor: dict[str, list[StoredPlan]] = {}
    for stored in plans:
        if not stored.cancelled:
            by_vendor.setdefault(stored.vendor, []).append(stored)
    known = {v.name for v in site.vendors}
    for name in sorted(set(by_vendor) - known):
        log.warning(
            "ダッシュボードの作業計画の業者 %r は設定ファイルにないため使いません / the dashboard's work plan for "
            "vendor %r is not used: the settings file does not name it",
            name,
            name,
        )
    if not by_vendor.keys() & known:
        return site
    vendors = tuple(
        dataclasses.replace(v, work_plans=v.work_plans + tuple(p.plan for p in by_vendor.get(v.name, ())))
        for v in site.vendors
    )
    return dataclasses.replace(site, vendors=vendors)


def site_with_plans(site: Site, store: Store | None) -> Site:
    """``site`` with the work plans entered on the dashboard (the settings file's site when they cannot be read)."""
    if store is None or not site.vendors:
        return site
    try:
        return merge_plans(site, WorkPlanTable(store).all())
    except StorageError as exc:
        log.error("cannot read the dashboard's work plans (using the settings file's): %s", exc)
        return site
