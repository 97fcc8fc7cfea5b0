"""The hourly counts of connections between segments (the zone map and the dangerous-port matrix read them).

The detector's counts are added to the table (``INSERT ... ON CONFLICT DO UPDATE SET count = count + ...``, the
same statement on SQLite and PostgreSQL), so the packet sensor and the log collector can both write without a lost
update. The table is bounded: rows older than ``KEEP_DAYS`` are deleted, and past ``MAX_ROWS`` the oldest hours go.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from mamori.errors import StorageError
from mamori.model import FlowCount
from mamori.storage.store import Store

__all__ = ["KEEP_DAYS", "MAX_ROWS", "FlowTable"]

KEEP_DAYS = 400  # a year of monthly reports, and the same month of the year before
MAX_ROWS = 2_000_000
_CHUNK = 500
# Counts added to the row of their key, in one statement (SQLite 3.24+ and PostgreSQL read it alike).
_ADD = (
    'INSERT INTO mamori_flow_hour ("hour", "src_segment", "dst_segment", "proto", "port", "forbidden", "count", '
    '"blocked", "new") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) '
    'ON CONFLICT ("hour", "src_segment", "dst_segment", "proto", "port", "forbidden") DO UPDATE SET '
    '"count" = mamori_flow_hour."count" + excluded."count", '
    '"blocked" = mamori_flow_hour."blocked" + excluded."blocked", "new" = mamori_flow_hour."new" + excluded."new"'
)


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


class FlowTable:
    def __init__(self, store: Store) -> None:
        from mamori.storage.models import FlowHour

        self.store = store
        self.alias = store.alias
        self._Flow = FlowHour

    def add(self, flows: Sequence[FlowCount]) -> None:
        """Add ``flows`` to the stored counts (one transaction)."""
        from django.db import DatabaseError, connections, transaction

        if not flows:
            return
        connection = connections[self.alias]
        adapt = connection.ops.adapt_datetimefield_value
        merged: dict[tuple[float, str, str, str, int, bool], list[int]] = {}
        for f in flows:
            counts = merged.setdefault((f.hour, f.src_segment, f.dst_segment, f.proto, f.port, f.forbidden), [0, 0, 0])
            counts[0] += f.connections
            counts[1] += f.blocked
            counts[2] += f.new
        params = [(adapt(_utc(k[0])), *k[1:], *counts) for k, counts in merged.items()]
        try:
            with transaction.atomic(using=self.alias), connection.cursor() as cursor:
                for begin in range(0, len(params), _CHUNK):
                    cursor.executemany(_ADD, params[begin : begin + _CHUNK])
        except DatabaseError as exc:
            raise StorageError(f"cannot write the flows between segments in {self.store.path}: {exc}") from exc

    def totals(self, since: float, until: float) -> list[FlowCount]:
        """The counts of the hours that begin in [since, until), added up per (pair, protocol, port, verdict);
        ``hour`` is the first hour the flow was seen in the period."""
        from django.db import DatabaseError
        from django.db.models import Min, Sum

        try:
            rows = (
                self._Flow.objects.using(self.alias)
                .filter(hour__gte=_utc(since), hour__lt=_utc(until))
                .values("src_segment", "dst_segment", "proto", "port", "forbidden")
                .annotate(first=Min("hour"), n=Sum("count"), b=Sum("blocked"), new_n=Sum("new"))
                .order_by()
            )
            return [
                FlowCount(
                    r["first"].timestamp(),
                    r["src_segment"],
                    r["dst_segment"],
                    r["proto"],
                    r["port"],
                    r["forbidden"],
                    int(r["n"]),
                    int(r["b"]),
                    int(r["new_n"]),
                )
                for r in rows
            ]
        except DatabaseError as exc:
            raise StorageError(f"cannot read the flows between segments in {self.store.path}: {exc}") from exc

    def prune(self, now: float, *, keep_days: int = KEEP_DAYS, max_rows: int = MAX_ROWS) -> int:
        """Delete the rows older than ``keep_days``, then the oldest hours past ``max_rows``. Returns rows deleted."""
        from django.db import DatabaseError

        manager = self._Flow.objects.using(self.alias)
        try:
            deleted, _ = manager.filter(hour__lt=_utc(now - keep_days * 86400)).delete()
            excess = manager.count() - max_rows
            if excess > 0:
                cut = manager.order_by("hour").values_list("hour", flat=True)[excess - 1]
                more, _ = manager.filter(hour__lte=cut).delete()
                deleted += more
        except DatabaseError as exc:
            raise StorageError(f"cannot prune the flows between segments in {self.store.path}: {exc}") from exc
        return deleted
