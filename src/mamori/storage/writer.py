"""What the sensor and the alert writer need of a store (``AlertStore``), and the alert writer itself.

Both are free of Django: ``Store`` is the SQLite/PostgreSQL store that implements the protocol, and
``mamori.testing.MemoryStore`` the fake that lets the sensor be tested without a database (docs/design.md §8).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from mamori.errors import StorageError
from mamori.model import (
    Alert,
    CleartextLogin,
    Clock,
    Delivery,
    DeviceSighting,
    FlowCount,
    KnownPath,
    KnownService,
    MaintenanceSession,
    SystemClock,
)

__all__ = ["AlertStore", "AlertWriter", "SensorHealth"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SensorHealth:
    name: str
    kind: str
    started_at: float
    last_packet: float | None
    matched: int
    decoded: int
    malformed: int
    received: int
    dropped: int
    if_dropped: int
    error: str = ""


class AlertStore(Protocol):
    """Where a sensor keeps its alerts, its health, the deliveries of its actions and the known paths of the
    new-path rule, and finds them again after a restart. Every method raises ``StorageError`` when the store cannot
    be used (the caller retries later); none is called from more than one thread at a time."""

    def upsert_alerts(self, alerts: Sequence[Alert], *, origin: str = "sensor") -> None:
        """Insert new alerts and update known ones (by uid); the newest snapshot of an alert wins."""

    def record_health(self, health: Iterable[SensorHealth]) -> None: ...

    def record_deliveries(self, deliveries: Sequence[Delivery]) -> None: ...

    def recent_open_alerts(self, since: float, *, origin: str | None = None) -> list[Alert]:
        """Alerts still open and active since ``since`` (of one origin): the episodes a restart continues."""

    def delivered(self, alert_uids: Sequence[str]) -> list[Delivery]:
        """The last successful delivery per (alert, action) of these alerts."""

    def load_paths(self) -> tuple[float | None, list[KnownPath]]:
        """When the new-path rule began learning (None: not yet) and the paths it knows."""

    def save_paths(
        self, learning_started: float | None, paths: Sequence[KnownPath], *, max_paths: int | None = None
    ) -> None:
        """Merge known paths into the store, keeping at most ``max_paths`` (the most recently seen)."""

    def save_services(self, services: Sequence[KnownService], *, max_services: int | None = None) -> None:
        """Merge the services seen answering (the exposure rule's table), keeping at most ``max_services``."""

    def save_sessions(self, sessions: Sequence[MaintenanceSession], *, origin: str = "sensor") -> None:
        """Insert or update remote-maintenance sessions (by key)."""

    def add_flows(self, flows: Sequence[FlowCount]) -> None:
        """Add hourly counts of flows between segments (summed with what the hour already has)."""

    def prune_flows(self, now: float) -> int:
        """Forget flow counts older than the kept period; returns how many rows went."""

    def save_devices(self, sightings: Sequence[DeviceSighting]) -> None:
        """Merge the devices seen on the wire into the asset ledger."""

    def save_logins(self, logins: Sequence[CleartextLogin], *, origin: str = "sensor") -> None:
        """Record logins seen in clear text (the password only as a salted tag)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Deliveries:
    records: list[Delivery]


@dataclass(frozen=True)
class _Paths:
    learning_started: float | None
    paths: Sequence[KnownPath]
    max_paths: int | None


# Tables beside the alerts that only a database store has (the exposure rule's services, remote-maintenance
# sessions, the zone map's flow counts, the asset ledger's devices): written through their own table classes,
# imported when first written.


@dataclass(frozen=True)
class _Services:
    services: Sequence[KnownService]
    max_services: int | None


@dataclass(frozen=True)
class _Sessions:
    sessions: Sequence[MaintenanceSession]


@dataclass(frozen=True)
class _Flows:
    flows: Sequence[FlowCount]


@dataclass(frozen=True)
class _Devices:
    sightings: Sequence[DeviceSighting]


@dataclass(frozen=True)
class _Logins:
    logins: Sequence[CleartextLogin]


_PRUNE_EVERY = 600.0  # seconds of the clock between prunings of the flow counts

_Item = (
    list[Alert]
    | tuple[SensorHealth, ...]
    | _Deliveries
    | _Paths
    | _Services
    | _Sessions
    | _Flows
    | _Devices
    | _Logins
    | threading.Event
    | None
)


class AlertWriter:
    """Writes alert snapshots in batches on its own thread, so storing never slows capture down.

    ``submit`` never blocks; a batch is written every ``interval`` seconds of the clock (``mamori.model.Clock``);
    ``flush`` waits until everything submitted so far is committed. A failed write is retried with the next batch
    (the newest snapshot of each alert is kept, so a long outage costs one row per alert, not one per update), and
    reported through ``last_error``. On ``mamori.testing.FakeClock`` a batch is due when the test moves the clock,
    and :meth:`settle` says when the writer has done what is due.
    """

    def __init__(
        self, store: AlertStore, *, interval: float = 1.0, origin: str = "sensor", clock: Clock | None = None
    ) -> None:
        self.store = store
        self.interval = interval
        self.origin = origin
        self.clock: Clock = clock or SystemClock()
        self._cond = threading.Condition()
        self._items: deque[_Item] = deque()
        self._idle = False  # the thread waits for the next item or the next batch's time
        self._next_write = self.clock.monotonic() + interval
        self._deliveries: list[Delivery] = []
        self._paths: list[_Paths] = []
        self._services: list[_Services] = []
        self._sessions: dict[str, MaintenanceSession] = {}
        self._flows: list[FlowCount] = []
        self._next_prune = 0.0
        self._devices: dict[str, DeviceSighting] = {}
        self._logins: list[CleartextLogin] = []
        self._pending: dict[str, Alert] = {}
        self._health: tuple[SensorHealth, ...] = ()
        self.last_error: str | None = None
        self._errors: list[str] = []  # this round's failed writes
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="mamori-alert-writer", daemon=True)
        self._thread.start()

    def _put(self, item: _Item) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def submit(self, alerts: list[Alert]) -> None:
        if alerts:
            self._put(alerts)

    def submit_deliveries(self, deliveries: list[Delivery]) -> None:
        """Record delivery attempts with the next batch. Thread-safe: actions call it from their own threads."""
        if deliveries:
            self._put(_Deliveries(deliveries))

    def submit_paths(
        self, learning_started: float | None, paths: Sequence[KnownPath], *, max_paths: int | None = None
    ) -> None:
        """Merge known paths (the new-path rule's memory) into the store with the next batch."""
        self._put(_Paths(learning_started, list(paths), max_paths))

    def submit_services(self, services: Sequence[KnownService], *, max_services: int | None = None) -> None:
        """Merge services seen answering (the exposure rule's memory) into the store with the next batch."""
        self._put(_Services(list(services), max_services))

    def submit_sessions(self, sessions: Sequence[MaintenanceSession]) -> None:
        """Record remote-maintenance sessions with the next batch (the newest state of each replaces older ones)."""
        if sessions:
            self._put(_Sessions(list(sessions)))

    def submit_flows(self, flows: Sequence[FlowCount]) -> None:
        """Add hourly counts of flows between segments (the zone map's figures) with the next batch."""
        if flows:
            self._put(_Flows(list(flows)))

    def submit_devices(self, sightings: Sequence[DeviceSighting]) -> None:
        """Merge devices seen (the asset ledger's sightings) into the store with the next batch."""
        if sightings:
            self._put(_Devices(list(sightings)))

    def submit_logins(self, logins: Sequence[CleartextLogin]) -> None:
        """Record logins seen in clear text (checklist evidence) with the next batch."""
        if logins:
            self._put(_Logins(list(logins)))

    def submit_health(self, health: list[SensorHealth]) -> None:
        """Record sensor health with the next batch (the newest figures replace older ones)."""
        self._put(tuple(health))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far is committed (or the write failed)."""
        done = threading.Event()
        self._put(done)
        return done.wait(timeout)

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until the writer has taken in everything submitted and written what is due by the clock (a batch
        whose time has not come stays pending). ``timeout``: real seconds, a guard; False if it ran out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy() and self._thread.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _busy(self) -> bool:
        """Something to take in, being written, or a batch due by the clock (the caller holds the lock)."""
        return bool(self._items) or not self._idle or self.clock.monotonic() >= self._next_write

    @property
    def pending(self) -> int:
        """Alerts waiting for the next batch (or for the store to come back)."""
        return len(self._pending)

    def close(self, timeout: float = 30.0) -> None:
        self._put(None)
        self._thread.join(timeout)

    def _failed(self, exc: StorageError) -> None:
        """A write that will be tried again: logged, and ``last_error`` until a whole round succeeds."""
        log.error("%s (will retry)", exc)
        self._errors.append(str(exc))

    def _write(self) -> None:
        self._errors = []
        try:
            self._write_all()
        finally:
            self.last_error = self._errors[0] if self._errors else None

    def _write_all(self) -> None:
        if self._health:
            try:
                self.store.record_health(self._health)
                self._health = ()
            except StorageError as exc:
                self._failed(exc)
        if self._deliveries:
            try:
                self.store.record_deliveries(self._deliveries)
                self._deliveries = []
            except StorageError as exc:
                self._failed(exc)
                del self._deliveries[:-10_000]  # bounded: keep the newest records while the store is away
        if self._paths:
            self._write_paths()
        self._write_tables()
        if not self._pending:
            return
        batch = list(self._pending.values())
        try:
            self.store.upsert_alerts(batch, origin=self.origin)
        except StorageError as exc:
            self._failed(exc)
            return
        self.written += len(batch)
        self._pending.clear()

    def _write_paths(self) -> None:
        while self._paths:
            job = self._paths[0]
            try:
                self.store.save_paths(job.learning_started, job.paths, max_paths=job.max_paths)
            except StorageError as exc:
                self._failed(exc)
                del self._paths[:-100]  # bounded while the store is away: the newest saves are kept
                return
            self._paths.pop(0)

    def _write_tables(self) -> None:
        if self._services:
            self._write_services()
        if self._sessions:
            self._write_sessions()
        if self._flows:
            self._write_flows()
        if self._devices:
            self._write_devices()
        if self._logins:
            self._write_logins()

    def _write_services(self) -> None:
        while self._services:
            job = self._services[0]
            try:
                self.store.save_services(job.services, max_services=job.max_services)
            except StorageError as exc:
                self._failed(exc)
                del self._services[:-100]  # bounded while the store is away: the newest saves are kept
                return
            self._services.pop(0)

    def _write_sessions(self) -> None:
        try:
            self.store.save_sessions(list(self._sessions.values()), origin=self.origin)
        except StorageError as exc:
            self._failed(exc)
            return
        self._sessions.clear()

    def _write_flows(self) -> None:
        try:
            self.store.add_flows(self._flows)
            self._flows = []
            if self.clock.monotonic() >= self._next_prune:
                self._next_prune = self.clock.monotonic() + _PRUNE_EVERY
                self.store.prune_flows(self.clock.now())
        except StorageError as exc:
            self._failed(exc)
            del self._flows[:-100_000]  # bounded while the store is away: the newest counts are kept

    def _write_devices(self) -> None:
        try:
            self.store.save_devices(list(self._devices.values()))
        except StorageError as exc:
            self._failed(exc)
            if len(self._devices) > 100_000:  # bounded while the store is away: the newest sightings are kept
                for mac in list(self._devices)[: len(self._devices) - 100_000]:
                    del self._devices[mac]
            return
        self._devices.clear()

    def _write_logins(self) -> None:
        try:
            self.store.save_logins(self._logins, origin=self.origin)
        except StorageError as exc:
            self._failed(exc)
            del self._logins[:-10_000]  # bounded while the store is away: the newest are kept
            return
        self._logins = []

    def _absorb(self, item: _Item) -> None:
        """Keep one submitted item for the next write."""
        if isinstance(item, _Deliveries):
            self._deliveries.extend(item.records)
        elif isinstance(item, _Paths):
            self._paths.append(item)
        elif isinstance(item, _Services):
            self._services.append(item)
        elif isinstance(item, _Sessions):
            self._sessions.update((s.uid, s) for s in item.sessions)
        elif isinstance(item, _Flows):
            self._flows.extend(item.flows)
        elif isinstance(item, _Logins):
            self._logins.extend(item.logins)
        elif isinstance(item, _Devices):
            for sighting in item.sightings:  # the newest sighting of a MAC carries all it has seen
                self._devices[sighting.mac] = sighting
        elif isinstance(item, tuple):
            self._health = item
        elif isinstance(item, list):
            for alert in item:
                self._pending[alert.uid] = alert

    def _take(self) -> list[_Item]:
        """What was submitted, once there is something or the next batch is due."""
        with self._cond:
            while not self._items:
                now = self.clock.monotonic()
                if now >= self._next_write:
                    break
                self._idle = True
                self._cond.notify_all()  # settle() may be waiting
                self.clock.wait(self._cond, self._next_write - now)
            self._idle = False
            items = list(self._items)
            self._items.clear()
            return items

    def _run(self) -> None:
        try:
            while True:
                for item in self._take():
                    if item is None:
                        self._write()
                        return
                    if isinstance(item, threading.Event):
                        self._write()
                        item.set()
                    else:
                        self._absorb(item)
                if self.clock.monotonic() >= self._next_write:
                    self._write()
                    with self._cond:
                        self._next_write = self.clock.monotonic() + self.interval
        finally:
            self.store.close()
            with self._cond:
                self._idle = True
                self._cond.notify_all()
