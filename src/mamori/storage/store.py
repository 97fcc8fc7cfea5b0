"""The store: alerts (upserted by uid, in batches) and sensor health, through Django's ORM on SQLite."""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mamori.config.central import PostgresSettings
from mamori.errors import StorageError
from mamori.incidents import IncidentGrouper, IncidentRules
from mamori.model import (
    ALERT_FIELDS,
    Alert,
    Delivery,
    DeviceSighting,
    FlowCount,
    KnownPath,
    KnownService,
    MaintenanceSession,
    Severity,
)
from mamori.rules import SCHEMA_KEY, Details, RawDetails, catalogue, render
from mamori.storage.incidents import IncidentRow, IncidentSync, incident_rows
from mamori.storage.setup import ensure_database

if TYPE_CHECKING:
    from mamori.storage.models import AlertRecord

__all__ = ["AlertFilter", "AlertWriter", "SensorHealth", "Store", "record_to_alert"]

log = logging.getLogger(__name__)


def _same(value: Any) -> Any:
    return value


def _details(r: Any) -> Details:
    """A row's details in its rule's declared type; a rule this installation does not know keeps its stored form
    and summaries."""
    kind = catalogue().details_type(r.rule)
    if kind is None:
        data = {k: v for k, v in (r.details or {}).items() if k != SCHEMA_KEY}
        return RawDetails(extra=data, summary_ja=r.summary_ja or "", summary_en=r.summary_en or "")
    return kind.from_json(r.details)


def record_to_alert(r: Any) -> Alert:
    """An alert row (``AlertRecord``) as the :class:`Alert` it records, details in their rule's type."""
    values = {name: _FROM_DB.get(name, _same)(getattr(r, name)) for name in ALERT_FIELDS if name != "details"}
    return Alert(**values, details=_details(r))


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def _ts(value: dt.datetime) -> float:
    return value.timestamp()


# How each field of an Alert (model.ALERT_FIELDS) is stored and read back; the rest are stored as they are.
_TO_DB: dict[str, Callable[[Any], Any]] = {
    "severity": int,
    "first_seen": _utc,
    "last_seen": _utc,
    "samples": lambda samples: [dict(s) for s in samples],
}
_FROM_DB: dict[str, Callable[[Any], Any]] = {
    "severity": Severity,
    "first_seen": _ts,
    "last_seen": _ts,
    "samples": lambda value: tuple(value or ()),
}
_UPDATE_FIELDS = [name for name in ALERT_FIELDS if name != "uid"] + ["summary_ja", "summary_en", "updated_at"]
_UPDATE_WITH_INCIDENT = [*_UPDATE_FIELDS, "incident_uid"]


@dataclass(frozen=True)
class AlertFilter:
    rule: str | None = None
    system: str | None = None
    min_severity: Severity | None = None
    src_mac: str | None = None
    src_ip: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int | None = None


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


