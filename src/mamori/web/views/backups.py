"""The backup jobs (バックアップ): each job's state from its latest check, the last success and its age, the
generations kept, the offline copy and when it was last seen online out of its window, the last restore test;
the form to record a restore test done by hand."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mamori.model import RestoreTest
from mamori.reports.backups import job_view
from mamori.storage import BackupTable
from mamori.storage.models import AlertRecord
from mamori.web.apps import dashboard
from mamori.web.audit import audit
from mamori.web.roles import is_admin

__all__ = ["backup_list", "restore_test"]

_RULES = ("backup-missed", "backup-generations", "backup-offline-exposed")


def _lang() -> str:
    return "en" if (get_language() or "ja").startswith("en") else "ja"


def _open_alerts() -> dict[str, list[Any]]:
    """The open alerts of the backup rules, by job name (or, for the offline copy, by its host)."""
    found: dict[str, list[Any]] = {}
    for uid, rule, key, severity, last_seen in (
        AlertRecord.objects.filter(rule__in=_RULES, status="open")
        .order_by("-last_seen")
        .values_list("uid", "rule", "key", "severity", "last_seen")[:500]
    ):
        found.setdefault(key, []).append({"uid": uid, "rule": rule, "severity": severity, "last_seen": last_seen})
    return found


def _page(request: HttpRequest, errors: dict[str, str], values: dict[str, str], status: int = 200) -> HttpResponse:
    parts = dashboard()
    jobs = parts.site.backups
    table = BackupTable(parts.store)
    statuses = table.statuses()
    tests = table.last_restore_tests()
    alerts = _open_alerts()
    now = time.time()
    lang = _lang()
    rows = []
    for job in jobs:
        view = job_view(job, statuses.get(job.name), tests.get(job.name), now, lang)
        own = [a for a in alerts.get(job.name, []) if a["rule"] != "backup-offline-exposed"]
        exposed = alerts.get(job.offline.host, []) if job.offline is not None else []
        exposed = [a for a in exposed if a["rule"] == "backup-offline-exposed"]
        rows.append({"view": view, "alerts": own, "exposed": exposed[0] if exposed else None})
    return render(
        request,
        "mamori/backups.html",
        {
            "nav": "backups",
            "rows": rows,
            "jobs": jobs,
            "tests": table.restore_tests(limit=20),
            "errors": errors,
            "values": values,
            "today": dt.date.today().isoformat(),
            "is_admin": is_admin(request.user),
        },
        status=status,
    )


def backup_list(request: HttpRequest) -> HttpResponse:
    return _page(request, {}, {})


@require_POST
def restore_test(request: HttpRequest) -> HttpResponse:
    """Record a restore test (administrators)."""
    if not is_admin(request.user):
        raise PermissionDenied(_("Only an administrator can record a restore test."))
    values = {k: (request.POST.get(k) or "").strip() for k in ("job", "tested_on", "what", "by", "note")}
    errors: dict[str, str] = {}
    names = {j.name for j in dashboard().site.backups}
    if values["job"] not in names:
        errors["job"] = _("Choose one of the backup jobs.")
    try:
        day = dt.date.fromisoformat(values["tested_on"])
        if day > dt.date.today():
            errors["tested_on"] = _("The day cannot be in the future.")
    except ValueError:
        errors["tested_on"] = _("Write the day as 2026-11-30.")
    for name, limit in (("what", 500), ("by", 200)):
        if not values[name]:
            errors[name] = _("Required.")
        elif len(values[name]) > limit:
            errors[name] = _("Too long.")
    if errors:
        return _page(request, errors, values, status=400)
    BackupTable(dashboard().store).add_restore_test(
        RestoreTest(
            job=values["job"],
            tested_on=values["tested_on"],
            what=values["what"],
            by=values["by"],
            note=values["note"][:2000],
            recorded_at=time.time(),
            recorded_by=request.user.get_username(),
        )
    )
    audit(request, "backup.restore_test", values["job"], f"on={values['tested_on']} by={values['by']}")
    return redirect("/backups/")
