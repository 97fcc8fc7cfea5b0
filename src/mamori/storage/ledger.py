"""The terminal ledger (台帳) in the database: terminals imported from CSV, accepted from ``learn`` or added in the
dashboard, on top of the settings file's terminals.

A row is one terminal of one department system, identified by (system, MAC). A terminal behind a router is known
by its IP only (the frames carry the router's MAC): its ``mac`` is ``""`` in :class:`LedgerEntry` and NULL in the
table, where (system, IP) is unique among such rows. Retiring a terminal keeps its row (with ``retired_at``);
importing it again re-activates it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mamori.errors import StorageError

if TYPE_CHECKING:  # the store's modules load with the store: active_terminals_in needs only sqlite3
    from mamori.storage.models import TerminalRecord
    from mamori.storage.store import Store

__all__ = ["SOURCES", "ImportResult", "Ledger", "LedgerEntry", "active_terminals_in"]

SOURCES = ("import", "learn", "web")


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


@dataclass(frozen=True)
class LedgerEntry:
    """One terminal in the ledger. ``mac`` is ``""`` for a terminal known by IP only (behind a router); ``ip``
    None means any IP is accepted for the MAC. Times are POSIX seconds, None until stored."""

    system: str
    name: str
    mac: str
    ip: str | None = None
    note: str = ""
    source: str = "import"
    created_at: float | None = None
    updated_at: float | None = None
    retired_at: float | None = None

    @property
    def active(self) -> bool:
        return self.retired_at is None

    @property
    def key(self) -> tuple[str, str]:
        """What the table's uniqueness is about: (system, MAC), or (system, IP) for a terminal known by IP only."""
        return self.system, f"mac:{self.mac}" if self.mac else f"ip:{self.ip or ''}"


_ACTIVE_TERMINALS = (
    "SELECT system, name, mac, ip, note, source, created_at, updated_at FROM mamori_terminal "
    "WHERE retired_at IS NULL ORDER BY system, name, mac, id"
)


def _stored_time(text: str) -> float:
    """A time as Django's SQLite backend stores it (UTC, ``2026-11-23 10:00:00.123456``) -> POSIX seconds."""
    moment = dt.datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def active_terminals_in(path: Path) -> list[LedgerEntry] | None:
    """The active terminals of the ledger in the SQLite file ``path``, as :meth:`Ledger.terminals` gives them, read
    with one read-only query and the standard library: no Django, no migration. Commands that only read the
    ledger (``analyze --no-store``) start in about a fifth of a second less. None when the file cannot be read
    that way (not mamori's SQLite, an older layout, locked): open a :class:`Store` then, which says why."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except (sqlite3.Error, OSError, ValueError):
        return None
    try:
        return [
            LedgerEntry(system, name, mac or "", ip or None, note, source, _stored_time(made), _stored_time(changed))
            for system, name, mac, ip, note, source, made, changed in conn.execute(_ACTIVE_TERMINALS)
        ]
    except (sqlite3.Error, ValueError, TypeError):
        return None
    finally:
        conn.close()


@dataclass(frozen=True)
class ImportResult:
    """What an upsert did (or, for a dry run, would do)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    reactivated: int = 0

    @property
    def changed(self) -> int:
        return self.added + self.updated + self.reactivated


