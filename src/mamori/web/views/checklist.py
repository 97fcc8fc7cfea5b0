"""The Ministry's checklist (チェックリスト): each form of the site (the medical institution's, one per vendor, the
HEASNET small-institution checksheet), every item with its official number and text, mamori's proposed answer and
the evidence behind it with links, the answer a person confirmed; the form to confirm an answer (administrators);
the XLSX and PDF of a form, and the inspection pack (ZIP)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mamori.reports.checklist import Checklist, EvidenceContext, build_checklist
from mamori.reports.checklist.output import checklist_pdf, checklist_xlsx
from mamori.reports.checklist.pack import checklist_keys, fiscal_pack, fiscal_year
from mamori.storage import Answer, AnswerTable
from mamori.web.apps import dashboard
from mamori.web.audit import audit
from mamori.web.queries import known_sites
from mamori.web.roles import chosen_site, is_admin, scope_of
from mamori.web.views.terminals import _download

__all__ = ["checklist_answer", "checklist_export", "checklist_pack", "checklist_view"]

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _context(request: HttpRequest) -> EvidenceContext:
    """The evidence as of now: on the central server, of the site chosen (``?site=``; a user bound to sites always
    gets one of theirs), else of this box (docs/design.md §10, central: the checklist per site)."""
    scope = scope_of(request.user)
    requested = (request.GET.get("site") or request.POST.get("site") or "").strip()
    site = chosen_site(scope, requested, known_sites())
    ctx = dashboard().evidence()
    return ctx if site is None else dataclasses.replace(ctx, central_site=site, _cache={})


def _site_choices(request: HttpRequest, ctx: EvidenceContext) -> dict[str, Any]:
    scope = scope_of(request.user)
    return {
        "site_choices": known_sites(scope.visible),
        "chosen_site": ctx.central_site or "",
        "all_sites_allowed": not scope.bound,
        "site_param": f"&site={_quote(ctx.central_site)}" if ctx.central_site else "",
    }


def _lang(request: HttpRequest) -> str:
    return "en" if getattr(request, "LANGUAGE_CODE", "ja") == "en" else "ja"


def _key(request: HttpRequest, ctx: EvidenceContext, value: str | None) -> tuple[str, list[str]]:
    keys = checklist_keys(ctx)
    if "heasnet-small" not in keys:
        keys.insert(1, "heasnet-small")  # shown even without segments: its evidence says what is missing
    key = value or "medical"
    if key not in keys:
        raise Http404(_("No such checklist."))
    return key, keys


def _tab(key: str, lang: str) -> str:
    if key.startswith("vendor:"):
        name = key.split(":", 1)[1]
        return f"事業者確認用: {name}" if lang == "ja" else f"Vendor form: {name}"
    return {
        "medical": ("医療機関確認用", "Medical institution form"),
        "heasnet-small": ("HEASNET 小規模機関型", "HEASNET small institution"),
    }[key][0 if lang == "ja" else 1]


def _rows(filled: Checklist, lang: str) -> list[dict[str, Any]]:
    rows = []
    for index, row in enumerate(filled.rows, 1):
        lines = [
            {"text": line.text(lang), "link": _safe_link(line.link), "source": ev.source}
            for ev in row.evidence
            for line in ev.lines
        ]
        rows.append(
            {
                "item": row.item,
                "anchor": f"item-{index}",
                "text": row.item.text(lang),
                "lines": lines,
                "observed": row.observed,
                "proposed": row.proposed,
                "answer": row.answer,
            }
        )
    return rows


def _safe_link(link: str) -> str:
    """Only the dashboard's own paths become links (a plugin's evidence may say anything)."""
    return link if link.startswith("/") and not link.startswith("//") and "\\" not in link else ""


def _sections(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    sections: list[dict[str, Any]] = []
    for row in rows:
        ja, _sep, en = row["item"].section.partition(" / ")
        title = (en if lang == "en" and en else ja) if ja else row["item"].section
        if not sections or sections[-1]["key"] != row["item"].section:
            sections.append({"key": row["item"].section, "title": title, "rows": []})
        sections[-1]["rows"].append(row)
    return sections


def _page(
    request: HttpRequest,
    key_value: str | None,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    errors, values = errors or {}, values or {}
    ctx = _context(request)
    key, keys = _key(request, ctx, key_value)
    lang = _lang(request)
    filled = build_checklist(key, ctx)
    rows = _rows(filled, lang)
    for row in rows:
        row["mine"] = errors.get("item") == row["item"].number
    today = dt.date.today()
    return render(
        request,
        "mamori/checklist.html",
        {
            "nav": "checklist",
            "key": key,
            "tabs": [{"key": k, "label": _tab(k, lang), "active": k == key} for k in keys],
            "form": filled.form,
            "form_title": filled.form.title(lang) + (f" — {filled.vendor}" if filled.vendor else ""),
            "sections": _sections(rows, lang),
            "counts": filled.counts(),
            "errors": errors,
            "values": values,
            "today": today.isoformat(),
            "fiscal_year": fiscal_year(today),
            # a site's answers are confirmed on its own dashboard (build_checklist shows none for it)
            "is_admin": is_admin(request.user) and ctx.central_site is None,
            **_site_choices(request, ctx),
        },
        status=status,
    )


def checklist_view(request: HttpRequest) -> HttpResponse:
    return _page(request, request.GET.get("form"))


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


@require_POST
def checklist_answer(request: HttpRequest) -> HttpResponse:
    """Confirm an item's answer (administrators): はい or いいえ, 確認日, 目標日 for いいえ, a note. Stored with who
    and when, mamori's proposal then and the evidence shown."""
    if not is_admin(request.user) or request.POST.get("site"):
        raise PermissionDenied(_("Only an administrator can confirm an answer."))
    values = {k: (request.POST.get(k) or "").strip() for k in ("form", "item", "answer", "checked_on", "target_on")}
    values["note"] = (request.POST.get("note") or "").strip()
    ctx = dashboard().evidence()
    key, _keys = _key(request, ctx, values["form"])
    filled = build_checklist(key, ctx)
    row = next((r for r in filled.rows if r.item.number == values["item"]), None)
    if row is None:
        raise Http404(_("No such item."))
    errors: dict[str, str] = {}
    if values["answer"] not in ("yes", "no"):
        errors["answer"] = _("Choose はい (yes) or いいえ (no).")
    checked = _date(values["checked_on"])
    if checked is None:
        errors["checked_on"] = _("Write the day as 2026-11-30.")
    elif checked > dt.date.today():
        errors["checked_on"] = _("The day cannot be in the future.")
    target = _date(values["target_on"]) if values["target_on"] else None
    if values["answer"] == "no":
        if target is None:
            errors["target_on"] = _("For いいえ (no), give the day by which it will be done (目標日).")
        elif checked is not None and target < checked:
            errors["target_on"] = _("The target day cannot be before the day checked.")
    if len(values["note"]) > 2000:
        errors["note"] = _("Too long.")
    if errors or checked is None:
        errors["item"] = values["item"]
        return _page(request, key, errors=errors, values=values, status=400)
    AnswerTable(dashboard().store).record(
        Answer(
            form=key,
            item=row.item.number,
            answer=values["answer"],
            checked_on=checked,
            target_on=target if values["answer"] == "no" else None,
            answered_by=request.user.get_username(),
            answered_at=time.time(),
            proposed=row.proposed or "",
            note=values["note"],
            evidence=tuple(e.as_dict() for e in row.evidence),
        )
    )
    audit(
        request,
        "checklist.answer",
        f"{key} {row.item.number}",
        f"answer={values['answer']} checked_on={checked} target_on={target or ''} proposed={row.proposed or ''}",
    )
    return redirect(f"/checklist/?form={_quote(key)}#item-{filled.rows.index(row) + 1}")


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _file_stem(key: str, keys: list[str]) -> str:
    """An ASCII file name for the form (a vendor's name may be anything: it is not put in a header)."""
    if key.startswith("vendor:"):
        vendors = [k for k in keys if k.startswith("vendor:")]
        return f"checklist-vendor-{vendors.index(key) + 1}"
    return f"checklist-{key}"


