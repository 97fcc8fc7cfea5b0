"""Reports: any list as CSV or XLSX, and the monthly PDF."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from mamori.reports.tables import to_csv, to_xlsx
from mamori.rules.render import summary as alert_summary
from mamori.storage import record_to_alert
from mamori.web.apps import dashboard
from mamori.web.queries import AlertQuery, known_sites
from mamori.web.roles import chosen_site, scope_of
from mamori.web.templatetags.mamori_tags import rule_name, severity_label, status_name
from mamori.web.views.terminals import _download

__all__ = ["alerts_export", "monthly_pdf", "reports_view"]

_EXPORT_LIMIT = 100_000


def reports_view(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    months = []
    year, month = today.year, today.month
    for _i in range(12):
        months.append(f"{year}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    scope = scope_of(request.user)
    return render(
        request,
        "mamori/reports.html",
        {
            "nav": "reports",
            "months": months,
            "site_choices": known_sites(scope.visible),
            "all_sites_allowed": not scope.bound,
        },
    )


def alerts_export(request: HttpRequest) -> HttpResponse:
    """The alert list with the filters of the query string, as CSV (UTF-8 BOM or Shift_JIS) or XLSX."""
    query = AlertQuery.from_params(request.GET, scope_of(request.user).visible)
    ja = getattr(request, "LANGUAGE_CODE", "ja") == "ja"
    header = [
        _("First seen"),
        _("Last seen"),
        _("Severity"),
        _("Rule"),
        _("Status"),
        _("Count"),
        _("Source MAC"),
        _("Source IP"),
        _("Target"),
        _("System"),
        _("Summary"),
        _("Handled by"),
        _("Comment"),
        "uid",
    ]

    def rows() -> Iterator[list[object]]:
        for a in query.queryset()[:_EXPORT_LIMIT].iterator():
            target = f"{a.dst_ip or ''}{':' + str(a.dst_port) if a.dst_port else ''}"
            yield [
                timezone.localtime(a.first_seen).strftime("%Y-%m-%d %H:%M:%S"),
                timezone.localtime(a.last_seen).strftime("%Y-%m-%d %H:%M:%S"),
                severity_label(a.severity),
                rule_name(a.rule),
                status_name(a.status),
                a.count,
                a.src_mac or "",
                a.src_ip or "",
                target,
                a.system or "",
                alert_summary(record_to_alert(a), "ja" if ja else "en"),
                a.status_by,
                a.status_comment,
                a.uid,
            ]

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if request.GET.get("format") == "xlsx":
        return _download(
            to_xlsx(header, rows(), title=_("Alerts")),
            f"mamori-alerts-{stamp}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    encoding = "shift_jis" if request.GET.get("encoding") == "shift_jis" else "utf-8-sig"
    charset = "shift_jis" if encoding == "shift_jis" else "utf-8"
    return _download(
        to_csv(header, rows(), encoding=encoding), f"mamori-alerts-{stamp}.csv", f"text/csv; charset={charset}"
    )


def monthly_pdf(request: HttpRequest) -> HttpResponse:
    from mamori.reports.monthly import FontMissing, collect_month, render_pdf

    text = request.GET.get("month") or timezone.localdate().strftime("%Y-%m")
    try:
        year, month = (int(x) for x in text.split("-"))
        dt.date(year, month, 1)
    except ValueError:
        return HttpResponse(_("Give the month as YYYY-MM."), status=400)
    parts = dashboard()
    # on the central server: one site's report (a user bound to sites gets one of theirs), else this box's
    site = chosen_site(scope_of(request.user), (request.GET.get("site") or "").strip(), known_sites())
    data = collect_month(
        parts.store,
        year,
        month,
        site=site or parts.site.name or "mamori",
        zone=timezone.get_current_timezone(),
        now=timezone.now(),
        site_model=parts.site if site is None else None,
        central_site=site,
    )
    try:
        pdf = render_pdf(data)
    except FontMissing as exc:
        return render(
            request,
            "mamori/error.html",
            {
                "title": _("The monthly report needs a Japanese font"),
                "message": _(
                    "No Japanese font was found to write the report with. mamori ships one (IPAex Gothic): "
                    "reinstall mamori (pip install --force-reinstall mamori), or install Debian's "
                    "fonts-ipaexfont-gothic (apt-get install fonts-ipaexfont-gothic). Looked for: %(paths)s"
                )
                % {"paths": ", ".join(str(p) for p in exc.candidates)},
            },
            status=500,
        )
    suffix = f"-{site}" if site else ""
    return _download(pdf, f"mamori-report-{year}-{month:02d}{suffix}.pdf", "application/pdf")
