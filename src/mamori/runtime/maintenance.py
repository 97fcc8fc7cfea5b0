"""Remote maintenance wired to the store: the work plans entered on the dashboard join the settings file's, and
sessions are recorded on the alert writer's thread (detection never imports storage, docs/design.md §3)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mamori.errors import StorageError
from mamori.model import MaintenanceSession
from mamori.storage import AlertWriter, SessionTable, Store, WorkPlanTable
from mamori.storage.maintenance import site_with_plans

__all__ = ["StoredSessions", "plans_version", "site_with_plans"]

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


def plans_version(store: Store | None) -> tuple[int, int] | None:
    if store is None:
        return None
    try:
        return WorkPlanTable(store).version()
    except StorageError:
        return None
