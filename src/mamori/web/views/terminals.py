"""The asset ledger (台帳): systems and their registered terminals; add, edit, retire; CSV/XLSX in and out;
proposals from ``mamori learn`` to accept or reject."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mamori.config import normalize_ip, normalize_mac
from mamori.reports.tables import read_xlsx_rows, to_xlsx
from mamori.reports.terminals_csv import ParsedTerminals, parse_terminals, write_terminals
from mamori.storage import Ledger, LedgerEntry
from mamori.storage.models import AlertRecord
from mamori.web.apps import dashboard
from mamori.web.audit import audit
from mamori.web.roles import is_admin

__all__ = ["terminal_edit", "terminal_export", "terminal_import", "terminal_list", "terminal_retire"]

_MAX_UPLOAD = 5 * 1024 * 1024


def _ledger() -> Ledger:
    return dashboard().ledger


@dataclass(frozen=True)
class Row:
    system: str
    name: str
    mac: str
    ip: str
    note: str
    source: str  # "file" for the settings file's terminals (read only here)
    retired: bool
    last_seen: str = ""


def _rows(include_retired: bool) -> list[Row]:
    rows = [
        Row(s.name, t.name, t.mac, t.ip or "", t.note, "file", False)
        for s in dashboard().site.systems
        for t in s.terminals
    ]
    for e in _ledger().terminals(include_retired=include_retired):
        rows.append(Row(e.system, e.name, e.mac, e.ip or "", e.note, e.source, not e.active))
    return sorted(rows, key=lambda r: (r.system, r.name, r.mac))


def _last_seen(rows: list[Row]) -> dict[str, Any]:
    """When and where each terminal was last seen in an alert (its MAC as a source)."""
    macs = [r.mac for r in rows if r.mac]
    seen: dict[str, Any] = {}
    for start in range(0, len(macs), 500):
        for mac, last, system in (
            AlertRecord.objects.filter(src_mac__in=macs[start : start + 500])
            .order_by("src_mac", "-last_seen")
            .values_list("src_mac", "last_seen", "system")
        ):
            if mac:
                seen.setdefault(mac, (last, system))
    return seen


def terminal_list(request: HttpRequest) -> HttpResponse:
    include_retired = request.GET.get("retired") == "1"
    rows = _rows(include_retired)
    systems = dashboard().site.systems
    return render(
        request,
        "mamori/terminals.html",
        {
            "nav": "terminals",
            "rows": rows,
            "systems": systems,
            "include_retired": include_retired,
            "last_seen": _last_seen(rows),
        },
    )


def _entry_from_form(request: HttpRequest) -> tuple[LedgerEntry | None, dict[str, str]]:
    errors: dict[str, str] = {}
    system = (request.POST.get("system") or "").strip()
    if system not in {s.name for s in dashboard().site.systems}:
        errors["system"] = _("Choose a department system.")
    name = (request.POST.get("name") or "").strip()[:200]
    if not name:
        errors["name"] = _("A name is needed (e.g. the PC's asset number).")
    mac = ip = ""
    raw_mac = (request.POST.get("mac") or "").strip()
    raw_ip = (request.POST.get("ip") or "").strip()
    if raw_mac:
        try:
            mac = normalize_mac(raw_mac)
        except ValueError as exc:
            errors["mac"] = str(exc)
        if mac and mac in {g.mac for g in dashboard().site.gateways}:
            errors["mac"] = _("This is a router's MAC address, not a terminal's.")
    if raw_ip:
        try:
            ip = normalize_ip(raw_ip)
        except ValueError as exc:
            errors["ip"] = str(exc)
    if not raw_mac and not raw_ip:
        errors["mac"] = _("Give the MAC address (or, for a terminal behind a router, its IP address).")
    if errors:
        return None, errors
    note = (request.POST.get("note") or "").strip()[:500]
    return LedgerEntry(system=system, name=name, mac=mac, ip=ip or None, note=note), errors


def terminal_edit(request: HttpRequest) -> HttpResponse:
    """Add a terminal, or change one (the form is pre-filled from the query string)."""
    if not is_admin(request.user):
        raise PermissionDenied(_("Only an administrator can change the ledger."))
    values = {k: (request.POST.get(k) or request.GET.get(k) or "") for k in ("system", "name", "mac", "ip", "note")}
    errors: dict[str, str] = {}
    if request.method == "POST":
        entry, errors = _entry_from_form(request)
        if entry is not None:
            result = _ledger().upsert([entry], "web")
            audit(
                request,
                "terminal.save",
                f"{entry.system} {entry.mac or entry.ip}",
                f"name={entry.name} ip={entry.ip or ''} added={result.added} updated={result.updated}",
            )
            return redirect("/terminals/")
    return render(
        request,
        "mamori/terminal_form.html",
        {
            "nav": "terminals",
            "values": values,
            "errors": errors,
            "systems": dashboard().site.systems,
        },
        status=400 if errors else 200,
    )


@require_POST
def terminal_retire(request: HttpRequest) -> HttpResponse:
    if not is_admin(request.user):
        raise PermissionDenied(_("Only an administrator can change the ledger."))
    system, mac, ip = request.POST.get("system", ""), request.POST.get("mac", ""), request.POST.get("ip", "")
    if _ledger().retire(system, mac, ip=ip or None):
        audit(request, "terminal.retire", f"{system} {mac or ip}")
    return redirect("/terminals/")


def terminal_export(request: HttpRequest) -> HttpResponse:
    fmt = request.GET.get("format", "csv")
    entries = [LedgerEntry(r.system, r.name, r.mac, r.ip or None, r.note, source=r.source) for r in _rows(False)]
    if fmt == "xlsx":
        header = [_("System"), _("Name"), _("MAC address"), _("IP address"), _("Note"), _("Registered by")]
        rows = [[e.system, e.name, e.mac, e.ip or "", e.note, e.source] for e in entries]
        return _download(
            to_xlsx(header, rows, title=_("Terminals")),
            "terminals.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    encoding = "shift_jis" if request.GET.get("encoding") == "shift_jis" else "utf-8-sig"
    data = write_terminals(entries, encoding=encoding)
    return _download(data, "terminals.csv", f"text/csv; charset={'shift_jis' if encoding == 'shift_jis' else 'utf-8'}")


def _download(data: bytes, name: str, content_type: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _parse_upload(request: HttpRequest) -> ParsedTerminals | str:
    upload = request.FILES.get("file")
    if upload is None:
        return _("Choose a CSV or Excel file.")
    if upload.size and upload.size > _MAX_UPLOAD:
        return _("The file is too large (5 MB at most).")
    data = upload.read()
    name = upload.name or "upload"
    if name.lower().endswith(".xlsx"):
        try:
            rows = read_xlsx_rows(data)
        except ValueError as exc:
            return str(exc)
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        data = out.getvalue().encode("utf-8")
    site = dashboard().site
    return parse_terminals(
        data, source=name, systems=[s.name for s in site.systems], gateways={g.mac: g.name for g in site.gateways}
    )


def terminal_import(request: HttpRequest) -> HttpResponse:
    """Upload a ledger CSV/XLSX or a learn proposal; review; accept. Nothing changes until the confirmation."""
    if not is_admin(request.user):
        raise PermissionDenied(_("Only an administrator can change the ledger."))
    context: dict[str, Any] = {"nav": "terminals"}
    if request.method == "POST" and request.POST.get("step") == "confirm":
        return _confirm(request)
    if request.method == "POST":
        parsed = _parse_upload(request)
        if isinstance(parsed, str):
            context["error"] = parsed
        elif parsed.problems:
            context["problems"] = parsed.problems
        else:
            context.update(parsed=parsed, entries=parsed.entries)
            upload = request.FILES.get("file")
            request.session["pending_import"] = {
                "file": upload.name if upload else "",
                "source": "learn" if parsed.proposal else "import",
                "rows": [
                    {"system": e.system, "name": e.name, "mac": e.mac, "ip": e.ip, "note": e.note}
                    for e in parsed.entries
                ],
            }
    return render(request, "mamori/terminal_import.html", context, status=400 if "problems" in context else 200)


def _confirm(request: HttpRequest) -> HttpResponse:
    """Register the rows the administrator kept ticked, from what was validated at upload (kept in the session:
    nothing in this request can change what a row says)."""
    pending = request.session.pop("pending_import", None)
    if not pending:
        return redirect("/terminals/import/")
    chosen = {int(i) for i in request.POST.getlist("accept") if i.isdigit()}
    entries = [LedgerEntry(**row) for index, row in enumerate(pending["rows"]) if index in chosen]
    result = _ledger().upsert(entries, pending["source"])
    rejected = len(pending["rows"]) - len(entries)
    audit(
        request,
        "terminal.import",
        pending["file"],
        f"source={pending['source']} added={result.added} updated={result.updated} "
        f"reactivated={result.reactivated} unchanged={result.unchanged} not accepted={rejected}",
    )
    from django.contrib import messages

    messages.success(
        request,
        _("Registered: %(added)d added, %(updated)d updated, %(re)d re-activated, %(rejected)d not accepted.")
        % {"added": result.added, "updated": result.updated, "re": result.reactivated, "rejected": rejected},
    )
    return redirect("/terminals/")