class Store:
    """Opens (and creates or upgrades) the SQLite database at ``path``. Alerts written through it are grouped into
    incidents by ``incidents`` (mamori.incidents; the defaults unless the settings say otherwise)."""

    def __init__(self, path: Path | PostgresSettings, *, incidents: IncidentRules | None = None) -> None:
        self.path = path if isinstance(path, PostgresSettings) else Path(path)  # PostgreSQL: the central store
        self.alias = ensure_database(self.path)
        from mamori.storage.models import AlertRecord, DeliveryRecord, SensorHour, SensorStatus

        rules = incidents or IncidentRules()
        self._incidents = IncidentSync(self.alias, IncidentGrouper(rules)) if rules.enabled else None

        self._Alert = AlertRecord
        self._Sensor = SensorStatus
        self._Delivery = DeliveryRecord
        self._Hour = SensorHour

    # -- alerts -------------------------------------------------------------------------------------------------

    def _record(self, alert: Alert, origin: str, now: dt.datetime) -> AlertRecord:
        """The row of an alert: its facts, plus its summaries rendered now (a copy for readers outside mamori)."""
        values = {name: _TO_DB.get(name, _same)(getattr(alert, name)) for name in ALERT_FIELDS if name != "details"}
        return self._Alert(
            **values,
            details=render.typed_details(alert).to_json(),
            summary_ja=render.summary(alert, "ja"),
            summary_en=render.summary(alert, "en"),
            origin=origin,
            created_at=now,
            updated_at=now,
        )

    def upsert_alerts(self, alerts: Sequence[Alert], *, origin: str = "sensor") -> None:
        """Insert new alerts and update known ones (by uid) in one transaction."""
        if not alerts:
            return
        from django.db import DatabaseError, transaction

        latest: dict[str, Alert] = {}
        for alert in alerts:
            latest[alert.uid] = alert  # several snapshots of one episode in a batch: the newest wins
        now = dt.datetime.now(tz=dt.UTC)
        records = [self._record(a, origin, now) for a in latest.values()]
        try:
            with transaction.atomic(using=self.alias):
                manager = self._Alert.objects.using(self.alias)
                known: dict[str, str | None] = {}
                uids = list(latest)
                for start in range(0, len(uids), 500):
                    chunk = uids[start : start + 500]
                    known.update(manager.filter(uid__in=chunk).values_list("uid", "incident_uid"))
                grouping = None
                if self._incidents is not None:
                    self._incidents.load()  # what other writers changed since this one last looked
                    assigned = {uid: inc for uid, inc in known.items() if inc}
                    grouping = self._incidents.grouper.group(list(latest.values()), assigned)
                    for record in records:
                        record.incident_uid = grouping.assigned.get(record.uid)
                fields = _UPDATE_FIELDS if grouping is None else _UPDATE_WITH_INCIDENT
                manager.bulk_create(
                    records, batch_size=500, update_conflicts=True, unique_fields=["uid"], update_fields=fields
                )
                if grouping is not None and self._incidents is not None:
                    self._incidents.save(grouping, manager)
                self._count_new([a for uid, a in latest.items() if uid not in known])
        except DatabaseError as exc:
            if self._incidents is not None:
                self._incidents.revision = None  # the grouper may be ahead of the store: reload it next time
            raise StorageError(f"cannot write alerts to {self.path}: {exc}") from exc

    def _count_new(self, alerts: Sequence[Alert]) -> None:
        """Add new alerts to the hourly roll-up (inside the caller's transaction)."""
        from django.db.models import F

        from mamori.storage.models import AlertHourly

        groups: dict[tuple[dt.datetime, str, int], int] = {}
        for alert in alerts:
            hour = _utc(alert.first_seen).replace(minute=0, second=0, microsecond=0)
            key = (hour, alert.rule, int(alert.severity))
            groups[key] = groups.get(key, 0) + 1
        manager = AlertHourly.objects.using(self.alias)
        for (hour, rule, severity), n in groups.items():
            if not manager.filter(hour=hour, rule=rule, severity=severity).update(count=F("count") + n):
                manager.create(hour=hour, rule=rule, severity=severity, count=n)

    def alerts(self, flt: AlertFilter | None = None) -> list[Alert]:
        flt = flt or AlertFilter()
        qs = self._Alert.objects.using(self.alias).all()
        if flt.rule:
            qs = qs.filter(rule=flt.rule)
        if flt.system:
            qs = qs.filter(system=flt.system)
        if flt.min_severity is not None:
            qs = qs.filter(severity__gte=int(flt.min_severity))
        if flt.src_mac:
            qs = qs.filter(src_mac=flt.src_mac)
        if flt.src_ip:
            qs = qs.filter(src_ip=flt.src_ip)
        if flt.since is not None:
            qs = qs.filter(last_seen__gte=_utc(flt.since))
        if flt.until is not None:
            qs = qs.filter(first_seen__lte=_utc(flt.until))
        qs = qs.order_by("first_seen", "id")
        if flt.limit:
            qs = qs.order_by("-first_seen", "-id")[: flt.limit]
            return [self._to_alert(r) for r in reversed(list(qs))]
        return [self._to_alert(r) for r in qs]

    def recent_open_alerts(
        self, since: float, *, origin: str | None = None, rules: Sequence[str] | None = None
    ) -> list[Alert]:
        """Alerts still open and active since ``since``: the episodes a restarted sensor continues (only those
        one source made, with ``origin``: the log collector continues its own, the packet sensor its own; only
        those of ``rules``, when given)."""
        qs = self._Alert.objects.using(self.alias).filter(last_seen__gte=_utc(since), status="open")
        if origin is not None:
            qs = qs.filter(origin=origin)
        if rules is not None:
            qs = qs.filter(rule__in=list(rules))
        return [self._to_alert(r) for r in qs.order_by("last_seen")]

    @staticmethod
    def _to_alert(r: Any) -> Alert:
        return record_to_alert(r)

    # -- incidents ----------------------------------------------------------------------------------------------

    def incidents(
        self, *, open_only: bool = False, uid: str | None = None, limit: int | None = None
    ) -> list[IncidentRow]:
        """Incidents, open ones first, then the most recent; merged ones are not listed (their survivor is)."""
        return incident_rows(self.alias, open_only=open_only, uid=uid, limit=limit)

    def incident_alerts(self, uid: str) -> list[Alert]:
        """The alerts of one incident, in the order they began."""
        qs = self._Alert.objects.using(self.alias).filter(incident_uid=uid).order_by("first_seen", "id")
        return [self._to_alert(r) for r in qs]

    # -- sensor health --------------------------------------------------------------------------------------------

    def record_health(self, health: Iterable[SensorHealth]) -> None:
        from django.db import DatabaseError, transaction

        now = dt.datetime.now(tz=dt.UTC)
        try:
            with transaction.atomic(using=self.alias):
                hour = now.replace(minute=0, second=0, microsecond=0)
                for h in health:
                    self._Hour.objects.using(self.alias).get_or_create(name=h.name, hour=hour)
                    self._Sensor.objects.using(self.alias).update_or_create(
                        name=h.name,
                        defaults={
                            "kind": h.kind,
                            "started_at": _utc(h.started_at),
                            "updated_at": now,
                            "last_packet": _utc(h.last_packet) if h.last_packet else None,
                            "matched": h.matched,
                            "decoded": h.decoded,
                            "malformed": h.malformed,
                            "received": h.received,
                            "dropped": h.dropped,
                            "if_dropped": h.if_dropped,
                            "error": h.error,
                        },
                    )
        except DatabaseError as exc:
            raise StorageError(f"cannot write sensor health to {self.path}: {exc}") from exc

    def health(self) -> list[SensorHealth]:
        return [
            SensorHealth(
                name=r.name,
                kind=r.kind,
                started_at=_ts(r.started_at),
                last_packet=_ts(r.last_packet) if r.last_packet else None,
                matched=r.matched,
                decoded=r.decoded,
                malformed=r.malformed,
                received=r.received,
                dropped=r.dropped,
                if_dropped=r.if_dropped,
                error=r.error,
            )
            for r in self._Sensor.objects.using(self.alias).order_by("name")
        ]

    # -- deliveries ---------------------------------------------------------------------------------------------

    def record_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        from django.db import DatabaseError, transaction

        rows = [
            self._Delivery(
                alert_uid=d.alert_uid,
                action=d.action,
                action_type=d.action_type,
                event=d.event,
                attempt=d.attempt,
                ts=_utc(d.ts),
                ok=d.ok,
                final=d.final,
                detail=d.detail,
                alert_count=d.alert_count,
            )
            for d in deliveries
        ]
        try:
            with transaction.atomic(using=self.alias):
                self._Delivery.objects.using(self.alias).bulk_create(rows, batch_size=500)
        except DatabaseError as exc:
            raise StorageError(f"cannot write delivery records to {self.path}: {exc}") from exc

    def deliveries(self, alert_uid: str | None = None, *, limit: int | None = None) -> list[Delivery]:
        """Delivery attempts, oldest first (of one alert, or of all)."""
        qs = self._Delivery.objects.using(self.alias).all()
        if alert_uid is not None:
            qs = qs.filter(alert_uid=alert_uid)
        qs = qs.order_by("ts", "id")
        if limit:
            qs = qs.order_by("-ts", "-id")[:limit]
            return [self._to_delivery(r) for r in reversed(list(qs))]
        return [self._to_delivery(r) for r in qs]

    def delivered(self, alert_uids: Sequence[str]) -> list[Delivery]:
        """The last successful delivery per (alert, action) of these alerts: what a restarted sensor must not
        send again."""
        latest: dict[tuple[str, str], Delivery] = {}
        for start in range(0, len(alert_uids), 500):
            chunk = list(alert_uids[start : start + 500])
            qs = self._Delivery.objects.using(self.alias).filter(alert_uid__in=chunk, ok=True).order_by("ts", "id")
            for r in qs:
                d = self._to_delivery(r)
                latest[(d.alert_uid, d.action)] = d
        return list(latest.values())

    @staticmethod
    def _to_delivery(r: Any) -> Delivery:
        return Delivery(
            alert_uid=r.alert_uid,
            action=r.action,
            action_type=r.action_type,
            event=r.event,
            attempt=r.attempt,
            ts=_ts(r.ts),
            ok=r.ok,
            final=r.final,
            detail=r.detail,
            alert_count=r.alert_count,
        )

    def close(self) -> None:
        from django.db import connections

        connections[self.alias].close()


