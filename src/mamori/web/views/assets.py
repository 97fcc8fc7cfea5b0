"""The asset ledger from observation (機器台帳, checklist 2-①): every device mamori has seen on the network, unknown
devices first; an administrator confirms each (with a name) or retires it, and records when the ledger was compared
with the devices actually there; CSV and XLSX exports."""

from __future__ import annotations

import time

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mamori.config import normalize_mac
from mamori.reports.assets import asset_views, counts
from mamori.reports.checklist.pack import ASSET_HEADER, asset_rows
from mamori.reports.tables import to_csv, to_xlsx
from mamori.storage import AssetTable
from mamori.web.apps import dashboard
from mamori.web.audit import audit
from mamori.web.roles import is_admin
from mamori.web.views.terminals import _download

__all__ = ["asset_compare", "asset_export", "asset_list", "asset_review"]


def _lang(request: HttpRequest) -> str:
    return "en" if getattr(request, "LANGUAGE_CODE", "ja") == "en" else "ja"


def _page(request: HttpRequest, errors: dict[str, str], values: dict[str, str], status: int = 200) -> HttpResponse:
    parts = dashboard()
    views = asset_views(parts.store, parts.site, _lang(request))
    return render(
        request,
        "mamori/assets.html",
        {
            "nav": "assets",
            "assets": views,
            "counts": counts(views),
            "comparison": AssetTable(parts.store).last_comparison(),
            "errors": errors,
            "values": values,
            "is_admin": is_admin(request.user),
        },
        status=status,
    )


def asset_list(request: HttpRequest) -> HttpResponse:
    return _page(request, {}, {})


def _admin(request: HttpRequest) -> None:
    if not is_admin(request.user):
        raise PermissionDenied(_("Only an administrator can change the asset ledger."))


@require_POST
def asset_review(request: HttpRequest) -> HttpResponse:
    """Confirm a device (a name is needed) or retire it."""
    _admin(request)
    values = {k: (request.POST.get(k) or "").strip() for k in ("mac", "action", "name", "note")}
    errors: dict[str, str] = {}
    try:
        mac = normalize_mac(values["mac"])
    except ValueError:
        mac = ""
    status = {"confirm": "confirmed", "retire": "retired"}.get(values["action"])
    if status is None or not mac:
        errors["form"] = _("Choose a device and what to do with it.")
        status = ""
    elif status == "confirmed" and not values["name"]:
        errors["name"] = _("A name is needed to confirm a device (e.g. its asset number or where it is).")
    for name, limit in (("name", 200), ("note", 2000)):
        if len(values[name]) > limit:
            errors[name] = _("Too long.")
    if errors:
        values["mac"] = mac or values["mac"]
        return _page(request, errors, values, status=400)
    try:
        AssetTable(dashboard().store).review(
            mac, status, request.user.get_username(), name=values["name"], note=values["note"], now=time.time()
        )
    except KeyError:
        return _page(request, {"form": _("This device is not in the ledger.")}, values, status=400)
    audit(request, f"asset.{values['action']}", mac, f"name={values['name']}")
    return redirect("/assets/")


@require_POST
def asset_compare(request: HttpRequest) -> HttpResponse:
    """Record that the ledger was compared with the devices actually there, with the counts as of now."""
    _admin(request)
    values = {k: (request.POST.get(k) or "").strip() for k in ("missing", "compare_note")}
    errors: dict[str, str] = {}
    missing = int(values["missing"]) if values["missing"].isdigit() else -1
    if not 0 <= missing <= 1_000_000:
        errors["missing"] = _("Give a number (0 if every device in the ledger was found).")
    if len(values["compare_note"]) > 2000:
        errors["compare_note"] = _("Too long.")
    if errors:
        return _page(request, errors, values, status=400)
    parts = dashboard()
    now = counts(asset_views(parts.store, parts.site, "ja"))
    AssetTable(parts.store).record_comparison(
        request.user.get_username(),
        devices=now["devices"],
        unknown=now["unknown"],
        missing=missing,
        note=values["compare_note"],
        now=time.time(),
    )
    audit(
        request,
        "asset.compare",
        "",
        f"devices={now['devices']} unknown={now['unknown']} missing={missing}",
    )
    return redirect("/assets/")


def asset_export(request: HttpRequest) -> HttpResponse:
    rows = asset_rows(dashboard().evidence())
    if request.GET.get("format") == "xlsx":
        return _download(
            to_xlsx(ASSET_HEADER, rows, title="assets"),
            "assets.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    return _download(to_csv(ASSET_HEADER, rows), "assets.csv", "text/csv; charset=utf-8")
