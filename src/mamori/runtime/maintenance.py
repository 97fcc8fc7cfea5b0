"""Remote maintenance wired to the store: the work plans entered on the dashboard join the settings file's, and
sessions are recorded on the alert writer's thread (detection never imports storage, docs/design.md §3)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence

from mamori.errors import StorageError
from mamori.model import MaintenanceSession, Site
from mamori.storage import AlertWriter, SessionTable, Store, StoredPlan, WorkPlanTable

__all__ = ["StoredSessions", "merge_plans", "site_with_plans"]

log = logging.getLogger(__name__)


class StoredSessions:
    """The remote-maintenance detector's :class:`~mamori.detection.maintenance.SessionSink`."""

    def __init__(self, store: Store, writer: AlertWriter | None, origin: str = "sensor") -> None:
        self.store = store
        self.writer = writer
        self.origin = origin

    def save(self, sessions: Sequence[MaintenanceSession]) -> None:
        if self.writer is not None:
            self.writer.submit_sessions(sessions)
            return
        try:
            SessionTable(self.store).save(sessions, origin=self.origin)
        except StorageError as exc:
            log.error("%s", exc)


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
    if store is None or not site.vendors:
        return site
    try:
        return merge_plans(site, WorkPlanTable(store).all())
    except StorageError as exc:
        log.error("cannot read the dashboard's work plans (using the settings file's): %s", exc)
        return site


def plans_version(store: Store | None) -> tuple[int, int] | None:
    if store is None:
        return None
    try:
        return WorkPlanTable(store).version()
    except StorageError:
        return None
