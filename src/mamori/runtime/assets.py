"""The asset ledger's sightings wired to the store: the engine's device book hands over the devices that changed,
the alert writer merges them on its own thread (detection never imports storage, docs/design.md §3)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mamori.errors import StorageError
from mamori.model import DeviceSighting

if TYPE_CHECKING:  # given by the caller; analyze --no-store never loads Django
    from mamori.storage import AlertWriter, Store

__all__ = ["StoredDevices"]

log = logging.getLogger(__name__)


class StoredDevices:
    """A :class:`mamori.detection.devices.DeviceMemory`: through the writer when there is one, else directly."""

    def __init__(self, store: Store, writer: AlertWriter | None) -> None:
        self.store = store
        self.writer = writer

    def save(self, devices: Sequence[DeviceSighting]) -> None:
        if self.writer is not None:
            self.writer.submit_devices(devices)
            return
        try:
            from mamori.storage import AssetTable

            AssetTable(self.store).save(devices)
        except StorageError as exc:
            log.error("%s", exc)
