"""The sensor's outbox: what is still to be published to the central server (docs/design.md §10, central).

SQLite triggers (migration 0015) put one row per changed thing into ``mamori_outbox`` in the same transaction as the
change, whoever makes it (the alert writer, ``mamori analyze``, the dashboard's status changes, the ledger), while
the outbox is enabled. A newer change of a thing replaces its row with a higher id: the id is the message's
sequence and the payload is the thing's state when it is published. Rows are deleted when JetStream acknowledged
their message; a resend after a cut carries the same sequence, so JetStream's duplicate window drops it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mamori.errors import StorageError

if TYPE_CHECKING:
    from mamori.storage.store import Store

__all__ = ["KINDS", "Outbox", "OutboxItem", "OutboxStatus"]

KINDS = ("alert", "health", "terminal", "session")


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    kind: str
    ref: str
    data: dict[str, Any]  # the thing's row as it is now; {"deleted": True, ...} when it is gone


@dataclass(frozen=True)
class OutboxStatus:
    site: str
    box: str
    enabled: bool
    acked_seq: int
    published: int
    pending: int
    last_ack_at: float | None
    last_error: str


def _row(values: dict[str, Any]) -> dict[str, Any]:
    values.pop("id", None)
    return values


class Outbox:
    """The outbox of the sensor's store (SQLite)."""

    def __init__(self, store: Store) -> None:
        from mamori.storage.models import (
            AlertRecord,
            MaintenanceSessionRecord,
            OutboxEntry,
            OutboxState,
            SensorStatus,
            TerminalRecord,
        )

        self.store = store
        self.alias = store.alias
        self._Entry = OutboxEntry
        self._State = OutboxState
        self._sources: dict[str, tuple[Any, str]] = {
            "alert": (AlertRecord, "uid"),
            "health": (SensorStatus, "name"),
            "terminal": (TerminalRecord, "id"),
            "session": (MaintenanceSessionRecord, "uid"),
        }

    def _fail(self, what: str, exc: Exception) -> StorageError:
        return StorageError(f"cannot {what} the outbox in {self.store.path}: {exc}")

    def enable(self, site: str, *, backlog: bool = True) -> None:
        """Start recording changes for ``site``. With ``backlog``, every alert, source, terminal and session already
        stored is queued too (the central server then gets the sensor's whole history once)."""
        from django.db import DatabaseError, transaction

        try:
            with transaction.atomic(using=self.alias):
                state = self._State.objects.using(self.alias).order_by("id").first()
                was_enabled = state is not None and state.enabled
                if state is None:
                    state = self._State(site=site)
                state.site, state.enabled = site, True
                state.box = state.box or uuid.uuid4().hex
                state.save(using=self.alias)
                if backlog and not was_enabled:
                    entries = self._Entry.objects.using(self.alias)
                    for kind, (model, key) in self._sources.items():
                        refs = model.objects.using(self.alias).order_by("id").values_list(key, flat=True)
                        for start in range(0, len(refs), 1000):
                            chunk = [self._Entry(kind=kind, ref=str(r)) for r in refs[start : start + 1000]]
                            entries.bulk_create(chunk, ignore_conflicts=True)
        except DatabaseError as exc:
            raise self._fail("enable", exc) from exc

    def disable(self) -> None:
        from django.db import DatabaseError

        try:
            self._State.objects.using(self.alias).update(enabled=False)
        except DatabaseError as exc:
            raise self._fail("disable", exc) from exc

    def pending(self, limit: int = 256) -> list[OutboxItem]:
        """The oldest ``limit`` entries not yet acknowledged, each with its thing's state now."""
        from django.db import DatabaseError

        try:
            entries = list(
                self._Entry.objects.using(self.alias).order_by("id")[:limit].values_list("id", "kind", "ref")
            )
            items = []
            by_kind: dict[str, list[tuple[int, str]]] = {}
            for seq, kind, ref in entries:
                by_kind.setdefault(kind, []).append((seq, ref))
            for kind, pairs in by_kind.items():
                source = self._sources.get(kind)
                if source is None:
                    continue
                model, key = source
                refs = [int(r) if key == "id" else r for _, r in pairs]
                found = {
                    str(v[key]): v for v in model.objects.using(self.alias).filter(**{f"{key}__in": refs}).values()
                }
                for seq, ref in pairs:
                    data = found.get(ref)
                    local_id = found[ref]["id"] if data is not None else ref
                    payload: dict[str, Any] = {"deleted": True} if data is None else _row(dict(data))
                    if kind == "terminal":
                        payload["local_id"] = int(local_id)
                    items.append(OutboxItem(seq, kind, ref, payload))
            items.sort(key=lambda i: i.seq)
            return items
        except DatabaseError as exc:
            raise self._fail("read", exc) from exc

    def acknowledge(self, seqs: Sequence[int]) -> None:
        """JetStream stored these messages: forget their entries (an entry replaced since has a new sequence and
        stays)."""
        if not seqs:
            return
        from django.db import DatabaseError, transaction
        from django.db.models import F
        from django.db.models.functions import Greatest

        try:
            with transaction.atomic(using=self.alias):
                for start in range(0, len(seqs), 500):
                    self._Entry.objects.using(self.alias).filter(id__in=seqs[start : start + 500]).delete()
                self._State.objects.using(self.alias).update(
                    acked_seq=Greatest(F("acked_seq"), max(seqs)),
                    published=F("published") + len(seqs),
                    last_ack_at=dt.datetime.now(tz=dt.UTC),
                    last_error="",
                )
        except DatabaseError as exc:
            raise self._fail("update", exc) from exc

    def record_error(self, text: str) -> None:
        from django.db import DatabaseError

        try:
            self._State.objects.using(self.alias).update(last_error=text[:2000])
        except DatabaseError as exc:
            raise self._fail("update", exc) from exc

    def status(self) -> OutboxStatus | None:
        from django.db import DatabaseError

        try:
            state = self._State.objects.using(self.alias).order_by("id").first()
            if state is None:
                return None
            pending = self._Entry.objects.using(self.alias).count()
        except DatabaseError as exc:
            raise self._fail("read", exc) from exc
        return OutboxStatus(
            site=state.site,
            box=state.box,
            enabled=state.enabled,
            acked_seq=state.acked_seq,
            published=state.published,
            pending=pending,
            last_ack_at=state.last_ack_at.timestamp() if state.last_ack_at else None,
            last_error=state.last_error,
        )
