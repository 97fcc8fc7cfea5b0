"""Exposure: the site table (every host known from scans or the wire), a page per host, approvals, exports."""

from __future__ import annotations

import ipaddress
import time

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mamori.reports.exposure import checklist_evidence, export_rows, exposure_header, reason_words, site_rows
from mamori.reports.tables import to_csv, to_xlsx
from mamori.rules.exposure import port_label
from mamori.storage import ExposureTable
from mamori.storage.exposure import PortRow
from mamori.web.apps import dashboard
from mamori.web.audit import audit
from mamori.web.roles import is_admin
from mamori.web.templatetags.mamori_tags import local
from mamori.web.views.terminals import _download

__all__ = ["exposure_approve", "exposure_export", "exposure_host", "exposure_view"]


def _lang(request: HttpRequest) -> str:
    return "ja" if getattr(request, "LANGUAGE_CODE", "ja") == "ja" else "en"


def _port_rows(ports: tuple[PortRow, ...], lang: str) -> list[dict[str, object]]:
    return [{"p": p, "label": port_label(p.key), "finding": reason_words(p.reasons, lang)} for p in ports]


def exposure_view(request: HttpRequest) -> HttpResponse:
    parts = dashboard()
    table = ExposureTable(parts.store)
    lang = _lang(request)
    rows = site_rows(table, parts.site)
    hosts = [{"row": r, "open": [p for p in r.ports if p.state in ("open", "")], "findings": r.findings} for r in rows]
    evidence = checklist_evidence(table, parts.site)
    checklist = [
        {"item": item, "question": evidence.question(item, lang), "ok": evidence.item_ok(item), "hosts": hosts_}
        for item, hosts_ in (("2-12", evidence.unneeded), ("2-13", evidence.database))
    ]
    return render(
        request,
        "mamori/exposure.html",
        {
            "nav": "exposure",
            "hosts": hosts,
            "runs": table.runs(limit=10),
            "checklist": checklist,
            "evidence": evidence,
            "scope": parts.site.scan,
        },
    )


def _host_or_404(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise Http404(_("No such host.")) from None


def exposure_host(request: HttpRequest, host: str) -> HttpResponse:
    parts = dashboard()
    host = _host_or_404(host)
    table = ExposureTable(parts.store)
    rows = site_rows(table, parts.site, hosts=[host])
    if not rows:
        raise Http404(_("No such host."))
    lang = _lang(request)
    row = rows[0]
    history = [{"run": run, "ports": _port_rows(ports, lang)} for run, ports in table.host_history(host)]
    return render(
        request,
        "mamori/exposure_host.html",
        {
            "nav": "exposure",
            "row": row,
            "ports": _port_rows(row.ports, lang),
            "history": history,
            "system": next((s.name for s in parts.site.systems if any(v.ip == host for v in s.servers)), ""),
        },
    )


@require_POST
def exposure_approve(request: HttpRequest) -> HttpResponse:
    """Approve the current state of one host (``host``) or of the whole site (no host)."""
    if not is_admin(request.user):
        raise PermissionDenied(_("Only an administrator can approve the exposure."))
    parts = dashboard()
    host = request.POST.get("host", "").strip()
    hosts = [_host_or_404(host)] if host else None
    user = request.user.get_username()
    count = ExposureTable(parts.store).approve(hosts, user=user, now=time.time())
    audit(request, "exposure.approve", host or "site", f"{count} host(s)")
    return redirect(f"/exposure/host/{host}/" if host else "/exposure/")


def exposure_export(request: HttpRequest) -> HttpResponse:
    parts = dashboard()
    lang = _lang(request)
    rows = site_rows(ExposureTable(parts.store), parts.site)
    data = export_rows(rows, lang, local)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    header = exposure_header(lang)
    if request.GET.get("format") == "xlsx":
        return _download(
            to_xlsx(header, data, title=_("Exposure")),
            f"mamori-exposure-{stamp}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    encoding = "shift_jis" if request.GET.get("encoding") == "shift_jis" else "utf-8-sig"
    return _download(to_csv(header, data, encoding=encoding), f"mamori-exposure-{stamp}.csv", "text/csv")
