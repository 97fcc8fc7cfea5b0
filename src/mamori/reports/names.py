"""The names people read for rule ids, statuses and handling actions, in Japanese and English (for reports that
are not web pages; the dashboard has the same names in its translation catalogue); rule names come from the rule
catalogue."""

from __future__ import annotations

from mamori.rules import catalogue

__all__ = ["ACTION_NAMES", "STATUS_NAMES", "rule_label"]

STATUS_NAMES: dict[str, tuple[str, str]] = {
    "open": ("未対応", "Open"),
    "acknowledged": ("確認済み", "Acknowledged"),
    "resolved": ("対応済み", "Resolved"),
    "false_positive": ("誤検知", "False positive"),
}
ACTION_NAMES: dict[str, tuple[str, str]] = {
    "acknowledge": ("確認済みにした", "acknowledged"),
    "resolve": ("対応済みにした", "resolved"),
    "false_positive": ("誤検知とした", "marked as false positive"),
    "reopen": ("未対応に戻した", "reopened"),
    "register_terminal": ("端末を登録した", "registered the terminal"),
}


def rule_label(rule: str) -> str:
    """``port-scan`` -> ``ポートスキャン / Port scan``, from the rule catalogue (an unknown id as it is)."""
    found = catalogue().get(rule)
    return f"{found.title.ja} / {found.title.en}" if found is not None else rule
