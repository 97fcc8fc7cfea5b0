"""Incidents: the list (open ones first) and one incident as a timeline of its alerts across the sources."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from mamori.web.apps import dashboard
from mamori.web.queries import incident_detail, incidents, with_rules
from mamori.web.roles import scope_of

__all__ = ["incident_detail_view", "incident_list"]


def incident_list(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(incidents(scope_of(request.user).visible), dashboard().web.page_size)
    page = paginator.get_page(request.GET.get("page"))
    with_rules(list(page.object_list))
    return render(request, "mamori/incidents.html", {"nav": "incidents", "page": page})


def incident_detail_view(request: HttpRequest, uid: str) -> HttpResponse:
    data = incident_detail(uid, scope_of(request.user).visible)
    if data is None:
        raise Http404(_("No such incident."))
    if data["incident"].merged_into:  # an alert linked it to an older incident, which now tells the whole story
        return redirect(f"/incidents/{data['incident'].merged_into}/")
    with_rules([data["incident"]])
    return render(request, "mamori/incident_detail.html", {**data, "nav": "incidents"})
