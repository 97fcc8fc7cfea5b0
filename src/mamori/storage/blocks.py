"""The block book in the database (``mamori_block``): what the sensor's block manager made and lifted, what the
dashboard lists, and the release requests the dashboard and the terminal ledger leave for the sensor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from mamori.blocking import ACTIVE_STATES, BlockRecord
from mamori.errors import StorageError
from mamori.storage.store import Store

__all__ = ["BlockTable"]

_TIMES = ("created_at", "release_at", "released_at", "release_requested_at")
_FIELDS = (
    "method",
    "action",
    "alert_uid",
    "rule",
    "mac",
    "ip",
    "state",
    "place",
    "port_name",
    "port_descr",
    "reason",
    "detail",
    "released_by",
    "release_requested_by",
)


def _utc(ts: float | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def _record(row: Any) -> BlockRecord:
    values: dict[str, Any] = {name: getattr(row, name) for name in _FIELDS}
    for name in _TIMES:
        value = getattr(row, name)
        values[name] = value.timestamp() if value is not None else None
    return BlockRecord(id=row.block_id, restore=dict(row.restore or {}), **values)


class BlockTable:
    """:class:`mamori.blocking.BlockBook` on a store, plus what the dashboard and the reports ask."""

    def __init__(self, store: Store) -> None:
        from mamori.storage.models import BlockRow

        self.store = store
        self.alias = store.alias
        self._Row = BlockRow

    def _rows(self) -> Any:
        return self._Row.objects.using(self.alias)

    def save(self, record: BlockRecord) -> None:
        from django.db import DatabaseError

        values: dict[str, Any] = {name: getattr(record, name) for name in _FIELDS}
        values.update({name: _utc(getattr(record, name)) for name in _TIMES})
        values["restore"] = dict(record.restore)
        values["ip"] = record.ip or None
        try:
            self._rows().update_or_create(block_id=record.id, defaults=values)
        except DatabaseError as exc:
            raise StorageError(f"cannot write the block {record.id} in {self.store.path}: {exc}") from exc

    def active(self) -> list[BlockRecord]:
        return [_record(r) for r in self._rows().filter(state__in=ACTIVE_STATES).order_by("created_at")]

    def release_requests(self) -> list[BlockRecord]:
        rows = self._rows().filter(state__in=ACTIVE_STATES, release_requested_at__isnull=False)
        return [_record(r) for r in rows.order_by("created_at")]

    def get(self, block_id: str) -> BlockRecord | None:
        row = self._rows().filter(block_id=block_id).first()
        return _record(row) if row is not None else None

    def recent(self, limit: int = 500) -> list[BlockRecord]:
        """The newest blocks of every state, newest first."""
        return [_record(r) for r in self._rows().order_by("-created_at")[:limit]]

    def between(self, since: float, until: float) -> list[BlockRecord]:
        """Blocks made, or released, within [since, until), oldest first (the monthly report)."""
        from django.db.models import Q

        start, end = _utc(since), _utc(until)
        made = Q(created_at__gte=start, created_at__lt=end)
        lifted = Q(released_at__gte=start, released_at__lt=end)
        rows = self._rows().filter(made | lifted).exclude(state="refused").order_by("created_at")
        return [_record(r) for r in rows]

    def request_release(self, block_id: str, by: str, now: float) -> BlockRecord | None:
        """Ask the sensor to lift one block (the dashboard's button); None when it is not in force."""
        updated = (
            self._rows()
            .filter(block_id=block_id, state__in=ACTIVE_STATES)
            .update(release_requested_at=_utc(now), release_requested_by=by[:150])
        )
        return self.get(block_id) if updated else None

    def request_release_of(self, macs: Iterable[str], by: str, now: float) -> int:
        """Ask the sensor to lift every block of these MACs (a terminal registered); returns how many."""
        wanted = sorted({m.lower() for m in macs if m})
        if not wanted:
            return 0
        rows = self._rows().filter(mac__in=wanted, state__in=ACTIVE_STATES, release_requested_at__isnull=True)
        return int(rows.update(release_requested_at=_utc(now), release_requested_by=by[:150]))
