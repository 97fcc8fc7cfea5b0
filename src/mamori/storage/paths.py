"""The known paths of the new-path rule in the database, so that a path known before a restart stays known.

Several processes may write them (the packet sensor and the log collector): a save merges with what is stored,
keeping the earliest first-seen, the latest last-seen and the first connection recorded. The table is bounded: past
``max_paths`` rows the paths unseen for longest are deleted, as the detector forgets them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from mamori.errors import StorageError
from mamori.model import KnownPath
from mamori.storage.store import Store

__all__ = ["NEW_PATH", "KnownPathTable"]

NEW_PATH = "new-path"
_CHUNK = 500


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


class KnownPathTable:
    def __init__(self, store: Store) -> None:
        from mamori.storage.models import KnownPathRecord, LearningStart

        self.store = store
        self.alias = store.alias
        self._Path = KnownPathRecord
        self._Start = LearningStart

    def load(self) -> tuple[float | None, list[KnownPath]]:
        """When learning started (None: not yet) and every known path."""
        from django.db import DatabaseError

        try:
            start = self._Start.objects.using(self.alias).filter(rule=NEW_PATH).first()
            rows = (
                self._Path.objects.using(self.alias)
                .values_list(
                    "src_segment", "dst_segment", "proto", "port", "first_seen", "last_seen", "src_ip", "dst_ip"
                )
                .iterator(chunk_size=10_000)
            )
            paths = [
                KnownPath(s, d, p, n, f.timestamp(), last.timestamp(), si, di) for s, d, p, n, f, last, si, di in rows
            ]
        except DatabaseError as exc:
            raise StorageError(f"cannot read the known paths in {self.store.path}: {exc}") from exc
        return (start.started_at.timestamp() if start is not None else None), paths

    def save(self, learning_started: float | None, paths: Sequence[KnownPath], *, max_paths: int | None = None) -> None:
        """Merge ``paths`` into the table (one transaction) and keep it within ``max_paths`` rows."""
        from django.db import DatabaseError, transaction

        try:
            with transaction.atomic(using=self.alias):
                if learning_started is not None:
                    self._start(learning_started)
                for begin in range(0, len(paths), _CHUNK):
                    self._merge(paths[begin : begin + _CHUNK])
                if max_paths is not None and paths:
                    self._bound(max_paths)
        except DatabaseError as exc:
            raise StorageError(f"cannot write the known paths in {self.store.path}: {exc}") from exc

    def _start(self, started: float) -> None:
        manager = self._Start.objects.using(self.alias)
        row = manager.filter(rule=NEW_PATH).first()
        if row is None:
            manager.create(rule=NEW_PATH, started_at=_utc(started))
        elif row.started_at.timestamp() > started:
            row.started_at = _utc(started)
            row.save(using=self.alias, update_fields=["started_at"])

    def _merge(self, paths: Sequence[KnownPath]) -> None:
        manager = self._Path.objects.using(self.alias)
        latest: dict[tuple[str, str, str, int], KnownPath] = {}
        for path in paths:
            latest[(path.src_segment, path.dst_segment, path.proto, path.port)] = path
        existing = {
            (r.src_segment, r.dst_segment, r.proto, r.port): r
            for r in manager.filter(
                src_segment__in={k[0] for k in latest},
                dst_segment__in={k[1] for k in latest},
                port__in={k[3] for k in latest},
            )
        }
        new_rows = []
        changed = []
        for key, path in latest.items():
            row = existing.get(key)
            if row is None:
                new_rows.append(
                    self._Path(
                        src_segment=path.src_segment,
                        dst_segment=path.dst_segment,
                        proto=path.proto,
                        port=path.port,
                        first_seen=_utc(path.first_seen),
                        last_seen=_utc(path.last_seen),
                        src_ip=path.src_ip,
                        dst_ip=path.dst_ip,
                    )
                )
                continue
            row.first_seen = min(row.first_seen, _utc(path.first_seen))
            row.last_seen = max(row.last_seen, _utc(path.last_seen))
            if not row.src_ip and path.src_ip:
                row.src_ip, row.dst_ip = path.src_ip, path.dst_ip
            changed.append(row)
        manager.bulk_create(new_rows, batch_size=_CHUNK)
        manager.bulk_update(changed, ["first_seen", "last_seen", "src_ip", "dst_ip"], batch_size=_CHUNK)

    def _bound(self, max_paths: int) -> None:
        manager = self._Path.objects.using(self.alias)
        excess = manager.count() - max_paths
        if excess > 0:
            oldest = list(manager.order_by("last_seen", "id").values_list("id", flat=True)[:excess])
            for begin in range(0, len(oldest), _CHUNK):
                manager.filter(id__in=oldest[begin : begin + _CHUNK]).delete()
