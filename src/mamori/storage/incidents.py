"""Incidents in the store: the grouper's state loaded from and saved to ``mamori_incident``, inside the transaction
that writes a batch of alerts (docs/design.md §10, "Incidents"), and the incidents read back for the CLI.

Each write takes the next ``revision``; before grouping a batch, a writer loads the incidents whose revision is
newer than the last it saw, so the packet sensor, the log collector and the one-off commands group into the same
incidents. SQLite's write transactions are IMMEDIATE (storage/setup.py): one writer at a time, so the revisions
and the grouping are never interleaved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mamori.incidents import Grouping, Incident, IncidentGrouper
from mamori.model import Severity

__all__ = ["HANDLED", "IncidentRow", "IncidentSync", "incident_rows", "refresh_incidents"]

# Alert states in which nobody needs to act any more: an incident whose alerts are all in them is closed.
HANDLED = ("resolved", "false_positive")


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


@dataclass(frozen=True)
class IncidentRow:
    """An incident as the CLI shows it: its facts, and the rules of its alerts in the order they began."""

    uid: str
    status: str
    severity: Severity
    first_seen: float
    last_seen: float
    alert_count: int
    keys: tuple[str, ...]
    rules: tuple[str, ...]
    alert_uids: tuple[str, ...]


def _incident(row: Any) -> Incident:
    return Incident(
        uid=row.uid,
        first_seen=row.first_seen.timestamp(),
        last_seen=row.last_seen.timestamp(),
        severity=Severity(row.severity),
        keys=tuple(row.keys or ()),
        merged_into=row.merged_into,
    )


class IncidentSync:
    """One writer's link between its grouper and the table: ``load`` what changed since it last looked, ``save``
    what a batch changed. Called inside the caller's transaction."""

    def __init__(self, alias: str, grouper: IncidentGrouper) -> None:
        from mamori.storage.models import IncidentRecord

        self.alias = alias
        self.grouper = grouper
        self.revision: int | None = None  # None: nothing loaded yet
        self._Incident = IncidentRecord

    def _manager(self) -> Any:
        return self._Incident.objects.using(self.alias)

    def load(self) -> None:
        from django.db.models import Max

        manager = self._manager()
        newest = manager.aggregate(r=Max("revision"))["r"] or 0
        if self.revision is None:  # the start (or a restart): the incidents active most recently, up to the bound
            rows = manager.exclude(status="merged").order_by("-last_seen", "-id")[: self.grouper.rules.max_open]
            self.grouper.sync(_incident(r) for r in reversed(list(rows)))
        elif newest > self.revision:
            rows = manager.filter(revision__gt=self.revision).order_by("revision", "id")
            self.grouper.sync(_incident(r) for r in rows.iterator(chunk_size=2000))
        self.revision = newest

    def save(self, grouping: Grouping, alerts: Any) -> None:
        """Write what ``grouping`` changed: the incidents grown or made, the merged ones pointing at their survivor
        and their alerts moved to it; then each touched incident's figures and status from its alerts."""
        if not grouping.incidents and not grouping.merged:
            return
        from django.db.models import Max

        manager = self._manager()
        revision = (manager.aggregate(r=Max("revision"))["r"] or 0) + 1
        now = dt.datetime.now(tz=dt.UTC)
        for old, new in grouping.merged.items():
            alerts.filter(incident_uid=old).update(incident_uid=new)
            manager.filter(uid=old).update(status="merged", merged_into=new, revision=revision, updated_at=now)
        rows = [
            self._Incident(
                uid=i.uid,
                first_seen=_utc(i.first_seen),
                last_seen=_utc(i.last_seen),
                severity=int(i.severity),
                keys=list(i.keys),
                status="open",
                revision=revision,
                created_at=now,
                updated_at=now,
            )
            for i in grouping.incidents.values()
        ]
        manager.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["uid"],
            update_fields=["first_seen", "last_seen", "severity", "keys", "revision", "updated_at", "merged_into"],
        )
        refresh_incidents(self.alias, list(grouping.incidents))
        self.revision = revision


def refresh_incidents(alias: str, uids: Sequence[str]) -> None:
    """Recount incidents from their alerts: how many, when first and last seen, the highest severity, and whether
    any is still to be handled (open or acknowledged: the incident is open) or all are handled (closed). Called
    after a batch is written and after an alert's handling changes."""
    from django.db.models import Count, Max, Min, Q

    from mamori.storage.models import AlertRecord, IncidentRecord

    alerts = AlertRecord.objects.using(alias)
    incidents = IncidentRecord.objects.using(alias)
    for start in range(0, len(uids), 500):
        chunk = list(uids[start : start + 500])
        figures = (
            alerts.filter(incident_uid__in=chunk)
            .values("incident_uid")
            .annotate(
                n=Count("id"),
                first=Min("first_seen"),
                last=Max("last_seen"),
                severity=Max("severity"),
                pending=Count("id", filter=~Q(status__in=HANDLED)),
            )
        )
        for f in figures:
            incidents.filter(uid=f["incident_uid"]).exclude(status="merged").update(
                alert_count=f["n"],
                first_seen=f["first"],
                last_seen=f["last"],
                severity=f["severity"],
                status="open" if f["pending"] else "closed",
            )


def incident_rows(
    alias: str, *, open_only: bool = False, uid: str | None = None, limit: int | None = None
) -> list[IncidentRow]:
    """Incidents for the CLI: open ones first, then the most recent; each with the rules of its alerts."""
    from django.db.models import Case, IntegerField, Value, When

    from mamori.storage.models import AlertRecord, IncidentRecord

    qs = IncidentRecord.objects.using(alias).exclude(status="merged")
    if uid is not None:
        qs = qs.filter(uid=uid)
    if open_only:
        qs = qs.filter(status="open")
    qs = qs.annotate(closed=Case(When(status="open", then=Value(0)), default=Value(1), output_field=IntegerField()))
    qs = qs.order_by("closed", "-last_seen", "-id")
    rows = list(qs[:limit] if limit else qs)
    members: dict[str, list[tuple[str, str]]] = {r.uid: [] for r in rows}
    uids = list(members)
    for start in range(0, len(uids), 500):
        found = (
            AlertRecord.objects.using(alias)
            .filter(incident_uid__in=uids[start : start + 500])
            .order_by("first_seen", "id")
            .values_list("incident_uid", "rule", "uid")
        )
        for incident, rule, alert_uid in found:
            members[str(incident)].append((rule, alert_uid))
    return [
        IncidentRow(
            uid=r.uid,
            status=r.status,
            severity=Severity(r.severity),
            first_seen=r.first_seen.timestamp(),
            last_seen=r.last_seen.timestamp(),
            alert_count=r.alert_count,
            keys=tuple(r.keys or ()),
            rules=tuple(dict.fromkeys(rule for rule, _ in members[r.uid])),
            alert_uids=tuple(a for _, a in members[r.uid]),
        )
        for r in rows
    ]
