"""Incidents as JSON objects and as lines of text (``mamori incidents``)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from mamori import escape
from mamori.incidents import key_parts
from mamori.model import Alert, iso_time
from mamori.reports.alert_format import local_time
from mamori.rules import catalogue, render
from mamori.storage import IncidentRow

__all__ = ["incident_line", "incident_to_dict", "incident_to_json"]

_STATUS = {"ja": {"open": "対応中", "closed": "完了"}, "en": {"open": "open", "closed": "closed"}}


def incident_to_dict(row: IncidentRow, alerts: Sequence[Alert] = ()) -> dict[str, Any]:
    """The facts of an incident: what links its alerts by kind (addresses, computers and accounts as they are
    matched: lower case, without the domain), its rules in the order they began, its alerts; with ``alerts``, its
    timeline: each alert's rule, times and summary in both languages (the names as the logs wrote them)."""
    parts = key_parts(row.keys)
    timeline = [
        {
            "alert": a.uid,
            "rule": a.rule,
            "severity": a.severity.label,
            "first_seen": iso_time(a.first_seen),
            "last_seen": iso_time(a.last_seen),
            "summary_ja": render.summary(a, "ja"),
            "summary_en": render.summary(a, "en"),
        }
        for a in alerts
    ]
    return {
        "incident": row.uid,
        "status": row.status,
        "severity": row.severity.label,
        "first_seen": iso_time(row.first_seen),
        "last_seen": iso_time(row.last_seen),
        "alert_count": row.alert_count,
        "addresses": parts["ip"],
        "computers": parts["name"],
        "accounts": parts["account"],
        "rules": list(row.rules),
        "story_ja": " → ".join(catalogue().title(r, "ja") for r in row.rules),
        "story_en": " → ".join(catalogue().title(r, "en") for r in row.rules),
        "alerts": list(row.alert_uids),
        **({"timeline": timeline} if alerts else {}),
    }


# Characters a line reader may take for the end of a line (Python's splitlines, JavaScript before ES2019): written
# as JSON escapes so that one incident stays one line whatever its names hold.
_LINE_BREAKS = re.compile("[\x1c-\x1e\x7f-\x9f\u2028\u2029]")


def incident_to_json(row: IncidentRow, alerts: Sequence[Alert] = ()) -> str:
    text = json.dumps(incident_to_dict(row, alerts), ensure_ascii=False)
    return _LINE_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def incident_line(row: IncidentRow, lang: str = "ja") -> str:
    """One line for a terminal: no escape sequence or line break from the names that link the alerts."""
    ja = lang == "ja"
    parts = key_parts(row.keys)
    story = " → ".join(catalogue().title(r, "ja" if ja else "en") for r in row.rules)
    labels = ("アドレス", "コンピュータ", "アカウント") if ja else ("addresses", "computers", "accounts")
    linked = "; ".join(
        f"{label}: {', '.join(values[:5])}{' …' if len(values) > 5 else ''}"
        for label, values in zip(labels, (parts["ip"], parts["name"], parts["account"]), strict=True)
        if values
    )
    count = f"アラート {row.alert_count} 件" if ja else f"{row.alert_count} alert{'s' if row.alert_count != 1 else ''}"
    status = _STATUS["ja" if ja else "en"].get(row.status, row.status)
    text = (
        f"{local_time(row.first_seen)} – {local_time(row.last_seen)} [{row.severity.label}] {status} {count}: "
        f"{story}" + (f" ({linked})" if linked else "") + f" incident={row.uid}"
    )
    return escape.one_line(text)
