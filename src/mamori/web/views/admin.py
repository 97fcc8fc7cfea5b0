"""For administrators: the audit log and the login security events (failures, locked user names and addresses,
throttled addresses)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mamori.storage import SENSOR
from mamori.storage.models import AuditEntry
from mamori.web import lockout
from mamori.web.apps import dashboard
from mamori.web.roles import is_admin

__all__ = ["audit_view", "security_view"]

# What the sensor's entries (and the dashboard's release request) mean, in the reader's language; other actions are
# shown by their name. The entries themselves keep the code (mamori.storage.audit).
_ACTION_WORDS = {
    "block.blocked": gettext_lazy("Device blocked"),
    "block.dry-run": gettext_lazy("Block recorded in dry run (nothing cut off)"),
    "block.refused": gettext_lazy("Block refused by a safety rule"),
    "block.failed": gettext_lazy("Block failed"),
    "block.released": gettext_lazy("Block released"),
    "block.release-failed": gettext_lazy("Release of a block failed"),
    "block.release": gettext_lazy("Release of a block requested"),
}
_USER_WORDS = {
    SENSOR: gettext_lazy("Sensor (mamori watch)"),
    "(cli)": gettext_lazy("Command line (mamori)"),
}


def audit_view(request: HttpRequest) -> HttpResponse:
    if not is_admin(request.user):
        raise PermissionDenied(_("Administrators only."))
    page = Paginator(AuditEntry.objects.order_by("-ts", "-id"), 100).get_page(request.GET.get("page"))
    rows = [
        {"e": e, "action": _ACTION_WORDS.get(e.action, e.action), "user": _USER_WORDS.get(e.user, e.user)}
        for e in page.object_list
    ]
    return render(request, "mamori/audit.html", {"nav": "admin", "page": page, "rows": rows})


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
