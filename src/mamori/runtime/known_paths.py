"""The new-path rule's memory wired to the store: loaded once when detection starts, saved on the writer's thread.

Detection never imports storage (docs/design.md §3); the detector only knows ``mamori.detection.paths.PathMemory``,
which this class is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from mamori.config import Settings
from mamori.errors import StorageError
from mamori.model import KnownPath
from mamori.storage import AlertStore, AlertWriter

__all__ = ["StoredPaths", "stored_paths"]

log = logging.getLogger(__name__)


class StoredPaths:
    def __init__(self, store: AlertStore, writer: AlertWriter | None, max_paths: int) -> None:
        self.store = store
        self.writer = writer
        self.max_paths = max_paths

    def load(self) -> tuple[float | None, Iterable[KnownPath]]:
        try:
            started, paths = self.store.load_paths()
        except StorageError as exc:
            log.error("%s (new paths are learned again from now on)", exc)
            return None, []
        if paths:
            log.info("new-path: %d known path(s) between segments", len(paths))
        return started, paths

    def save(self, learning_started: float | None, paths: Sequence[KnownPath]) -> None:
        if self.writer is not None:
            self.writer.submit_paths(learning_started, paths, max_paths=self.max_paths)
            return
        try:
            self.store.save_paths(learning_started, paths, max_paths=self.max_paths)
        except StorageError as exc:
            log.error("%s", exc)


def stored_paths(settings: Settings, store: AlertStore | None, writer: AlertWriter | None) -> StoredPaths | None:
    """The memory for a detector with a store (None without a store, or when neither zones nor new paths are on)."""
    if store is None or not settings.site.segments or not settings.detection.new_path.enabled:
        return None
    return StoredPaths(store, writer, settings.detection.new_path.max_paths)
