"""Template filters: severities, rules and statuses in the user's language, local times, evidence as JSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import template
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from mamori.model import Alert, Severity
from mamori.rules import Details, catalogue, render
from mamori.storage import record_to_alert

register = template.Library()

SEVERITY_NAMES = {
    "critical": gettext_lazy("Critical"),
    "high": gettext_lazy("High"),
    "medium": gettext_lazy("Medium"),
    "low": gettext_lazy("Low"),
    "info": gettext_lazy("Info"),
}
STATUS_NAMES = {
    "open": gettext_lazy("Open"),
    "acknowledged": gettext_lazy("Acknowledged"),
    "resolved": gettext_lazy("Resolved"),
    "false_positive": gettext_lazy("False positive"),
}
ACTION_NAMES = {
    "acknowledge": gettext_lazy("Acknowledged"),
    "resolve": gettext_lazy("Resolved"),
    "false_positive": gettext_lazy("Marked as false positive"),
    "reopen": gettext_lazy("Reopened"),
    "register_terminal": gettext_lazy("Registered the terminal"),
}


def _label(value: Any) -> str:
    try:
        return Severity(int(value)).label
    except (TypeError, ValueError):
        return str(value)


@register.filter
def severity_label(value: Any) -> str:
    return str(SEVERITY_NAMES.get(_label(value), value))


@register.filter
def severity_class(value: Any) -> str:
    return f"sev-{_label(value)}"


def _lang() -> str:
    """The reader's language: English or Japanese (the default)."""
    return "en" if (translation.get_language() or "ja").startswith("en") else "ja"


def _alert(value: Any) -> Alert:
    """An alert row as the Alert it records (kept on the row: several filters read it on one page)."""
    if isinstance(value, Alert):
        return value
    cached = getattr(value, "_mamori_alert", None)
    if cached is None:
        cached = record_to_alert(value)
        value._mamori_alert = cached
    return cached


@register.filter
def rule_name(value: str) -> str:
    """A rule's title in the reader's language, from the rule catalogue."""
    return catalogue().title(value, _lang())


@register.filter
def rule_meaning(value: str) -> str:
    found = catalogue().get(value)
    return found.meaning(_lang()) if found is not None else ""


@register.filter
def rule_response(value: str) -> str:
    found = catalogue().get(value)
    return found.response(_lang()) if found is not None else ""


@register.filter
def status_name(value: str) -> str:
    return str(STATUS_NAMES.get(value, value))


@register.filter
def action_name(value: str) -> str:
    return str(ACTION_NAMES.get(value, value))


@register.filter
def local(value: dt.datetime | float | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value, tz=dt.UTC)
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


@register.filter
def summary(alert: Any, language: str = "") -> str:
    """The alert's summary rendered now, in ``language`` (default: the reader's); Django escapes it."""
    return render.summary(_alert(alert), "en" if language.startswith("en") else "ja" if language else _lang())


@register.filter
def sample_words(sample: Any) -> str:
    """One piece of evidence in words, in the reader's language."""
    return render.describe_sample(sample, _lang()) if isinstance(sample, dict) else ""


@register.filter
def detail_rows(alert: Any) -> list[tuple[str, str]]:
    """The alert's details as (field in words, value in words), in the reader's language; Django escapes both."""
    return render.detail_rows(_alert(alert), _lang())


@register.filter
def raw_json(alert: Any) -> str:
    """The alert's stored facts and samples as JSON, for the toggle behind the words."""
    shown = _alert(alert)
    details = shown.details.to_json() if isinstance(shown.details, Details) else dict(shown.details)
    return json.dumps(
        {"details": details, "samples": list(shown.samples)}, ensure_ascii=False, indent=2, sort_keys=True, default=str
    )


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


@register.filter
def sample_time(sample: dict[str, Any]) -> str:
    ts = sample.get("ts")
    return local(ts) if isinstance(ts, int | float) else str(ts or "")


@register.simple_tag
def query_with(params: dict[str, str], **changes: Any) -> str:
    from urllib.parse import urlencode

    merged = {**params, **{k: v for k, v in changes.items() if v not in (None, "")}}
    return "?" + urlencode(merged)


