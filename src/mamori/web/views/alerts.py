"""Alerts: the filtered list, one alert with its evidence and deliveries, and its handling."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import DEFAULT_DB_ALIAS, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mamori.model import Severity
from mamori.rules import catalogue
from mamori.storage import refresh_incidents
from mamori.storage.models import AlertHandling, AlertRecord
from mamori.web.apps import dashboard
from mamori.web.audit import audit
from mamori.web.queries import STATUSES, AlertQuery, alert_detail, known_sites
from mamori.web.roles import scope_of

__all__ = ["alert_action", "alert_detail_view", "alert_list", "register_terminal"]

# What a source must not have done before an administrator registers it in one click (as `mamori learn` declines
# a source that raised these while learning).
_SUSPECT_RULES = ("port-scan", "syn-flood", "ip-mac-conflict")
_ACTIONS = {
    "acknowledge": "acknowledged",
    "resolve": "resolved",
    "false_positive": "false_positive",
    "reopen": "open",
}


def alert_list(request: HttpRequest) -> HttpResponse:
    sites = scope_of(request.user).visible
    query = AlertQuery.from_params(request.GET, sites)
    paginator = Paginator(query.queryset(), dashboard().web.page_size)
    page = paginator.get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "nav": "alerts",
        "page": page,
        "query": query,
        "params": query.as_params(),
        "rules": catalogue().ids(),
        "severities": [s.label for s in sorted(Severity, reverse=True)],
        "statuses": STATUSES,
        "systems": [s.name for s in dashboard().site.systems],
        "sites": known_sites(sites),
    }
    template = "mamori/alerts_table.html" if request.headers.get("HX-Request") else "mamori/alerts.html"
    return render(request, template, context)


def _visible(request: HttpRequest, uid: str) -> dict[str, Any]:
    """The alert with its history, if the user may see its site; 404 otherwise, as for an alert that does not exist
    (a 403 would tell a site's administrator that another site has it)."""
    data = alert_detail(uid, scope_of(request.user).visible)
    if data is None:
        raise Http404(_("No such alert."))
    return data


def _may_act(request: HttpRequest, alert: AlertRecord, message: str) -> None:
    if not scope_of(request.user).may_act(alert.site):
        raise PermissionDenied(message)


def alert_detail_view(request: HttpRequest, uid: str) -> HttpResponse:
    data = _visible(request, uid)
    alert: AlertRecord = data["alert"]
    registered = any(h.action == "register_terminal" for h in data["handling"])
    can_register = _registrable(alert) and not registered
    others = _other_alerts(alert) if can_register else []
    return render(
        request,
        "mamori/alert_detail.html",
        {
            **data,
            "nav": "alerts",
            "can_register": can_register,
            "others": others,
            "other_rules": _rule_names(others),
            "may_act": scope_of(request.user).may_act(alert.site),
        },
    )


@require_POST
def alert_action(request: HttpRequest, uid: str) -> HttpResponse:
    """Acknowledge, resolve (with a comment), mark as a false positive, or reopen. Administrators (of the alert's
    site) only."""
    data = _visible(request, uid)
    _may_act(request, data["alert"], _("Only an administrator can change alerts."))
    action = request.POST.get("action", "")
    if action not in _ACTIONS:
        return HttpResponse(_("Unknown action."), status=400)
    comment = (request.POST.get("comment") or "").strip()[:2000]
    if action == "resolve" and not comment:  # what was done; a false positive needs no such account
        return render(
            request,
            "mamori/alert_detail.html",
            {
                **data,
                "nav": "alerts",
                "may_act": True,
                "comment_error": _("Please write what was done (a comment)."),
            },
            status=400,
        )
    with transaction.atomic():
        changed = _set_status(uid, _ACTIONS[action], request.user.get_username(), comment, action)
    if not changed:
        raise Http404(_("No such alert."))
    audit(request, f"alert.{action}", uid, comment)
    return redirect(f"/alerts/{uid}/")


def _set_status(uid: str, status: str, user: str, comment: str, action: str) -> bool:
    now = timezone.now()
    changed = AlertRecord.objects.filter(uid=uid).update(
        status=status, status_changed_at=now, status_by=user, status_comment=comment
    )
    if changed:
        AlertHandling.objects.create(alert_uid=uid, ts=now, user=user, action=action, comment=comment)
        incident = AlertRecord.objects.filter(uid=uid).values_list("incident_uid", flat=True).first()
        if incident:  # the incident is open while any of its alerts is still to be handled
            refresh_incidents(DEFAULT_DB_ALIAS, [incident])
    return bool(changed)


def register_terminal(request: HttpRequest, uid: str) -> HttpResponse:
    """ "Register this terminal": the unregistered source of an alert becomes a registered terminal of its system,
    after the administrator confirms (GET shows what will be registered; POST does it)."""
    data = _visible(request, uid)
    alert: AlertRecord = data["alert"]
    _may_act(request, alert, _("Only an administrator can register terminals."))
    if not _registrable(alert):
        return HttpResponse(_("Only an unregistered terminal's alert can register its terminal."), status=400)
    by_ip = alert.details.get("reason") == "unregistered-ip"  # behind a router, or from a log: the IP is known
    proposal: dict[str, str] = {
        "system": alert.system or "",
        "mac": "" if by_ip else (alert.src_mac or ""),
        "ip": alert.src_ip or "",
        "name": (request.POST.get("name") or "").strip()[:200] or (alert.src_mac or alert.src_ip or ""),
        "note": (request.POST.get("note") or "").strip()[:500],
    }
    others = _other_alerts(alert)
    context = {
        "alert": alert,
        "proposal": proposal,
        "nav": "alerts",
        "others": others,
        "other_rules": _rule_names(others),
    }
    if request.method != "POST":
        return render(request, "mamori/register_confirm.html", context)
    if others and request.POST.get("confirm_others") != "1":
        context["confirm_error"] = _("Tick the box to confirm you checked the other alerts of this source.")
        return render(request, "mamori/register_confirm.html", context, status=400)
    from mamori.storage import LedgerEntry

    entry = LedgerEntry(
        system=proposal["system"],
        name=proposal["name"],
        mac=proposal["mac"] or "",
        ip=proposal["ip"] or None,
        note=proposal["note"] or _("registered from alert %(uid)s") % {"uid": uid},
    )
    result = dashboard().ledger.upsert([entry], "web")
    comment = _("Registered as terminal %(name)s of %(system)s.") % proposal
    with transaction.atomic():
        _set_status(uid, "resolved", request.user.get_username(), comment, "register_terminal")
    audit(
        request,
        "terminal.register_from_alert",
        f"{proposal['system']} {proposal['mac'] or proposal['ip']}",
        f"alert {uid}; added {result.added}, updated {result.updated}, reactivated {result.reactivated}",
    )
    return redirect(f"/alerts/{uid}/")


def _other_alerts(alert: AlertRecord) -> list[AlertRecord]:
    """The scans, floods and ARP spoofing seen from the source an alert would register: by its MAC (not a router's,
    and not for a source known by its IP behind a router), or by its IP for a scan or a flood from real addresses
    (an ARP alert's IP is the victim's, a spoofed flood's is random)."""
    from django.db.models import Q

    gateways = {g.mac for g in dashboard().site.gateways}
    by_ip = alert.details.get("reason") == "unregistered-ip"
    mac = alert.src_mac if alert.src_mac and not by_ip and alert.src_mac not in gateways else None
    ip = alert.src_ip

    def from_source(other: AlertRecord) -> bool:
        if mac and other.src_mac == mac:
            return True
        spoofed = bool((other.details or {}).get("spoofed_sources"))
        return bool(ip) and other.src_ip == ip and (other.rule == "port-scan" or not spoofed)

    query = Q(pk__in=[])
    if mac:
        query |= Q(src_mac=mac)
    if ip:
        query |= Q(src_ip=ip, rule__in=("port-scan", "syn-flood"))
    found = (
        AlertRecord.objects.filter(query, site=alert.site, rule__in=_SUSPECT_RULES)
        .exclude(uid=alert.uid)
        .order_by("first_seen")
    )
    return [other for other in found[:50] if from_source(other)]


def _rule_names(alerts: list[AlertRecord]) -> str:
    from django.utils.translation import get_language

    from mamori.web.templatetags.mamori_tags import rule_name

    separator = "、" if (get_language() or "ja").startswith("ja") else ", "
    return separator.join(dict.fromkeys(rule_name(a.rule) for a in alerts))


def _registrable(alert: AlertRecord) -> bool:
    """An unknown MAC, or an unknown IP behind a router, can be registered; a registered terminal showing up with
    another IP (ip-mismatch) is fixed in the ledger or the settings file instead."""
    if alert.rule != "unregistered-terminal" or not alert.system:
        return False
    reason = alert.details.get("reason")
    return (reason == "unregistered-mac" and bool(alert.src_mac)) or (
        reason == "unregistered-ip" and bool(alert.src_ip)
    )
