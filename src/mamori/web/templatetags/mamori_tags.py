"""Template filters: severities, rules and statuses in the user's language, local times, evidence as JSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mamori.model import Severity

register = template.Library()

RULE_NAMES = {
    "unregistered-terminal": gettext_lazy("Unregistered terminal"),
    "port-scan": gettext_lazy("Port scan"),
    "syn-flood": gettext_lazy("SYN flood"),
    "ip-mac-conflict": gettext_lazy("ARP spoofing / IP-MAC conflict"),
    "archive-error": gettext_lazy("Log archive error"),
    "brute-force": gettext_lazy("Brute-force logon"),
    "password-spray": gettext_lazy("Password spraying"),
    "logon-after-failures": gettext_lazy("Logon after failures"),
    "rdp-logon": gettext_lazy("RDP logon"),
    "rdp-outbound": gettext_lazy("Outgoing RDP"),
    "admin-ntlm-logon": gettext_lazy("Administrator NTLM logon"),
    "account-lockout": gettext_lazy("Account lockout"),
    "account-change": gettext_lazy("Account change"),
    "log-cleared": gettext_lazy("Log cleared"),
    "service-installed": gettext_lazy("Service installed"),
    "attack-tool": gettext_lazy("Attack tool"),
}
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


@register.filter
def rule_name(value: str) -> str:
    return str(RULE_NAMES.get(value, value))


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
def summary(alert: Any, language: str) -> str:
    return str(alert.summary_en if language == "en" else alert.summary_ja)


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
