"""The dashboard's reads: filters from the query string, the overview's figures, one alert with its history.

Every list is served by an index (see storage/models.py) and the chart by the hourly roll-up, never by scanning
the raw alert rows, so pages stay fast with a million alerts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.http import QueryDict
from django.utils import timezone

from mamori.config import normalize_mac, redact_secrets
from mamori.model import Severity
from mamori.rules import catalogue
from mamori.storage.models import (
    AlertHandling,
    AlertHourly,
    AlertRecord,
    CentralSensorStatus,
    CentralSite,
    DeliveryRecord,
    IncidentRecord,
    SelfCheckRecord,
    SensorStatus,
)
from mamori.web.apps import dashboard

__all__ = [
    "STATUSES",
    "AlertQuery",
    "Sites",
    "alert_detail",
    "incident_detail",
    "incidents",
    "known_sites",
    "overview",
    "visible_alerts",
]

# The sites a reader may see: None for every site (a group role, or a sensor's own dashboard), else the sites a
# user is bound to (mamori.web.roles.Scope.visible). Every read below takes it, so no page can forget the filter.
Sites = list[str] | None


def visible_alerts(sites: Sites = None) -> QuerySet[AlertRecord]:
    qs = AlertRecord.objects.all()
    return qs if sites is None else qs.filter(site__in=sites)


STATUSES = ("open", "acknowledged", "resolved", "false_positive")


def _date(text: str | None, *, end: bool = False) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if len(text) <= 10 and end:  # a date alone: up to the end of that day
        value += dt.timedelta(days=1)
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@dataclass(frozen=True)
class AlertQuery:
    """The alert list's filters, as the query string gives them (unknown or broken values are ignored)."""

    rule: str = ""
    severity: str = ""
    system: str = ""
    terminal: str = ""
    status: str = ""
    since: str = ""
    until: str = ""
    site: str = ""  # the central server: one site's alerts (docs/design.md §10, central)
    allowed: tuple[str, ...] | None = field(default=None, repr=False)  # the reader's sites (None: all)

    @classmethod
    def from_params(cls, params: QueryDict, sites: Sites = None) -> AlertQuery:
        def pick(name: str, allowed: tuple[str, ...] | None = None) -> str:
            value = (params.get(name) or "").strip()[:200]
            return value if allowed is None or value in allowed else ""

        return cls(
            rule=pick("rule", catalogue().ids()),
            severity=pick("severity", tuple(s.label for s in Severity)),
            system=pick("system"),
            terminal=pick("terminal"),
            status=pick("status", STATUSES),
            since=pick("since"),
            until=pick("until"),
            site=pick("site", tuple(known_sites(sites))),
            allowed=None if sites is None else tuple(sites),
        )

    def queryset(self) -> QuerySet[AlertRecord]:
        qs = visible_alerts(None if self.allowed is None else list(self.allowed))
        if self.rule:
            qs = qs.filter(rule=self.rule)
        if self.severity:
            floor = Severity.parse(self.severity)
            # An IN list of the levels, not ">=": SQLite then walks the index instead of sorting the matches.
            qs = qs.filter(severity__in=[int(s) for s in Severity if s >= floor])
        if self.system:
            qs = qs.filter(system=self.system)
        if self.terminal:
            try:
                qs = qs.filter(src_mac=normalize_mac(self.terminal))  # 02-66-..., 0266.00.., upper case: all one
            except ValueError:
                qs = qs.filter(src_ip=self.terminal)
        if self.status:
            qs = qs.filter(status=self.status)
        if self.site:
            qs = qs.filter(site=self.site)
        since = _date(self.since)
        if since is not None:
            qs = qs.filter(last_seen__gte=since)
        until = _date(self.until, end=True)
        if until is not None:
            qs = qs.filter(first_seen__lt=until)
        return qs.order_by("-last_seen", "-id")

    def as_params(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v and k != "allowed"}

    @property
    def active(self) -> bool:
        return bool(self.as_params())


def known_sites(sites: Sites = None) -> list[str]:
    """The sites the central server has heard from (none on a sensor's own dashboard), those of ``sites`` only."""
    qs = CentralSite.objects.order_by("site")
    if sites is not None:
        qs = qs.filter(site__in=sites)
    return list(qs.values_list("site", flat=True))


