"""Blocked devices (遮断中の機器): every block in force with one-click release (administrators), and the history of
blocks, refusals and releases. The dashboard never blocks or unblocks by itself: it asks the sensor (``mamori
watch``), whose block manager lifts the block within a second and records who asked."""

from __future__ import annotations

import time

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mamori.blocking import BlockRecord, reason_text
from mamori.rules.blocking import METHODS, STATES
from mamori.storage import BlockTable
from mamori.web.apps import dashboard
from mamori.web.audit import audit
from mamori.web.roles import is_admin

__all__ = ["block_release", "blocks_view"]

_HISTORY = 200


def _lang(request: HttpRequest) -> str:
    return "ja" if getattr(request, "LANGUAGE_CODE", "ja") == "ja" else "en"


def _row(record: BlockRecord, lang: str) -> dict[str, object]:
    state = STATES.get(record.state)
    method = METHODS.get(record.method)
    return {
        "r": record,
        "state": (state.ja if lang == "ja" else state.en) if state else _("refused"),
        "method": (method.ja if lang == "ja" else method.en) if method else record.method,
        "reason": reason_text(record.reason, lang) if record.reason else "",
        "created": record.created_at,
        "release_at": record.release_at,
        "released_at": record.released_at,
        "requested": record.release_requested_at is not None,
    }


def blocks_view(request: HttpRequest) -> HttpResponse:
    parts = dashboard()
    table = BlockTable(parts.store)
    lang = _lang(request)
    active = [_row(r, lang) for r in table.active()]
    history = [_row(r, lang) for r in table.recent(_HISTORY) if not r.active]
    return render(
        request,
        "mamori/blocks.html",
        {
            "nav": "blocks",
            "active": active,
            "history": history,
            "dry_run": parts.site.blocking.dry_run,
            "switches": len(parts.site.switches),
        },
    )


@require_POST
def block_release(request: HttpRequest) -> HttpResponse:
    """Ask the sensor to lift one block (administrators only; CSRF-checked as every POST)."""
    if not is_admin(request.user):
        raise PermissionDenied(_("Only an administrator can release a block."))
    block_id = request.POST.get("id", "").strip()[:32]
    table = BlockTable(dashboard().store)
    record = table.request_release(block_id, request.user.get_username(), time.time())
    if record is None:
        raise Http404(_("No such block in force."))
    audit(request, "block.release", f"{record.mac} {record.ip or ''}".strip(), f"block {record.id} ({record.place})")
    return redirect("/blocks/")