def checklist_export(request: HttpRequest) -> HttpResponse:
    ctx = _context(request)
    key, keys = _key(request, ctx, request.GET.get("form"))
    fmt = request.GET.get("format", "xlsx")
    if fmt not in ("xlsx", "pdf"):
        raise Http404(_("No such format."))
    filled = build_checklist(key, ctx)
    stem = _file_stem(key, keys) + (f"-{ctx.central_site}" if ctx.central_site else "")
    if fmt == "pdf":
        return _download(checklist_pdf(filled), f"{stem}.pdf", "application/pdf")
    return _download(checklist_xlsx(filled), f"{stem}.xlsx", _XLSX)


def checklist_pack(request: HttpRequest) -> HttpResponse:
    """The inspection pack of a fiscal year (default: this one)."""
    today = dt.date.today()
    text = request.GET.get("year") or str(fiscal_year(today))
    if not text.isdigit() or not 2000 <= int(text) <= today.year:
        return HttpResponse(_("Give the fiscal year as 2026."), status=400, content_type="text/plain; charset=utf-8")
    ctx = _context(request)
    data, _checklists, _months = fiscal_pack(ctx, year=int(text), today=today)
    suffix = f"-{ctx.central_site}" if ctx.central_site else ""
    return _download(data, f"inspection-pack-{text}{suffix}.zip", "application/zip")