def sites_overview(sites: Sites = None, *, silent_after: float = 600.0) -> list[dict[str, Any]]:
    """Every site on the central server (of ``sites``): its last message, its alerts (open and serious), its
    sources' health; silent when nothing came from it for ``silent_after`` seconds (``central.silent_after``, the
    same time after which the consumer raises sensor-silent)."""
    counts: dict[str, dict[str, int]] = {}
    serious = [int(s) for s in Severity if s >= Severity.HIGH]
    rows = (
        visible_alerts(sites)
        .exclude(site="")
        .values("site")
        .annotate(
            total=Count("id"),
            open=Count("id", filter=Q(status="open")),
            serious=Count("id", filter=Q(status="open", severity__in=serious)),
        )
    )
    for row in rows:
        counts[row["site"]] = row
    sources: dict[str, list[CentralSensorStatus]] = {}
    health = CentralSensorStatus.objects.order_by("site", "name")
    listed = CentralSite.objects.order_by("site")
    if sites is not None:
        health, listed = health.filter(site__in=sites), listed.filter(site__in=sites)
    for h in health:
        sources.setdefault(h.site, []).append(h)
    now = timezone.now()
    return [
        {
            "site": s.site,
            "last_message_at": s.last_message_at,
            "silent": (now - s.last_message_at).total_seconds() > silent_after,
            "messages": s.messages,
            "total": counts.get(s.site, {}).get("total", 0),
            "open": counts.get(s.site, {}).get("open", 0),
            "serious": counts.get(s.site, {}).get("serious", 0),
            "sources": sources.get(s.site, []),
        }
        for s in listed
    ]


def _per_day(since: dt.datetime, sites: Sites) -> dict[tuple[dt.date, int], int]:
    """New alerts per local day and severity: from the hourly roll-up for every site; for a reader bound to sites
    (the central server, PostgreSQL) from their sites' alert rows, by the site index."""
    from django.db.models.functions import TruncHour

    zone = timezone.get_current_timezone()
    rows: Any
    if sites is None:
        # Grouped by hour in SQL and into local days here: a date function in SQL would run Python per row.
        rows = AlertHourly.objects.filter(hour__gte=since).values("hour", "severity").annotate(n=Sum("count"))
    else:
        rows = (
            visible_alerts(sites)
            .filter(first_seen__gte=since)
            .annotate(hour=TruncHour("first_seen"))
            .values("hour", "severity")
            .annotate(n=Count("id"))
        )
    per_day: dict[tuple[dt.date, int], int] = {}
    for row in rows:
        key = (row["hour"].astimezone(zone).date(), row["severity"])
        per_day[key] = per_day.get(key, 0) + row["n"]
    return per_day


def overview(days: int = 30, sites: Sites = None, *, silent_after: float = 600.0) -> dict[str, Any]:
    """The figures of the overview page (of ``sites`` only when given)."""
    alerts = visible_alerts(sites)
    open_counts = dict(
        alerts.filter(status="open").values_list("severity").annotate(n=Count("id")).values_list("severity", "n")
    )
    by_severity = [(s, open_counts.get(int(s), 0)) for s in sorted(Severity, reverse=True)]
    since = timezone.now() - dt.timedelta(days=days)
    per_day = _per_day(since, sites)
    today = timezone.localdate()
    day_list = [today - dt.timedelta(days=i) for i in range(days - 1, -1, -1)]
    chart = {
        "labels": [d.strftime("%m/%d") for d in day_list],
        "series": [
            {"severity": s.label, "data": [per_day.get((d, int(s)), 0) for d in day_list]}
            for s in sorted(Severity, reverse=True)
        ],
    }
    serious = [int(s) for s in Severity if s >= Severity.HIGH]
    attention = alerts.filter(status="open", severity__in=serious).order_by("-severity", "-last_seen")[:8]
    newest = alerts.order_by("-last_seen", "-id")[:10]
    open_incidents = incidents(sites).filter(status="open")
    return {
        "incidents": with_rules(list(open_incidents[:8])),
        "open_incidents": open_incidents.count(),
        "by_severity": by_severity,
        "open_total": sum(n for _, n in by_severity),
        "chart": chart,
        "attention": list(attention),
        "newest": list(newest),
        # the box's own capture sources and self-check: the central box's, no site's (a site's are in "sites")
        "health": list(SensorStatus.objects.order_by("name")) if sites is None else [],
        "self_check": list(SelfCheckRecord.objects.order_by("id")) if sites is None else [],
        "sites": sites_overview(sites, silent_after=silent_after),
    }


