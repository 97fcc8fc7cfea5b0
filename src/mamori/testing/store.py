"""An alert store kept in memory: the fake of ``mamori.storage.AlertStore`` (what the sensor and the alert writer
store into), so that the sensor runs in a test without a database."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from mamori.errors import StorageError
from mamori.model import (
    Alert,
    CleartextLogin,
    Delivery,
    DeviceSighting,
    FlowCount,
    KnownPath,
    KnownService,
    MaintenanceSession,
)
from mamori.storage.writer import SensorHealth
from mamori.testing.flows import MemoryFlows
from mamori.testing.paths import MemoryPaths

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps alerts by uid (the newest snapshot; the origin of the first), sensor health by name, every delivery
    record and the known paths. ``down`` makes every write fail as a database that went away does (StorageError),
    to test that nothing is lost meanwhile. One MemoryStore outlives the sensors built on it: a restart."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self.origins: dict[str, str] = {}
        self.health: dict[str, SensorHealth] = {}
        self.deliveries: list[Delivery] = []
        self.paths = MemoryPaths()
        # The side tables, as the database keeps them: services by (host, proto, port), sessions by uid, flows summed
        # per (hour, segments, proto, port, forbidden) as MemoryFlows does, devices by MAC, cleartext logins appended.
        self.services: dict[tuple[str, str, int], KnownService] = {}
        self.sessions: dict[str, MaintenanceSession] = {}
        self.flow_sink = MemoryFlows()
        self.devices: dict[str, DeviceSighting] = {}
        self.logins: list[CleartextLogin] = []
        self.writes = 0  # successful calls of upsert_alerts
        self.down = False
        self.closed = 0
        self._lock = threading.Lock()

    def _check(self, what: str) -> None:
        if self.down:
            raise StorageError(f"cannot write {what} to the memory store: it is down")

    def upsert_alerts(self, alerts: Sequence[Alert], *, origin: str = "sensor") -> None:
        with self._lock:
            self._check("alerts")
            for alert in alerts:
                self.alerts[alert.uid] = alert
                self.origins.setdefault(alert.uid, origin)
            self.writes += 1

    def record_health(self, health: Iterable[SensorHealth]) -> None:
        with self._lock:
            self._check("sensor health")
            self.health.update((h.name, h) for h in health)

    def record_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        with self._lock:
            self._check("delivery records")
            self.deliveries.extend(deliveries)

    def recent_open_alerts(self, since: float, *, origin: str | None = None) -> list[Alert]:
        with self._lock:
            found = [
                a
                for uid, a in self.alerts.items()
                if a.last_seen >= since and (origin is None or self.origins[uid] == origin)
            ]
        return sorted(found, key=lambda a: a.last_seen)

    def delivered(self, alert_uids: Sequence[str]) -> list[Delivery]:
        wanted = set(alert_uids)
        latest: dict[tuple[str, str], Delivery] = {}
        with self._lock:
            for d in sorted(self.deliveries, key=lambda d: d.ts):
                if d.ok and d.alert_uid in wanted:
                    latest[(d.alert_uid, d.action)] = d
        return list(latest.values())

    def load_paths(self) -> tuple[float | None, list[KnownPath]]:
        started, paths = self.paths.load()
        return started, list(paths)

    def save_paths(
        self, learning_started: float | None, paths: Sequence[KnownPath], *, max_paths: int | None = None
    ) -> None:
        with self._lock:
            self._check("known paths")
            self.paths.save(learning_started, paths)
            if max_paths is not None and len(self.paths.paths) > max_paths:
                keep = sorted(self.paths.paths.items(), key=lambda kv: kv[1].last_seen)[-max_paths:]
                self.paths.paths = dict(keep)

    def save_services(self, services: Sequence[KnownService], *, max_services: int | None = None) -> None:
        with self._lock:
            self._check("services")
            for svc in services:
                key = (svc.host, svc.proto, svc.port)
                old = self.services.get(key)
                first = min(svc.first_seen, old.first_seen) if old is not None else svc.first_seen
                self.services[key] = svc._replace(first_seen=first)
            if max_services is not None and len(self.services) > max_services:
                keep = sorted(self.services.items(), key=lambda kv: kv[1].last_seen)[-max_services:]
                self.services = dict(keep)

    def save_sessions(self, sessions: Sequence[MaintenanceSession], *, origin: str = "sensor") -> None:
        with self._lock:
            self._check("remote-maintenance sessions")
            self.sessions.update((s.uid, s) for s in sessions)

    def add_flows(self, flows: Sequence[FlowCount]) -> None:
        with self._lock:
            self._check("flow counts")
            self.flow_sink.save(flows)

    @property
    def flows(self) -> dict[tuple[float, str, str, str, int, bool], FlowCount]:
        return self.flow_sink.flows

    def prune_flows(self, now: float) -> int:
        return 0  # a test's flows are never old enough to go

    def save_devices(self, sightings: Sequence[DeviceSighting]) -> None:
        with self._lock:
            self._check("devices")
            for seen in sightings:
                old = self.devices.get(seen.mac)
                self.devices[seen.mac] = (
                    seen
                    if old is None
                    else seen._replace(
                        ips=tuple(dict.fromkeys((*old.ips, *seen.ips))),
                        first_seen=min(old.first_seen, seen.first_seen),
                        services=tuple(dict.fromkeys((*old.services, *seen.services))),
                    )
                )

    def save_logins(self, logins: Sequence[CleartextLogin], *, origin: str = "sensor") -> None:
        with self._lock:
            self._check("cleartext logins")
            self.logins.extend(logins)

    def close(self) -> None:
        self.closed += 1
