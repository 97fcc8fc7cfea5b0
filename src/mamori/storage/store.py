"""The store: alerts (upserted by uid, in batches) and sensor health, through Django's ORM on SQLite."""

from __future__ import annotations

import datetime as dt
import logging
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
    CleartextLogin,
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
from mamori.storage.writer import AlertWriter, SensorHealth

if TYPE_CHECKING:
    from mamori.storage.models import AlertRecord

__all__ = ["AlertFilter", "AlertWriter", "SensorHealth", "Store", "record_to_alert"]  # the writer: storage/writer.py

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
        self,
        since: float,
        *,
        origin: str | None = None,
        rules: Sequence[str] | None = None,
        statuses: Sequence[str] = ("open",),
    ) -> list[Alert]:
        """Alerts still open and active since ``since``: the episodes a restarted sensor continues (only those
        one source made, with ``origin``: the log collector continues its own, the packet sensor its own; only
        those of ``rules``, when given; ``statuses``: which count as still open), oldest ``last_seen`` first."""
        qs = self._Alert.objects.using(self.alias).filter(last_seen__gte=_utc(since), status__in=list(statuses))
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

    # -- known paths (the new-path rule's memory; storage/paths.py) -----------------------------------------------

    def load_paths(self) -> tuple[float | None, list[KnownPath]]:
        from mamori.storage.paths import KnownPathTable

        return KnownPathTable(self).load()

    def save_paths(
        self, learning_started: float | None, paths: Sequence[KnownPath], *, max_paths: int | None = None
    ) -> None:
        from mamori.storage.paths import KnownPathTable

        KnownPathTable(self).save(learning_started, paths, max_paths=max_paths)

    # The alert writer's side tables (AlertStore): each kept by its own table module.

    def save_services(self, services: Sequence[KnownService], *, max_services: int | None = None) -> None:
        from mamori.storage.exposure import ExposureTable

        ExposureTable(self).save_services(services, max_services=max_services)

    def save_sessions(self, sessions: Sequence[MaintenanceSession], *, origin: str = "sensor") -> None:
        from mamori.storage.maintenance import SessionTable

        SessionTable(self).save(sessions, origin=origin)

    def add_flows(self, flows: Sequence[FlowCount]) -> None:
        from mamori.storage.flows import FlowTable

        FlowTable(self).add(flows)

    def prune_flows(self, now: float) -> int:
        from mamori.storage.flows import FlowTable

        return FlowTable(self).prune(now)

    def save_devices(self, sightings: Sequence[DeviceSighting]) -> None:
        from mamori.storage.assets import AssetTable

        AssetTable(self).save(sightings)

    def save_logins(self, logins: Sequence[CleartextLogin], *, origin: str = "sensor") -> None:
        from mamori.storage.lan import CleartextLoginTable

        CleartextLoginTable(self).save(logins, origin=origin)

    def close(self) -> None:
        from django.db import connections

        connections[self.alias].close()