class Ledger:
    """The ledger table of one store. ``clock`` returns POSIX seconds (injected in tests)."""

    def __init__(self, store: Store, *, clock: Callable[[], float] | None = None) -> None:
        from mamori.storage.models import TerminalRecord

        self.store = store
        self.alias = store.alias
        self._clock = clock or time.time
        self._Terminal = TerminalRecord

    def terminals(self, include_retired: bool = False) -> list[LedgerEntry]:
        """The ledger's terminals ordered by system, name and MAC (active ones only unless asked)."""
        qs = self._Terminal.objects.using(self.alias).all()
        if not include_retired:
            qs = qs.filter(retired_at__isnull=True)
        return [self._entry(r) for r in qs.order_by("system", "name", "mac", "id")]

    @staticmethod
    def _entry(r: TerminalRecord) -> LedgerEntry:
        return LedgerEntry(
            system=r.system,
            name=r.name,
            mac=r.mac or "",
            ip=r.ip or None,
            note=r.note,
            source=r.source,
            created_at=r.created_at.timestamp(),
            updated_at=r.updated_at.timestamp(),
            retired_at=r.retired_at.timestamp() if r.retired_at else None,
        )

    def version(self) -> tuple[int, float]:
        """(rows, newest change): changes whenever a terminal is added, changed, retired or re-activated."""
        from django.db.models import Count, Max

        got = self._Terminal.objects.using(self.alias).aggregate(n=Count("id"), last=Max("updated_at"))
        last = got["last"]
        return int(got["n"] or 0), last.timestamp() if last is not None else 0.0

    def upsert(self, entries: Iterable[LedgerEntry], source: str, *, dry_run: bool = False) -> ImportResult:
        """Add new terminals, update changed ones, re-activate retired ones, all in one transaction.

        Terminals are matched by (system, MAC), or by (system, IP) for IP-only entries; when an entry appears
        twice the last one counts. ``dry_run`` counts what would change and writes nothing.
        """
        if source not in SOURCES:
            raise ValueError(f"unknown ledger source {source!r}; known: {', '.join(SOURCES)}")
        latest: dict[tuple[str, str], LedgerEntry] = {}
        for entry in entries:
            if not entry.mac and not entry.ip:
                raise ValueError(f"terminal {entry.name!r} of {entry.system!r} has neither a MAC nor an IP address")
            latest[entry.key] = entry
        from django.db import DatabaseError, transaction

        try:
            with transaction.atomic(using=self.alias):
                result = self._apply(latest, source, _utc(self._clock()))
                if dry_run:
                    transaction.set_rollback(True, using=self.alias)
                else:
                    # A terminal registered is never kept blocked: the sensor lifts its block within a second.
                    from mamori.storage.blocks import BlockTable

                    BlockTable(self.store).request_release_of(
                        (e.mac for e in latest.values() if e.active), "registered", self._clock()
                    )
        except DatabaseError as exc:
            raise StorageError(f"cannot write the terminal ledger in {self.store.path}: {exc}") from exc
        return result

    def _apply(self, latest: dict[tuple[str, str], LedgerEntry], source: str, now: dt.datetime) -> ImportResult:
        manager = self._Terminal.objects.using(self.alias)
        systems = {system for system, _ in latest}
        existing = {self._entry(r).key: r for r in manager.filter(system__in=systems)}
        added = updated = unchanged = reactivated = 0
        new_rows = []
        for key, entry in latest.items():
            row = existing.get(key)
            if row is None:
                new_rows.append(
                    self._Terminal(
                        system=entry.system,
                        name=entry.name,
                        mac=entry.mac or None,
                        ip=entry.ip,
                        note=entry.note,
                        source=source,
                        created_at=now,
                        updated_at=now,
                    )
                )
                added += 1
                continue
            same = (row.name, row.ip or None, row.note) == (entry.name, entry.ip, entry.note)
            if same and row.retired_at is None:
                unchanged += 1
                continue
            if row.retired_at is not None:
                reactivated += 1
            else:
                updated += 1
            row.name, row.ip, row.note = entry.name, entry.ip, entry.note
            row.source, row.updated_at, row.retired_at = source, now, None
            row.save(using=self.alias, update_fields=["name", "ip", "note", "source", "updated_at", "retired_at"])
        manager.bulk_create(new_rows, batch_size=500)
        return ImportResult(added=added, updated=updated, unchanged=unchanged, reactivated=reactivated)

    def retire(self, system: str, mac: str, *, ip: str | None = None) -> bool:
        """Retire the active terminal (system, MAC), or (system, IP) when ``mac`` is empty. Returns whether a
        terminal was retired (False: no such active terminal)."""
        if not mac and not ip:
            raise ValueError("retire needs a MAC address, or an IP address for a terminal behind a router")
        from django.db import DatabaseError

        now = _utc(self._clock())
        match: dict[str, object] = {"mac": mac} if mac else {"mac__isnull": True, "ip": ip}
        try:
            changed = (
                self._Terminal.objects.using(self.alias)
                .filter(system=system, retired_at__isnull=True, **match)
                .update(retired_at=now, updated_at=now)
            )
        except DatabaseError as exc:
            raise StorageError(f"cannot write the terminal ledger in {self.store.path}: {exc}") from exc
        return changed > 0
