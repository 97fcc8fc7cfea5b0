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

__all__ = ["audit_view", "security_view", "users_view"]

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


def users_view(request: HttpRequest) -> HttpResponse:
    """The accounts and their roles: on every site (a group role), or per site on the central server. A group
    administrator binds a user to a site with a role, removes a binding, or gives a role on every site."""
    if not is_admin(request.user):
        raise PermissionDenied(_("Administrators only."))
    from django.contrib import messages
    from django.contrib.auth import get_user_model
    from django.shortcuts import redirect

    from mamori.web.accounts import UnknownSite, bind_sites, known_site_names, set_group_role, unbind_sites
    from mamori.web.audit import audit
    from mamori.web.roles import ROLES, SITE, role_of, scope_of

    model = get_user_model()
    if request.method == "POST":
        account = model.objects.filter(username=request.POST.get("user", "")).first()
        action, site, role = (request.POST.get(k, "") for k in ("action", "site", "role"))
        if account is None or action not in ("bind", "unbind", "group") or (action != "unbind" and role not in ROLES):
            return HttpResponse(_("Unknown user or action."), status=400)
        if account == request.user:  # nor demote oneself to viewer: the last administrator would lock everyone out
            messages.error(request, _("You cannot change your own account's role: ask another administrator."))
            return redirect("/admin/users/")
        try:
            if action == "bind":
                bind_sites(account, {site: role})
            elif action == "unbind":
                unbind_sites(account, [site])
            else:
                set_group_role(account, role)
        except UnknownSite:
            return HttpResponse(_("No such site."), status=400)
        audit(request, f"user.{action}", account.get_username(), f"site={site} role={role}")
        return redirect("/admin/users/")
    rows = []
    for account in model.objects.order_by("username"):
        rows.append(
            {
                "name": account.get_username(),
                "role": role_of(account),
                "sites": sorted((scope_of(account).sites or {}).items()) if role_of(account) == SITE else [],
                "last_login": account.last_login,
            }
        )
    return render(
        request,
        "mamori/users.html",
        {"nav": "admin", "rows": rows, "known_sites": known_site_names(), "roles": ROLES},
    )
