"""The overview: what is open, how it went, what needs attention first, and whether the sensors are alive."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from mamori.web.apps import dashboard
from mamori.web.queries import overview
from mamori.web.roles import scope_of


def overview_view(request: HttpRequest) -> HttpResponse:
    from mamori.web.templatetags.mamori_tags import SEVERITY_NAMES

    silent_after = dashboard().silent_after
    data = overview(sites=scope_of(request.user).visible, silent_after=silent_after)
    names = json.dumps({k: str(v) for k, v in SEVERITY_NAMES.items()}, ensure_ascii=False)
    return render(
        request,
        "mamori/overview.html",
        {
            **data,
            "chart_json": json.dumps(data["chart"]),
            "severity_names": names,
            "silent_minutes": f"{silent_after / 60:.3g}",
            "silent_seconds": f"{silent_after:g}" if silent_after < 60 else "",
            "nav": "overview",
        },
    )


def overview_api(request: HttpRequest) -> JsonResponse:
    """The overview's figures as JSON (for monitoring tools; the page itself is server-rendered)."""
    data = overview(sites=scope_of(request.user).visible)
    return JsonResponse(
        {
            "open": {s.label: n for s, n in data["by_severity"]},
            "open_total": data["open_total"],
            "open_incidents": data["open_incidents"],
            "chart": data["chart"],
            "newest": [
                {"uid": a.uid, "rule": a.rule, "severity": a.severity, "last_seen": a.last_seen.isoformat()}
                for a in data["newest"]
            ],
        }
    )