def incidents(sites: Sites = None) -> QuerySet[IncidentRecord]:
    """Incidents, open ones first (the most serious, then the most recent), then the closed ones; merged ones are
    not listed: their survivor holds their alerts. Of ``sites``: those with an alert of those sites."""
    from django.db.models import Case, IntegerField, Value, When

    closed = Case(When(status="open", then=Value(0)), default=Value(1), output_field=IntegerField())
    qs = IncidentRecord.objects.all()
    if sites is not None:
        qs = qs.filter(uid__in=visible_alerts(sites).exclude(incident_uid=None).values("incident_uid"))
    return qs.exclude(status="merged").annotate(closed=closed).order_by("closed", "-severity", "-last_seen", "-id")


def with_rules(rows: list[IncidentRecord]) -> list[IncidentRecord]:
    """Give each incident the rules of its alerts in the order they began (``rules``): the story in titles."""
    found: dict[str, list[str]] = {r.uid: [] for r in rows}
    if found:
        members = AlertRecord.objects.filter(incident_uid__in=list(found)).order_by("first_seen", "id")
        for incident, rule in members.values_list("incident_uid", "rule"):
            found[str(incident)].append(rule)
    for r in rows:
        r.rules = list(dict.fromkeys(found[r.uid]))  # type: ignore[attr-defined]
    return rows


def incident_detail(uid: str, sites: Sites = None) -> dict[str, Any] | None:
    """One incident and its alerts in the order they began (every alert, each a step of the story)."""
    record = IncidentRecord.objects.filter(uid=uid).first()
    if record is None or (sites is not None and not visible_alerts(sites).filter(incident_uid=uid).exists()):
        return None
    alerts = list(visible_alerts(sites).filter(incident_uid=uid).order_by("first_seen", "id"))
    return {"incident": record, "alerts": alerts}


def alert_detail(uid: str, sites: Sites = None) -> dict[str, Any] | None:
    """One alert with its handling, deliveries, incident and related alerts; None when absent or not of
    ``sites`` (the reader cannot tell which)."""
    record = visible_alerts(sites).filter(uid=uid).first()
    if record is None:
        return None
    incident = IncidentRecord.objects.filter(uid=record.incident_uid).first() if record.incident_uid else None
    deliveries = list(DeliveryRecord.objects.filter(alert_uid=uid).order_by("ts", "id")[:200])
    actions = dashboard().actions
    for d in deliveries:  # records written before webhook URLs were kept out of them: shown redacted too
        d.detail = redact_secrets(d.detail, actions)
    return {
        "alert": record,
        "handling": list(AlertHandling.objects.filter(alert_uid=uid).order_by("ts", "id")),
        "deliveries": deliveries,
        "related": related_alerts(record, sites),
        "incident": incident,
    }


_RELATED_SHOWN = 20


def related_alerts(record: AlertRecord, sites: Sites = None) -> list[AlertRecord]:
    """Other alerts of the same source (its MAC, unless it is a router's, or its IP), newest first: the steps of one
    attack (a scan, then an unregistered connection, then a flood) read together."""
    gateways = {g.mac for g in dashboard().site.gateways}
    match = Q()
    if record.src_mac and record.src_mac not in gateways:
        match |= Q(src_mac=record.src_mac)
    if record.src_ip:
        match |= Q(src_ip=record.src_ip)
    if not match:
        return []
    # the same site's only: two hospitals' 10.0.0.5 are two machines (on a sensor every site is "")
    others = visible_alerts(sites).filter(match, site=record.site).exclude(uid=record.uid).order_by("-last_seen", "-id")
    return list(others[:_RELATED_SHOWN])
