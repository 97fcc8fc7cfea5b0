"""Remote maintenance: the work plans (the settings file's, and those an administrator enters here the morning the
vendor calls), the month's work report (page and PDF) and the list of all remote access (CSV, XLSX)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import zoneinfo
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mamori.model import Site
from mamori.reports.tables import to_csv, to_xlsx
from mamori.reports.work_report import (
    ACCESS_HEADER,
    access_rows,
    collect_work,
    differences_text,
    local_time,
    plan_text,
    render_work_pdf,
)
from mamori.storage import WorkPlanTable
from mamori.storage.maintenance import site_with_plans
from mamori.web.apps import dashboard
from mamori.web.audit import audit
from mamori.web.roles import is_admin
from mamori.web.views.terminals import _download

__all__ = [
    "access_export",
    "vendors_export",
    "work_plan_add",
    "work_plan_cancel",
    "work_plans",
    "work_report",
    "work_report_pdf",
]

_FIELDS = ("vendor", "start", "end", "targets", "ports", "accounts", "ticket", "note")


def _site() -> Site:
    parts = dashboard()
    return site_with_plans(parts.site, parts.store)


def _lang(request: HttpRequest) -> str:
    return "en" if getattr(request, "LANGUAGE_CODE", "ja") == "en" else "ja"


def _month(request: HttpRequest, zone: str) -> tuple[int, int] | None:
    text = request.GET.get("month") or dt.datetime.now(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m")
    try:
        year, month = (int(x) for x in text.split("-"))
        dt.date(year, month, 1)
    except ValueError:
        return None
    return year, month


def work_report(request: HttpRequest) -> HttpResponse:
    site = _site()
    found = _month(request, site.time_zone)
    if found is None:
        return HttpResponse(_("Give the month as YYYY-MM."), status=400)
    year, month = found
    report = collect_work(dashboard().store, site, year, month)
    lang = _lang(request)
    zone = site.time_zone
    plans = [
        {
            "vendor": entry.vendor,
            "when": plan_text(entry.plan, zone, lang),
            "plan": entry.plan,
            "windows": [f"{local_time(a, zone)} – {local_time(b, zone, '%H:%M')}" for a, b in entry.windows[:31]],
            "differed": entry.differed,
            "sessions": [
                {
                    "time": f"{local_time(s.start, zone)} – {local_time(s.end, zone, '%H:%M')}",
                    "source": s.source,
                    "accounts": ", ".join(s.accounts),
                    "targets": ", ".join(s.targets),
                    "ports": ", ".join(str(p) for p in s.ports),
                    "via": s.via,
                    "differences": differences_text(s, lang),
                    "differs": bool(s.differences),
                    "alert_uid": s.alert_uid,
                    "connections": s.connections,
                }
                for s in entry.sessions
            ],
        }
        for entry in report.plans
    ]
    previous = f"{year - (month == 1)}-{(month - 2) % 12 + 1:02d}"
    following = f"{year + (month == 12)}-{month % 12 + 1:02d}"
    return render(
        request,
        "mamori/work_report.html",
        {
            "nav": "maintenance",
            "month": f"{year}-{month:02d}",
            "previous": previous,
            "following": following,
            "zone": zone,
            "plans": plans,
            "total": len(report.sessions),
            "differed": sum(1 for s in report.sessions if s.differences),
            "vendors": site.vendors,
        },
    )


def work_report_pdf(request: HttpRequest) -> HttpResponse:
    from mamori.reports.monthly import FontMissing

    site = _site()
    found = _month(request, site.time_zone)
    if found is None:
        return HttpResponse(_("Give the month as YYYY-MM."), status=400)
    report = collect_work(dashboard().store, site, *found)
    try:
        pdf = render_work_pdf(report)
    except FontMissing as exc:
        return render(
            request,
            "mamori/error.html",
            {"title": _("The monthly report needs a Japanese font"), "message": str(exc)},
            status=500,
        )
    return _download(pdf, f"mamori-work-report-{found[0]}-{found[1]:02d}.pdf", "application/pdf")


def access_export(request: HttpRequest) -> HttpResponse:
    """The month's remote access, one row per session, as CSV (UTF-8 BOM or Shift_JIS) or XLSX."""
    site = _site()
    found = _month(request, site.time_zone)
    if found is None:
        return HttpResponse(_("Give the month as YYYY-MM."), status=400)
    report = collect_work(dashboard().store, site, *found)
    lang = _lang(request)
    name = f"mamori-remote-access-{found[0]}-{found[1]:02d}"
    if request.GET.get("format") == "xlsx":
        return _download(
            to_xlsx(ACCESS_HEADER[lang], access_rows(report, lang), title=_("Remote access")),
            f"{name}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    encoding = "shift_jis" if request.GET.get("encoding") == "shift_jis" else "utf-8-sig"
    charset = "shift_jis" if encoding == "shift_jis" else "utf-8"
    return _download(
        to_csv(ACCESS_HEADER[lang], access_rows(report, lang), encoding=encoding),
        f"{name}.csv",
        f"text/csv; charset={charset}",
    )


def _plan_rows(site: Site, lang: str) -> list[dict[str, Any]]:
    stored = {p.plan.ident: p for p in WorkPlanTable(dashboard().store).all()}
    rows = []
    for vendor in site.vendors:
        for plan in vendor.work_plans:
            entry = stored.get(plan.ident)
            rows.append(
                {
                    "vendor": vendor.name,
                    "when": plan_text(plan, site.time_zone, lang),
                    "targets": ", ".join(plan.targets or vendor.devices),
                    "ports": ", ".join(str(p) for p in plan.ports),
                    "accounts": ", ".join(plan.accounts or vendor.accounts),
                    "ticket": plan.ticket,
                    "note": plan.note,
                    "origin": plan.origin,
                    "id": plan.ident.removeprefix("db:") if plan.origin == "dashboard" else "",
                    "by": entry.created_by if entry else "",
                }
            )
    return rows


def _vendor_rows(site: Site) -> list[dict[str, Any]]:
    return [
        {
            "name": v.name,
            "sources": ", ".join(s.removesuffix("/32").removesuffix("/128") for s in v.sources),
            "accounts": ", ".join(v.accounts),
            "devices": ", ".join(v.devices),
            "plans": len(v.work_plans),
            "note": v.note,
        }
        for v in site.vendors
    ]


def vendors_export(request: HttpRequest) -> HttpResponse:
    """The vendor list as CSV (what `mamori vendors export` writes), UTF-8 with BOM or Shift_JIS."""
    from mamori.reports.vendors_csv import write_vendors

    encoding = "shift_jis" if request.GET.get("encoding") == "shift_jis" else "utf-8-sig"
    try:
        data = write_vendors(_site().vendors, encoding=encoding)
    except ValueError as exc:  # a name Shift_JIS cannot hold
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    charset = "shift_jis" if encoding == "shift_jis" else "utf-8"
    return _download(data, "mamori-vendors.csv", f"text/csv; charset={charset}")


def work_plans(
    request: HttpRequest, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> HttpResponse:
    site = _site()
    return render(
        request,
        "mamori/work_plans.html",
        {
            "nav": "maintenance",
            "plans": _plan_rows(site, _lang(request)),
            "vendor_rows": _vendor_rows(site),
            "vendors": site.vendors,
            "zone": site.time_zone,
            "values": values or {},
            "errors": errors or {},
        },
        status=400 if errors else 200,
    )


def _list(text: str) -> list[str]:
    return [item for item in text.replace(",", " ").split() if item]


def _form(request: HttpRequest, site: Site) -> tuple[dict[str, Any] | None, dict[str, str]]:
    values = {k: (request.POST.get(k) or "").strip() for k in _FIELDS}
    errors: dict[str, str] = {}
    if values["vendor"] not in {v.name for v in site.vendors}:
        errors["vendor"] = _("Choose a vendor from the list (vendors are named in the settings file).")
    zone = zoneinfo.ZoneInfo(site.time_zone)
    times: dict[str, float] = {}
    for name in ("start", "end"):
        try:
            moment = dt.datetime.fromisoformat(values[name])
            times[name] = (moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp()
        except ValueError:
            errors[name] = _("Give a date and time such as 2026-11-10 09:00.")
    if "start" in times and "end" in times and times["end"] <= times["start"]:
        errors["end"] = _("The end must be after the start.")
    targets = _list(values["targets"])
    for target in targets:
        try:
            ipaddress.ip_network(target, strict=False)
        except ValueError:
            if len(target) > 255:
                errors["targets"] = _("A target is an address, a network or a computer name.")
    ports: list[int] = []
    for item in _list(values["ports"]):
        if not item.isdigit() or not 1 <= int(item) <= 65535:
            errors["ports"] = _("Ports are numbers from 1 to 65535, separated by spaces.")
            break
        ports.append(int(item))
    if len(values["ticket"]) > 200 or len(values["note"]) > 500:
        errors["ticket"] = _("The ticket or the note is too long.")
    if errors:
        return None, errors
    plan = {
        "vendor": values["vendor"],
        "start": times["start"],
        "end": times["end"],
        "targets": targets,
        "ports": ports,
        "accounts": _list(values["accounts"]),
        "ticket": values["ticket"],
        "note": values["note"],
    }
    return plan, {}


@require_POST
def work_plan_add(request: HttpRequest) -> HttpResponse:
    """An administrator enters a one-off work plan (the detectors pick it up within seconds)."""
    if not is_admin(request.user):
        raise PermissionDenied(_("Only an administrator can enter work plans."))
    site = _site()
    plan, errors = _form(request, site)
    if plan is None:
        values = {k: (request.POST.get(k) or "") for k in _FIELDS}
        return work_plans(request, values=values, errors=errors)
    stored = WorkPlanTable(dashboard().store).add(**plan, created_by=request.user.get_username())
    audit(
        request,
        "work-plan.add",
        f"{plan['vendor']} {stored.plan.ident}",
        f"{local_time(plan['start'], site.time_zone)} - {local_time(plan['end'], site.time_zone)} "
        f"targets={' '.join(plan['targets'])} ports={' '.join(str(p) for p in plan['ports'])} ticket={plan['ticket']}",
    )
    return redirect("/maintenance/plans/")


@require_POST
def work_plan_cancel(request: HttpRequest) -> HttpResponse:
    if not is_admin(request.user):
        raise PermissionDenied(_("Only an administrator can enter work plans."))
    ident = request.POST.get("id", "")
    if ident.isdigit():
        stored = WorkPlanTable(dashboard().store).cancel(int(ident))
        if stored is not None:
            audit(request, "work-plan.cancel", f"{stored.vendor} {stored.plan.ident}", stored.plan.ticket)
    return redirect("/maintenance/plans/")
