"""An alert store kept in memory: the fake of ``mamori.storage.AlertStore`` (what the sensor and the alert writer
store into), so that the sensor runs in a test without a database."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from mamori.errors import StorageError
from mamori.model import Alert, Delivery, KnownPath
from mamori.storage.writer import SensorHealth
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

    def close(self) -> None:
        self.closed += 1