@register.filter
def yes_no(value: Any) -> str:
    return _("yes") if value else _("no")


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key) if mapping and key else None


_SHOWN_COLUMNS = frozenset(
    {
        "ts",
        "kind",
        "proto",
        "flags",
        "src_ip",
        "src_port",
        "src_mac",
        "dst_ip",
        "dst_port",
        "dst_mac",
        "sender_ip",
        "sender_mac",
        "target_ip",
    }
)


@register.filter
def sample_extra(sample: dict[str, Any]) -> list[tuple[str, Any]]:
    """A sample's fields not already shown in their own columns."""
    return [(k, v) for k, v in sample.items() if k not in _SHOWN_COLUMNS]


SOURCE_KINDS = {
    "packets": gettext_lazy("Packets"),
    "log": gettext_lazy("Router or firewall log"),
    "windows": gettext_lazy("Windows log"),
}
INCIDENT_STATUS_NAMES = {"open": pgettext_lazy("incident", "Open"), "closed": gettext_lazy("Closed (all handled)")}


def source_kind_of(alert: Any) -> str:
    """Where an alert's evidence came from: a Windows log (a Windows rule), a router's or firewall's log (the log
    collector's other rules), or packets (the sensor, a capture file)."""
    found = catalogue().get(alert.rule)
    if found is not None and found.category == "windows":
        return "windows"
    return "log" if getattr(alert, "origin", "") == "syslog" else "packets"


@register.filter
def source_kind(alert: Any) -> str:
    return source_kind_of(alert)


@register.filter
def source_kind_name(alert: Any) -> str:
    return str(SOURCE_KINDS[source_kind_of(alert)])


@register.filter
def incident_status_name(value: str) -> str:
    return str(INCIDENT_STATUS_NAMES.get(value, value))


@register.filter
def incident_keys(incident: Any) -> dict[str, list[str]]:
    """What links an incident's alerts, by kind: addresses, computers, accounts."""
    from mamori.incidents import key_parts

    return key_parts(incident.keys or ())


@register.filter
def rule_story(rules: Any) -> str:
    """The rules of an incident's alerts, in the order they began, as one line of titles."""
    return " → ".join(rule_name(r) for r in rules or ())


@register.filter
def in_reader_language(row: Any, field: str) -> str:
    """A stored bilingual text (``found`` -> ``found_ja`` / ``found_en``) in the reader's language."""
    return str(getattr(row, f"{field}_{_lang()}", ""))


_SELF_CHECK_STATUS = {
    "ok": ("OK", "OK"),
    "problem": ("問題", "Problem"),
    "warning": ("注意", "Warning"),
    "skipped": ("対象外", "Not used"),
}
_NAV_GROUPS = {
    "terminals": "network",
    "assets": "network",
    "zones": "network",
    "exposure": "network",
    "blocks": "network",
    "maintenance": "operations",
    "backups": "operations",
    "checklist": "inspection",
    "reports": "inspection",
    "admin": "admin",
}


@register.filter
def self_check_status(value: str) -> str:
    words = _SELF_CHECK_STATUS.get(value, (value, value))
    return words[1] if _lang() == "en" else words[0]


@register.filter
def self_check_name(value: str) -> str:
    from mamori.rules.system import CHECK_NAMES

    words = CHECK_NAMES.get(value, (value, value))
    return words[1] if _lang() == "en" else words[0]


@register.simple_tag
def bilingual(ja: str, en: str) -> str:
    """A text this template gives in both languages, for the reader's."""
    return en if _lang() == "en" else ja


@register.filter
def nav_group(nav: str) -> str:
    """The menu of the navigation bar a page is in (its label is shown as the current one)."""
    return _NAV_GROUPS.get(nav or "", "")


@register.filter
def port_name(key: str) -> str:
    """A service as the asset ledger stores it (``tcp/445``) in words: ``445 (SMB)``."""
    from mamori.rules.exposure import port_label

    return port_label(str(key))
