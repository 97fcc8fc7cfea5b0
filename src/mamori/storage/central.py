"""The central server's writes: sensors' messages applied to the central store in one transaction per batch
(docs/design.md §10, central).

Every write is an idempotent upsert of the thing's newest state, guarded by its own clock (an alert's
``updated_at``, a session's ``end``), so a message applied twice (redelivered after the consumer died between its
commit and its acknowledgement) or late changes nothing. On PostgreSQL the month's partition is made before rows
of that month are written, and the upsert's conflict target includes the partition key, as PostgreSQL requires.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mamori.errors import StorageError
from mamori.storage.postgres import ensure_partitions

if TYPE_CHECKING:
    from mamori.storage.store import Store

__all__ = ["SILENT_RULE", "Applied", "CentralMessage", "CentralTable", "Silence", "SiteView"]

SILENT_RULE = "sensor-silent"


@dataclass(frozen=True)
class CentralMessage:
    site: str
    seq: int
    kind: str  # alert | health | terminal | session
    data: dict[str, Any]


@dataclass
class Applied:
    alerts: int = 0
    new_alerts: int = 0
    health: int = 0
    terminals: int = 0
    sessions: int = 0
    rejected: list[str] = field(default_factory=list)  # messages whose content could not be used, in words


@dataclass
class Silence:
    """What one silence check did: alerts raised, updated (still silent) and resolved (messages resumed)."""

    raised: list[str] = field(default_factory=list)  # keys: "<site>" or "<site>/<source>"
    updated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SiteView:
    site: str
    last_message_at: float
    messages: int
    alerts: int
    open_alerts: int


_ALERT_STATUS = ("status", "status_changed_at", "status_by", "status_comment")
_DATETIMES = {
    "first_seen",
    "last_seen",
    "created_at",
    "updated_at",
    "status_changed_at",
    "started_at",
    "last_packet",
    "retired_at",
    "start",
    "end",
}


def _value(name: str, value: Any) -> Any:
    if name in _DATETIMES and isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return value


def _require(m: CentralMessage, *names: str) -> None:
    for name in names:
        if m.data.get(name) is None:
            raise KeyError(name)
        _value(name, m.data[name])


class CentralTable:
    """Applies sensors' messages to the central store (PostgreSQL; SQLite works too, unpartitioned)."""

    def __init__(self, store: Store) -> None:
        from mamori.storage.models import AlertRecord, MaintenanceSessionRecord

        self.store = store
        self.alias = store.alias
        self._partitions: set[str] = set()
        self._alert_fields = [f for f in AlertRecord._meta.concrete_fields if f.column != "id"]
        self._session_fields = [f for f in MaintenanceSessionRecord._meta.concrete_fields if f.column != "id"]

    @property
    def connection(self) -> Any:
        """This thread's connection (Django's connections are per thread)."""
        from django.db import connections

        return connections[self.alias]

    @property
    def partitioned(self) -> bool:
        return bool(self.connection.vendor == "postgresql")

    def apply(self, messages: Sequence[CentralMessage]) -> Applied:
        """Apply ``messages`` in one transaction (all or nothing)."""
        from django.db import DatabaseError, transaction

        applied = Applied()
        newest: dict[tuple[str, str, str], CentralMessage] = {}
        for m in messages:
            key = (m.site, m.kind, str(m.data.get("uid") or m.data.get("name") or m.data.get("local_id")))
            if m.kind not in ("alert", "health", "terminal", "session"):
                applied.rejected.append(f"{m.site} #{m.seq}: unknown kind {m.kind!r}")
                continue
            newest[key] = m  # the batch is in stream order: the last state of a thing wins
        alerts, sessions, chosen = self._prepare(list(newest.values()), applied)
        try:
            with transaction.atomic(using=self.alias):
                if alerts:
                    applied.new_alerts = self._upsert_alerts(alerts)
                    applied.alerts = len(alerts)
                if sessions:
                    self._upsert("mamori_maintenance_session", self._session_fields, sessions, "start", guard='"end"')
                    applied.sessions = len(sessions)
                for m in chosen:
                    if m.kind == "health":
                        self._health(m)
                        applied.health += 1
                    elif m.kind == "terminal":
                        self._terminal(m)
                        applied.terminals += 1
                self._sites(messages)
        except DatabaseError as exc:
            raise StorageError(f"cannot write the sites' messages to {self.store.path}: {exc}") from exc
        return applied

    def _prepare(
        self, messages: list[CentralMessage], applied: Applied
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[CentralMessage]]:
        """The rows of the alerts and sessions, and the messages whose content is usable; each one checked on its
        own: a bad message is reported (``applied.rejected``), never blocks the rest."""
        alerts: list[dict[str, Any]] = []
        sessions: list[dict[str, Any]] = []
        chosen: list[CentralMessage] = []
        for m in messages:
            try:
                if m.kind == "alert":
                    alerts.append(self._alert_values(m))
                elif m.kind == "session":
                    sessions.append(self._row_values(self._session_fields, m))
                elif m.kind == "health":
                    _require(m, "name", "kind", "started_at", "updated_at")
                elif m.kind == "terminal":
                    int(m.data["local_id"])
                    if not m.data.get("deleted"):
                        _require(m, "system", "name", "updated_at")
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                applied.rejected.append(f"{m.site} #{m.seq} ({m.kind}): unusable content ({exc})")
                continue
            chosen.append(m)
        return alerts, sessions, chosen

    # -- alerts and sessions: one multi-row upsert each ---------------------------------------------------------

    def _alert_values(self, m: CentralMessage) -> dict[str, Any]:
        row = self._row_values(self._alert_fields, m)
        row["origin"] = row.get("origin") or "sensor"
        return row

    def _row_values(self, fields: list[Any], m: CentralMessage) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for f in fields:
            if f.column == "site":
                row["site"] = m.site
            elif f.attname in m.data:
                row[f.column] = _value(f.attname, m.data[f.attname])
            elif f.has_default():
                row[f.column] = f.get_default()
            elif not f.null:
                raise KeyError(f"{m.site} #{m.seq} ({m.kind}) has no {f.attname}")
            else:
                row[f.column] = None
        return row

    def _upsert_alerts(self, rows: list[dict[str, Any]]) -> int:
        """Upsert the alerts; returns how many were new (counted into the hourly roll-up)."""
        from django.db.models import F

        from mamori.storage.models import AlertHourly, AlertRecord

        uids = [r["uid"] for r in rows]
        known = set(AlertRecord.objects.using(self.alias).filter(uid__in=uids).values_list("uid", flat=True))
        self._upsert("mamori_alert", self._alert_fields, rows, "first_seen", guard='"updated_at"', status=True)
        groups: dict[tuple[dt.datetime, str, int], int] = {}
        for r in rows:
            if r["uid"] not in known:
                hour = r["first_seen"].astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
                key = (hour, r["rule"], int(r["severity"]))
                groups[key] = groups.get(key, 0) + 1
        manager = AlertHourly.objects.using(self.alias)
        for (hour, rule, severity), n in groups.items():
            if not manager.filter(hour=hour, rule=rule, severity=severity).update(count=F("count") + n):
                manager.create(hour=hour, rule=rule, severity=severity, count=n)
        return sum(groups.values())

    def _upsert(
        self,
        table: str,
        fields: list[Any],
        rows: list[dict[str, Any]],
        time_column: str,
        *,
        guard: str,
        status: bool = False,
    ) -> None:
        if self.partitioned:
            months = {r[time_column].astimezone(dt.UTC).date().replace(day=1) for r in rows}
            ensure_partitions(self.alias, table, months, self._partitions)
            target = f'("uid", "{time_column}")'
        else:
            target = '("uid")'
        columns = [f.column for f in fields]
        fixed = {"uid", time_column, "created_at", "site"}
        sets = []
        for c in columns:
            if c in fixed:
                continue
            if status and c in _ALERT_STATUS:
                newer = (
                    'excluded."status_changed_at" IS NOT NULL AND (T."status_changed_at" IS NULL OR '
                    'excluded."status_changed_at" > T."status_changed_at")'
                )
                sets.append(f'"{c}" = CASE WHEN {newer} THEN excluded."{c}" ELSE T."{c}" END')
            else:
                sets.append(f'"{c}" = excluded."{c}"')
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        quoted = ", ".join(f'"{c}"' for c in columns)
        by_column = {f.column: f for f in fields}
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), 500):
                chunk = rows[start : start + 500]
                params: list[Any] = []
                for r in chunk:
                    params.extend(by_column[c].get_db_prep_save(r[c], self.connection) for c in columns)
                sql = (
                    f'INSERT INTO "{table}" AS T ({quoted}) VALUES '  # noqa: S608 - names from the models
                    + ", ".join([placeholders] * len(chunk))
                    + f" ON CONFLICT {target} DO UPDATE SET "
                    + ", ".join(sets)
                    + f" WHERE excluded.{guard} >= T.{guard}"
                )
                cursor.execute(sql, params)

    # -- health, ledger, sites ---------------------------------------------------------------------------------

    def _health(self, m: CentralMessage) -> None:
        from mamori.storage.models import CentralSensorStatus

        values = {k: _value(k, v) for k, v in m.data.items() if k not in ("id", "name")}
        manager = CentralSensorStatus.objects.using(self.alias)
        row = manager.select_for_update().filter(site=m.site, name=m.data["name"]).first()
        if row is None:
            manager.create(site=m.site, name=m.data["name"], **values)
        elif values["updated_at"] >= row.updated_at:
            manager.filter(pk=row.pk).update(**values)

    def _terminal(self, m: CentralMessage) -> None:
        from mamori.storage.models import CentralTerminal

        manager = CentralTerminal.objects.using(self.alias)
        local_id = int(m.data["local_id"])
        if m.data.get("deleted"):
            manager.filter(site=m.site, local_id=local_id).update(deleted=True)
            return
        keep = ("system", "name", "mac", "ip", "note", "source", "updated_at", "retired_at")
        values = {k: _value(k, m.data.get(k)) for k in keep}
        values["deleted"] = False
        row = manager.select_for_update().filter(site=m.site, local_id=local_id).first()
        if row is None:
            manager.create(site=m.site, local_id=local_id, **values)
        elif values["updated_at"] >= row.updated_at:
            manager.filter(pk=row.pk).update(**values)

    def _sites(self, messages: Sequence[CentralMessage]) -> None:
        from django.db.models import F
        from django.db.models.functions import Greatest

        from mamori.storage.models import CentralSite

        now = dt.datetime.now(tz=dt.UTC)
        per_site: dict[str, tuple[int, int]] = {}
        for m in messages:
            n, seq = per_site.get(m.site, (0, 0))
            per_site[m.site] = (n + 1, max(seq, m.seq))
        manager = CentralSite.objects.using(self.alias)
        for site, (n, seq) in per_site.items():
            updated = manager.filter(site=site).update(
                last_message_at=now, last_seq=Greatest(F("last_seq"), seq), messages=F("messages") + n
            )
            if not updated:
                manager.create(site=site, first_message_at=now, last_message_at=now, last_seq=seq, messages=n)

    # -- silent sensors -----------------------------------------------------------------------------------------

    def check_silence(self, after: float, now: dt.datetime | None = None) -> Silence:
        """Raise one ``sensor-silent`` alert per site heard from no longer than ``after`` seconds ago (no message
        of any kind), and per capture source whose health was not updated for as long at a site that still speaks;
        update it at each check while the silence lasts, resolve it when messages come again. One transaction."""
        from django.db import DatabaseError, transaction

        from mamori.storage.models import AlertRecord, CentralSensorStatus, CentralSite

        now = now or dt.datetime.now(tz=dt.UTC)
        limit = now - dt.timedelta(seconds=after)
        done = Silence()
        try:
            with transaction.atomic(using=self.alias):
                heard: dict[str, dt.datetime] = {}  # key -> its last message
                silent: set[str] = set()
                sites = dict(CentralSite.objects.using(self.alias).values_list("site", "last_message_at"))
                for site, last in sites.items():
                    heard[site] = last
                    if last < limit:
                        silent.add(site)
                sources = CentralSensorStatus.objects.using(self.alias).values_list("site", "name", "updated_at")
                for site, name, updated in sources:
                    key = f"{site}/{name}"
                    heard[key] = updated
                    if updated < limit:
                        silent.add(key)
                episodes = {
                    a.key: a
                    for a in AlertRecord.objects.using(self.alias)
                    .filter(rule=SILENT_RULE)
                    .exclude(status__in=("resolved", "false_positive"))
                    .order_by("first_seen")
                }
                rows: list[dict[str, Any]] = []
                for key in sorted(silent):
                    site, _, source = key.partition("/")
                    if source and site in silent and key not in episodes:
                        continue  # the whole site is silent: its one alert says so
                    rows.append(self._silent_row(episodes.get(key), site, source, heard[key], after, now))
                    (done.updated if key in episodes else done.raised).append(key)
                for key, episode in episodes.items():
                    if key not in silent:
                        resumed = heard.get(key)
                        rows.append(self._resolved_row(episode, resumed, now))
                        done.resolved.append(key)
                if rows:
                    self._upsert_alerts(rows)
        except DatabaseError as exc:
            raise StorageError(f"cannot check the sites' silence in {self.store.path}: {exc}") from exc
        return done

    def _silent_row(
        self, episode: Any, site: str, source: str, last: dt.datetime, after: float, now: dt.datetime
    ) -> dict[str, Any]:
        from mamori.model import Alert, Severity

        details = {
            "site": site,
            "packet_source": source or None,
            "last_message": _local(last),
            "silent_minutes": round((now - last).total_seconds() / 60.0, 1),
            "threshold_minutes": round(after / 60.0, 1),
        }
        alert = Alert(
            uid=episode.uid if episode is not None else uuid.uuid4().hex,
            rule=SILENT_RULE,
            key=f"{site}/{source}" if source else site,
            severity=Severity.HIGH,
            first_seen=episode.first_seen.timestamp() if episode is not None else now.timestamp(),
            last_seen=now.timestamp(),
            count=(episode.count + 1) if episode is not None else 1,
            details=details,
        )
        return self._alert_row(alert, site, now, None, episode)

    def _resolved_row(self, episode: Any, resumed: dt.datetime | None, now: dt.datetime) -> dict[str, Any]:
        from mamori.model import Alert, Severity

        details = dict(episode.details)
        details["resumed_at"] = _local(resumed or now)
        alert = Alert(
            uid=episode.uid,
            rule=SILENT_RULE,
            key=episode.key,
            severity=Severity(episode.severity),
            first_seen=episode.first_seen.timestamp(),
            last_seen=episode.last_seen.timestamp(),
            count=episode.count,
            details=details,
        )
        return self._alert_row(alert, episode.site, now, "resolved", episode)

    def _alert_row(self, alert: Any, site: str, now: dt.datetime, status: str | None, episode: Any) -> dict[str, Any]:
        from mamori.model import ALERT_FIELDS
        from mamori.rules import render

        data: dict[str, Any] = {name: getattr(alert, name) for name in ALERT_FIELDS if name not in ("details",)}
        data["severity"] = int(alert.severity)
        data["samples"] = []
        for name in ("first_seen", "last_seen"):
            data[name] = dt.datetime.fromtimestamp(data[name], tz=dt.UTC)
        if episode is not None:  # its stored times exactly (the partition key is part of the row's identity)
            data["first_seen"] = episode.first_seen
            if status is not None:
                data["last_seen"] = episode.last_seen
        data.update(
            details=render.typed_details(alert).to_json(),
            summary_ja=render.summary(alert, "ja"),
            summary_en=render.summary(alert, "en"),
            origin="central",
            created_at=now,
            updated_at=now,
        )
        if status is not None:
            data.update(status=status, status_changed_at=now, status_by="mamori central")
        return self._alert_values(CentralMessage(site=site, seq=0, kind="alert", data=data))

    # -- reading -------------------------------------------------------------------------------------------------

    def sites(self) -> list[SiteView]:
        from django.db.models import Count, Q

        from mamori.storage.models import AlertRecord, CentralSite

        counts = {
            row["site"]: (row["n"], row["open"])
            for row in AlertRecord.objects.using(self.alias)
            .exclude(site="")
            .values("site")
            .annotate(n=Count("id"), open=Count("id", filter=Q(status="open")))
        }
        return [
            SiteView(s.site, s.last_message_at.timestamp(), s.messages, *counts.get(s.site, (0, 0)))
            for s in CentralSite.objects.using(self.alias).order_by("site")
        ]


def _local(when: dt.datetime) -> str:
    """``2026-12-05 16:38:09 +09:00``: this machine's time zone, seconds, with the offset."""
    text = when.astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
    return text[:-2] + ":" + text[-2:]
