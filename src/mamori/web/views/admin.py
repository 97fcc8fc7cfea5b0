"""For administrators: the audit log and the login security events (failures, locked user names and addresses,
throttled addresses)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from mamori.web import lockout
from mamori.web.apps import dashboard
from mamori.web.models import AuditEntry
from mamori.web.roles import is_admin

__all__ = ["audit_view", "security_view"]


def audit_view(request: HttpRequest) -> HttpResponse:
    if not is_admin(request.user):
        raise PermissionDenied(_("Administrators only."))
    page = Paginator(AuditEntry.objects.order_by("-ts", "-id"), 100).get_page(request.GET.get("page"))
    return render(request, "mamori/audit.html", {"nav": "admin", "page": page})


def security_view(request: HttpRequest) -> HttpResponse:
    if not is_admin(request.user):
        raise PermissionDenied(_("Administrators only."))
    from axes.models import AccessAttempt, AccessFailureLog

    limits = dashboard().web.lockout
    events = AuditEntry.objects.filter(action__in=("lockout", lockout.THROTTLE_ACTION)).order_by("-ts")[:100]
    return render(
        request,
        "mamori/security.html",
        {
            "nav": "admin",
            "limits": limits,
            "locked_pairs": lockout.locked_pairs(),
            "throttled": lockout.throttled_addresses(),
            "locked": AccessAttempt.objects.order_by("-attempt_time")[:100],
            "failures": AccessFailureLog.objects.order_by("-attempt_time")[:200],
            "lockouts": events,
        },
    )
