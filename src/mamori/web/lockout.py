"""Failed logins: what is locked, and which addresses are throttled.

django-axes counts failures per user name *and* address (``AXES_LOCKOUT_PARAMETERS``): someone on the LAN who
types the administrator's name with wrong passwords locks that name only from their own address, never the
administrator at their desk. An address that fails across accounts (a password sprayed over every user name, one
try each) is throttled here: once its failures within the cool-off reach ``web.lockout.address_failures``, every
login from it is refused until the cool-off has passed, whatever the name and password.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Max, Sum
from django.http import HttpRequest
from django.utils import timezone

from mamori.storage.models import AuditEntry
from mamori.web.apps import dashboard
from mamori.web.audit import client_ip

__all__ = ["AddressState", "LockedPair", "address_failures", "locked_pairs", "note_throttle", "throttled_addresses"]

THROTTLE_ACTION = "address-throttle"


@dataclass(frozen=True)
class LockedPair:
    username: str
    ip_address: str
    failures: int
    last: dt.datetime


@dataclass(frozen=True)
class AddressState:
    ip_address: str
    accounts: int  # distinct user names tried
    failures: int
    last: dt.datetime


def _since() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=dashboard().web.lockout.cooloff)


def address_failures(ip: str) -> int:
    """Failed logins from ``ip`` within the cool-off, over every user name (axes' records, reset per user name by
    a successful login of that user)."""
    from axes.models import AccessAttempt

    attempts = AccessAttempt.objects.filter(ip_address=ip, attempt_time__gte=_since())
    return int(attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0)


def is_throttled(request: HttpRequest) -> bool:
    return address_failures(client_ip(request)) >= dashboard().web.lockout.address_failures


def note_throttle(request: HttpRequest) -> None:
    """One audit entry per throttled address and cool-off (not one per refused attempt)."""
    ip = client_ip(request)
    if not AuditEntry.objects.filter(action=THROTTLE_ACTION, target=ip, ts__gte=_since()).exists():
        failures = address_failures(ip)
        AuditEntry.objects.create(user="", action=THROTTLE_ACTION, target=ip, detail=f"{failures} failed logins", ip=ip)


def locked_pairs(limit: int = 100) -> list[LockedPair]:
    """The user names locked, each with the address it is locked from."""
    from axes.models import AccessAttempt

    failures = dashboard().web.lockout.failures
    rows = (
        AccessAttempt.objects.filter(attempt_time__gte=_since())
        .values("username", "ip_address")
        .annotate(n=Sum("failures_since_start"), last=Max("attempt_time"))
        .filter(n__gte=failures)
        .order_by("-last")[:limit]
    )
    return [LockedPair(r["username"] or "", r["ip_address"] or "", r["n"], r["last"]) for r in rows]


def throttled_addresses(limit: int = 100) -> list[AddressState]:
    """The addresses whose failures over all accounts reached the address limit."""
    from axes.models import AccessAttempt

    threshold = dashboard().web.lockout.address_failures
    rows = (
        AccessAttempt.objects.filter(attempt_time__gte=_since())
        .values("ip_address")
        .annotate(n=Sum("failures_since_start"), accounts=Count("username", distinct=True), last=Max("attempt_time"))
        .filter(n__gte=threshold)
        .order_by("-last")[:limit]
    )
    return [AddressState(r["ip_address"] or "", r["accounts"], r["n"], r["last"]) for r in rows]
