"""docs/rules.md, generated from the catalogue (``mamori rules --markdown``); a test keeps the file current."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import CATEGORIES, Catalogue, Rule

__all__ = ["rules_markdown"]

_SEVERITY = {
    Severity.CRITICAL: "critical（重大）",
    Severity.HIGH: "high（高）",
    Severity.MEDIUM: "medium（中）",
    Severity.LOW: "low（低）",
    Severity.INFO: "info（情報）",
}

_INTRO = """# 検知ルール / Detection rules

<!-- Generated from the rule catalogue (src/mamori/rules/) by `mamori rules --markdown`; do not edit by hand. -->

各アラートの `rule` の意味と、見つけたときの対応です。同じ説明がダッシュボードのアラート画面と通知にも出ます。
アラートの JSON（`--json`）には共通の項目（`uid`、`rule`、`severity`、`first_seen`、`last_seen`、`count`、
`src_mac`、`src_ip`、`dst_ip`、`dst_port`、`system`、`summary_ja`、`summary_en`）に加えて、ルールごとの詳細項目が
最上位と `details` に入り、`samples` に元の観測（最初と最後の 5 件ずつ）が残ります。

What each alert's `rule` means and what to do about it; the dashboard's alert page and the notifications say the
same. An alert's JSON (`--json`) carries the common fields (`uid`, `rule`, `severity`, `first_seen`, `last_seen`,
`count`, `src_mac`, `src_ip`, `dst_ip`, `dst_port`, `system`, `summary_ja`, `summary_en`), the rule's detail fields
at the top level and under `details`, and `samples` (the first and last five observations behind it).
"""


def _type_name(hint: Any) -> str:
    text = str(hint).replace("typing.", "").replace("collections.abc.", "")
    return text.replace("<class '", "").replace("'>", "").replace("NoneType", "None")


def _fields(rule: Rule) -> list[str]:
    hints = typing.get_type_hints(rule.details)
    lines = []
    for f in dataclasses.fields(rule.details):
        if f.name == "extra" or f.name in rule.details.hidden:
            continue
        lines.append(f"`{f.name}` ({_type_name(hints[f.name])})")
    return lines


def _rule_section(rule: Rule) -> str:
    parts = [
        f"## {rule.id} — {rule.title.ja} / {rule.title.en}",
        "",
        f"既定の重大度 / default severity: {_SEVERITY.get(rule.severity, rule.severity.label)}",
        "",
        f"**意味**: {rule.meaning.ja}",
        "",
        f"**対応**: {rule.response.ja}",
        "",
        f"**Meaning**: {rule.meaning.en}",
        "",
        f"**Response**: {rule.response.en}",
        "",
    ]
    if rule.notes is not None:
        parts += [f"**詳細項目**: {rule.notes.ja}", "", f"**Details**: {rule.notes.en}", ""]
    fields = _fields(rule)
    if fields:
        parts += ["項目 / fields: " + ", ".join(fields), ""]
    return "\n".join(parts)


def rules_markdown(catalogue: Catalogue) -> str:
    """The whole of docs/rules.md for this catalogue, grouped by category."""
    out = [_INTRO]
    for category, (ja, en) in CATEGORIES.items():
        rules = [catalogue[r] for r in catalogue.ids(category)]
        if not rules:
            continue
        out.append(f"---\n\n# {ja} / {en}\n")
        for rule in rules:
            out.append("---\n\n" + _rule_section(rule))
    return "\n".join(out).rstrip("\n") + "\n"
