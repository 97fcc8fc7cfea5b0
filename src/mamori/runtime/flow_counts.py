"""The zone detector's hourly counts of flows between segments, wired to the store (saved on the writer's thread).

Detection never imports storage (docs/design.md §3); the detector only knows ``mamori.detection.flows.FlowSink``,
which this class is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mamori.config import Settings
from mamori.errors import StorageError
from mamori.model import FlowCount
from mamori.storage import AlertWriter, FlowTable, Store

__all__ = ["StoredFlows", "stored_flows"]

log = logging.getLogger(__name__)


class StoredFlows:
    def __init__(self, store: Store, writer: AlertWriter | None) -> None:
        self.store = store
        self.writer = writer

    def save(self, flows: Sequence[FlowCount]) -> None:
        if self.writer is not None:
            self.writer.submit_flows(flows)
            return
        try:
            FlowTable(self.store).add(flows)
        except StorageError as exc:
            log.error("%s", exc)


def stored_flows(settings: Settings, store: Store | None, writer: AlertWriter | None) -> StoredFlows | None:
    """The sink for a detector with a store (None without a store or without segments)."""
    if store is None or not settings.site.segments:
        return None
    return StoredFlows(store, writer)