@dataclass(frozen=True)
class _Deliveries:
    records: list[Delivery]


@dataclass(frozen=True)
class _Paths:
    learning_started: float | None
    paths: Sequence[KnownPath]
    max_paths: int | None


@dataclass(frozen=True)
class _Services:
    services: Sequence[KnownService]
    max_services: int | None


@dataclass
class _Sessions:
    sessions: Sequence[MaintenanceSession]


@dataclass(frozen=True)
class _Flows:
    flows: Sequence[FlowCount]


@dataclass(frozen=True)
class _Devices:
    sightings: Sequence[DeviceSighting]


_PRUNE_EVERY = 600.0  # seconds between prunings of the flow counts


class AlertWriter:
    """Writes alert snapshots in batches on its own thread, so storing never slows capture down.

    ``submit`` never blocks; ``flush`` waits until everything submitted so far is committed. A failed write is
    retried on the next batch (the newest snapshot of each alert is kept, so a long outage costs one row per
    alert, not one per update), and reported through ``last_error``.
    """

    def __init__(self, store: Store, *, interval: float = 1.0, origin: str = "sensor") -> None:
        self.store = store
        self.interval = interval
        self.origin = origin
        self._queue: queue.SimpleQueue[
            list[Alert]
            | tuple[SensorHealth, ...]
            | _Deliveries
            | _Paths
            | _Services
            | _Sessions
            | _Flows
            | _Devices
            | threading.Event
            | None
        ] = queue.SimpleQueue()
        self._flows: list[FlowCount] = []
        self._next_prune = 0.0
        self._deliveries: list[Delivery] = []
        self._paths: list[_Paths] = []
        self._services: list[_Services] = []
        self._sessions: dict[str, MaintenanceSession] = {}
        self._devices: dict[str, DeviceSighting] = {}
        self._pending: dict[str, Alert] = {}
        self._health: tuple[SensorHealth, ...] = ()
        self.last_error: str | None = None
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="mamori-alert-writer", daemon=True)
        self._thread.start()

    def submit(self, alerts: list[Alert]) -> None:
        if alerts:
            self._queue.put(alerts)

    def submit_deliveries(self, deliveries: list[Delivery]) -> None:
        """Record delivery attempts with the next batch. Thread-safe: actions call it from their own threads."""
        if deliveries:
            self._queue.put(_Deliveries(deliveries))

    def submit_paths(
        self, learning_started: float | None, paths: Sequence[KnownPath], *, max_paths: int | None = None
    ) -> None:
        """Merge known paths (the new-path rule's memory) into the store with the next batch."""
        self._queue.put(_Paths(learning_started, list(paths), max_paths))

    def submit_services(self, services: Sequence[KnownService], *, max_services: int | None = None) -> None:
        """Merge services seen answering (the exposure rule's memory) into the store with the next batch."""
        self._queue.put(_Services(list(services), max_services))

    def submit_sessions(self, sessions: Sequence[MaintenanceSession]) -> None:
        """Record remote-maintenance sessions with the next batch (the newest state of each replaces older ones)."""
        if sessions:
            self._queue.put(_Sessions(list(sessions)))

    def submit_flows(self, flows: Sequence[FlowCount]) -> None:
        """Add hourly counts of flows between segments (the zone map's figures) with the next batch."""
        if flows:
            self._queue.put(_Flows(list(flows)))

    def submit_devices(self, sightings: Sequence[DeviceSighting]) -> None:
        """Merge devices seen (the asset ledger's sightings) into the store with the next batch."""
        if sightings:
            self._queue.put(_Devices(list(sightings)))

    def submit_health(self, health: list[SensorHealth]) -> None:
        """Record sensor health with the next batch (the newest figures replace older ones)."""
        self._queue.put(tuple(health))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far is committed (or the write failed)."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _write(self) -> None:
        if self._health:
            try:
                self.store.record_health(self._health)
                self._health = ()
            except StorageError as exc:
                log.error("%s (will retry)", exc)
        if self._deliveries:
            try:
                self.store.record_deliveries(self._deliveries)
                self._deliveries = []
            except StorageError as exc:
                log.error("%s (will retry)", exc)
                del self._deliveries[:-10_000]  # bounded: keep the newest records while the store is away
        if self._paths:
            self._write_paths()
        if self._services:
            self._write_services()
        if self._sessions:
            self._write_sessions()
        if self._flows:
            self._write_flows()
        if self._devices:
            self._write_devices()
        if not self._pending:
            return
        batch = list(self._pending.values())
        try:
            self.store.upsert_alerts(batch, origin=self.origin)
        except StorageError as exc:
            self.last_error = str(exc)
            log.error("%s (will retry)", exc)
            return
        self.written += len(batch)
        self._pending.clear()
        self.last_error = None

    def _write_paths(self) -> None:
        from mamori.storage.paths import KnownPathTable

        table = KnownPathTable(self.store)
        while self._paths:
            job = self._paths[0]
            try:
                table.save(job.learning_started, job.paths, max_paths=job.max_paths)
            except StorageError as exc:
                log.error("%s (will retry)", exc)
                del self._paths[:-100]  # bounded while the store is away: the newest saves are kept
                return
            self._paths.pop(0)

    def _write_services(self) -> None:
        from mamori.storage.exposure import ExposureTable

        table = ExposureTable(self.store)
        while self._services:
            job = self._services[0]
            try:
                table.save_services(job.services, max_services=job.max_services)
            except StorageError as exc:
                log.error("%s (will retry)", exc)
                del self._services[:-100]  # bounded while the store is away: the newest saves are kept
                return
            self._services.pop(0)

    def _write_sessions(self) -> None:
        from mamori.storage.maintenance import SessionTable

        try:
            SessionTable(self.store).save(list(self._sessions.values()), origin=self.origin)
        except StorageError as exc:
            log.error("%s (will retry)", exc)
            return
        self._sessions.clear()

    def _write_devices(self) -> None:
        from mamori.storage.assets import AssetTable

        try:
            AssetTable(self.store).save(list(self._devices.values()))
        except StorageError as exc:
            log.error("%s (will retry)", exc)
            if len(self._devices) > 100_000:  # bounded while the store is away: the newest sightings are kept
                for mac in list(self._devices)[: len(self._devices) - 100_000]:
                    del self._devices[mac]
            return
        self._devices.clear()

    def _take(self, item: object) -> None:
        """Queue one submitted item for the next write."""
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
        elif isinstance(item, _Devices):
            for sighting in item.sightings:  # the newest sighting of a MAC carries all it has seen
                self._devices[sighting.mac] = sighting
        elif isinstance(item, tuple):
            self._health = item
        elif isinstance(item, list):
            for alert in item:
                self._pending[alert.uid] = alert

    def _write_flows(self) -> None:
        from mamori.storage.flows import FlowTable

        table = FlowTable(self.store)
        try:
            table.add(self._flows)
            self._flows = []
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + _PRUNE_EVERY
                table.prune(time.time())
        except StorageError as exc:
            log.error("%s (will retry)", exc)
            del self._flows[:-100_000]  # bounded while the store is away: the newest counts are kept

    def _run(self) -> None:
        next_write = time.monotonic() + self.interval
        try:
            while True:
                try:
                    item = self._queue.get(timeout=max(0.0, next_write - time.monotonic()))
                except queue.Empty:
                    item = []
                if item is None:
                    self._write()
                    return
                if isinstance(item, threading.Event):
                    self._write()
                    item.set()
                    continue
                self._take(item)
                if time.monotonic() >= next_write:
                    self._write()
                    next_write = time.monotonic() + self.interval
        finally:
            self.store.close()
