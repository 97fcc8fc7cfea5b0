"""Words at the edge: an alert's summary, title and evidence rendered when shown, in the reader's language.

Everything here returns plain text; each output escapes it for its own format (``mamori.escape``, Django's
autoescape). Nothing rendered is stored as the alert's truth: the store keeps facts (``Details``), and a summary
kept beside them is only a copy for readers outside mamori.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Mapping, Sequence
from typing import Any

from mamori.model import ALERT_FIELDS, Alert, iso_time
from mamori.rules.catalogue import Catalogue, Rule
from mamori.rules.details import Details, RawDetails
from mamori.rules.labels import field_label, value_label

__all__ = [
    "LANGS",
    "alert_to_dict",
    "describe_sample",
    "detail_rows",
    "plain_fields",
    "rule_of",
    "summary",
    "title",
    "typed_details",
]

LANGS = ("ja", "en")
_MISSING = {"ja": "（不明）", "en": "(unknown)"}
_LIST_SHOWN = 8  # items of a list named in a summary; the rest are counted


def _catalogue(catalogue: Catalogue | None) -> Catalogue:
    if catalogue is not None:
        return catalogue
    from mamori.rules import catalogue as default

    return default()


def _join(items: Sequence[Any], lang: str) -> str:
    shown = [str(i) for i in items[:_LIST_SHOWN]]
    more = len(items) - len(shown)
    sep = "、" if lang == "ja" else ", "
    text = sep.join(shown)
    if more > 0:
        text += f" ほか {more} 件" if lang == "ja" else f" and {more} more"
    return text


class _Value:
    """A value as a template shows it: lists joined, nothing as "(unknown)"; format specs (``{count:,}``) apply
    to the value itself."""

    __slots__ = ("lang", "value")

    def __init__(self, value: Any, lang: str) -> None:
        self.value = value
        self.lang = lang

    def __format__(self, spec: str) -> str:
        value = self.value
        if value is None:
            return _MISSING[self.lang]
        if isinstance(value, list | tuple):
            return _join(value, self.lang)
        if isinstance(value, bool):
            return ("はい" if value else "いいえ") if self.lang == "ja" else ("yes" if value else "no")
        if spec:
            try:
                return format(value, spec)
            except (TypeError, ValueError):
                return str(value)
        return str(value)

    def __str__(self) -> str:
        return self.__format__("")


class _Values(Mapping[str, _Value]):
    """What a summary template may name: the alert's fields, its details' fields, and their ``words``."""

    def __init__(self, alert: Alert, details: Details, lang: str) -> None:
        self._alert = alert
        self._details = details
        self._lang = lang
        self._words = {**details.words(lang), **details.alert_words(lang, alert)}

    def __getitem__(self, name: str) -> _Value:
        if name in self._words:
            return _Value(self._words[name], self._lang)
        if hasattr(self._details, name) and not name.startswith("_"):
            return _Value(getattr(self._details, name), self._lang)
        if name in self._details.extra:
            return _Value(self._details.extra[name], self._lang)
        if name == "severity":
            return _Value(self._alert.severity.label, self._lang)
        if hasattr(self._alert, name) and not name.startswith("_"):
            return _Value(getattr(self._alert, name), self._lang)
        return _Value(None, self._lang)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


class _Formatter(string.Formatter):
    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        # Only plain names: no attribute or index access from a template (a plugin's template is data).
        if not field_name.isidentifier():
            raise ValueError(f"a summary may name plain values only, not {field_name!r}")
        return kwargs[field_name], field_name


_FORMATTER = _Formatter()


def typed_details(alert: Alert, catalogue: Catalogue | None = None) -> Details:
    """The alert's details in its rule's type (a plain mapping, as a plugin or a test may give, is read into it)."""
    details = alert.details
    if isinstance(details, Details):
        return details
    kind = _catalogue(catalogue).details_type(alert.rule)
    return kind.from_facts(details) if kind is not None else RawDetails(extra=dict(details))


def summary(alert: Alert, lang: str, catalogue: Catalogue | None = None) -> str:
    """The alert's one-sentence summary in ``lang`` (``ja`` or ``en``)."""
    details = typed_details(alert, catalogue)
    rule = _catalogue(catalogue).get(alert.rule)
    if rule is None or isinstance(details, RawDetails):
        return _raw_summary(alert, details, lang)
    if details is not alert.details:
        alert = dataclasses.replace(alert, details=details)  # templates' guards read typed details
    chosen = rule.summary_for(alert)
    text = _FORMATTER.vformat(chosen.template(lang), (), _Values(alert, details, lang))
    if chosen.system and alert.system:
        text += f"（対象システム: {alert.system}）" if lang == "ja" else f" (system: {alert.system})"
    return text


def _raw_summary(alert: Alert, details: Details, lang: str) -> str:
    stored = ""
    if isinstance(details, RawDetails):
        stored = details.summary_en if lang == "en" else details.summary_ja
    if stored:
        return stored
    who = alert.src_ip or alert.src_mac or ""
    if lang == "ja":
        return f"ルール {alert.rule} のアラート（{who}、{alert.count:,} 件）"
    return f"Alert of rule {alert.rule} ({who}, {alert.count:,} events)"


def title(rule_id: str, lang: str, catalogue: Catalogue | None = None) -> str:
    return _catalogue(catalogue).title(rule_id, lang)


def rule_of(alert: Alert, catalogue: Catalogue | None = None) -> Rule | None:
    return _catalogue(catalogue).get(alert.rule)


_YES_NO = {"ja": ("はい", "いいえ"), "en": ("yes", "no")}


def detail_rows(alert: Alert, lang: str, catalogue: Catalogue | None = None) -> list[tuple[str, str]]:
    """The alert's details as (field in words, value in words) in ``lang``: codes named, lists joined, yes/no,
    nothing as a dash; never a Python repr. Each output escapes the text for its own format."""
    rule = rule_of(alert, catalogue)
    own = rule.labels if rule is not None else None
    codes = rule.values if rule is not None else None
    return [
        (field_label(name, lang, own), _value_words(name, value, lang, codes))
        for name, value in typed_details(alert, catalogue).items()
    ]


def _value_words(name: str, value: Any, lang: str, codes: Mapping[tuple[str, str], Any] | None) -> str:
    if value is None or value in ("", [], {}):
        return "–"
    if isinstance(value, bool):
        return _YES_NO["ja" if lang == "ja" else "en"][0 if value else 1]
    if isinstance(value, list | tuple):
        return ", ".join(_value_words(name, v, lang, codes) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(
            f"{value_label(name, str(k), lang, codes)}: {_value_words(name, v, lang, codes)}" for k, v in value.items()
        )
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.1f}".removesuffix(".0")
    return str(value_label(name, value, lang, codes))


# -- evidence in words ---------------------------------------------------------------------------------------------

_KINDS = {
    "attempt": ("接続の試み", "connection attempt"),
    "synack": ("応答 (SYN-ACK、ポートは開いている)", "answer (SYN-ACK, port open)"),
    "rstack": ("拒否 (RST-ACK、ポートは閉じている)", "refusal (RST-ACK, port closed)"),
    "rst": ("リセット (RST)", "reset (RST)"),
    "unreachable": ("到達不能 (ICMP port unreachable)", "unreachable (ICMP port unreachable)"),
    "arp-reply": ("ARP 応答", "ARP reply"),
    "arp-request": ("ARP 要求", "ARP request"),
    "windows-event": ("Windows イベント", "Windows event"),
    "backup-check": ("バックアップの確認", "backup check"),
    "vpn": ("VPN", "VPN"),
}
_VPN_EVENTS = {
    "login": ("ログイン", "login"),
    "logout": ("ログアウト", "logout"),
    "address": ("アドレス割り当て", "address assigned"),
    "tunnel-up": ("トンネル接続", "tunnel up"),
    "tunnel-down": ("トンネル切断", "tunnel down"),
    "peer": ("接続開始", "peer negotiating"),
}
_FLAG_WORDS = {
    "S": ("SYN", "SYN"),
    "SA": ("SYN-ACK", "SYN-ACK"),
    "F": ("FIN（FIN スキャン）", "FIN (FIN scan)"),
    "-": ("フラグなし（NULL スキャン）", "no flags (NULL scan)"),
    "FPU": ("FIN+PSH+URG（Xmas スキャン）", "FIN+PSH+URG (Xmas scan)"),
    "A": ("ACK のみ（ACK スキャン）", "ACK only (ACK scan)"),
}


def _endpoint(ip: Any, port: Any, mac: Any = None) -> str:
    text = str(ip or "?")
    if port not in (None, ""):
        text = f"[{text}]:{port}" if ":" in text else f"{text}:{port}"
    if mac:
        text += f" ({mac})"
    return text


def describe_sample(sample: Mapping[str, Any], lang: str) -> str:
    """One piece of evidence in words, e.g. "ARP 応答、gratuitous、192.168.10.1 は 02:..:01 にあると主張"."""
    ja = lang != "en"
    kind = str(sample.get("kind", ""))
    name = _KINDS.get(kind, (kind or "?", kind or "?"))[0 if ja else 1]
    if kind.startswith("arp"):
        claim = (
            f"{sample.get('sender_ip')} は {sample.get('sender_mac')} にあると主張"
            if ja
            else (f"claims {sample.get('sender_ip')} is at {sample.get('sender_mac')}")
        )
        parts = [name]
        if sample.get("gratuitous"):
            parts.append("gratuitous（自分の IP を告知）" if ja else "gratuitous (announcing its own IP)")
        parts.append(claim)
        if kind == "arp-request" and not sample.get("gratuitous"):
            parts.append(f"{sample.get('target_ip')} を問い合わせ" if ja else f"asks for {sample.get('target_ip')}")
        return ("、" if ja else ", ").join(parts)
    if kind == "backup-check":
        return _backup_sample(sample, ja)
    if kind == "windows-event":
        fields = sample.get("fields") or {}
        shown = ", ".join(f"{k}={v}" for k, v in list(fields.items())[:6] if v not in (None, "", "-"))
        head = (
            f"イベント {sample.get('event_id')}（{sample.get('channel')}、{sample.get('computer')}）"
            if ja
            else f"event {sample.get('event_id')} ({sample.get('channel')}, {sample.get('computer')})"
        )
        return f"{head}: {shown}" if shown else head
    if kind == "vpn":
        event = str(sample.get("event") or "")
        what = _VPN_EVENTS.get(event, (event, event))[0 if ja else 1]
        parts = [f"{name} {what}（{sample.get('protocol')}）" if ja else f"{name} {what} ({sample.get('protocol')})"]
        for key, ja_word, en_word in (
            ("user", "ユーザ", "user"),
            ("remote_ip", "接続元", "from"),
            ("assigned_ip", "割り当て", "assigned"),
            ("tunnel", "トンネル", "tunnel"),
            ("device", "装置", "device"),
        ):
            if sample.get(key):
                parts.append(f"{ja_word if ja else en_word} {sample.get(key)}")
        return ("、" if ja else ", ").join(parts)
    src = _endpoint(sample.get("src_ip"), sample.get("src_port"), sample.get("src_mac"))
    dst = _endpoint(sample.get("dst_ip"), sample.get("dst_port"))
    proto = str(sample.get("proto") or "").upper()
    flags = sample.get("flags")
    parts = [f"{name} {proto}".strip(), f"{src} → {dst}"]
    if flags:
        parts.append(_FLAG_WORDS.get(str(flags), (str(flags), str(flags)))[0 if ja else 1])
    action = sample.get("action")
    if action:
        said = {"allow": ("許可", "allowed"), "deny": ("拒否", "denied")}.get(str(action), (str(action), str(action)))
        device = sample.get("device")
        parts.append(
            (f"{device} が{said[0]}" if device else said[0])
            if ja
            else (f"{said[1]} by {device}" if device else said[1])
        )
    if sample.get("vlan") is not None:
        parts.append(f"VLAN {sample.get('vlan')}")
    return ("、" if ja else ", ").join(parts)


def _backup_sample(sample: Mapping[str, Any], ja: bool) -> str:
    last = sample.get("last_success")
    when = iso_time(last)[:16].replace("T", " ") + " UTC" if isinstance(last, int | float) else None
    generations = sample.get("generations")
    parts = [f"バックアップ「{sample.get('job')}」の確認" if ja else f"check of backup {sample.get('job')!s}"]
    parts.append(
        (f"最後の成功 {when}" if ja else f"last success {when}")
        if when
        else ("成功は見つからない" if ja else "no success found")
    )
    if isinstance(generations, int):
        parts.append(f"{generations} 世代" if ja else f"{generations} generation(s)")
    if sample.get("error"):
        parts.append(str(sample.get("error")))
    return ("、" if ja else ", ").join(parts)


# -- the JSON form of an alert, shared by the CLI, the actions and the reports ---------------------------------------

_BASE = frozenset(
    {"uid", "rule", "severity", "first_seen", "last_seen", "count", "src_mac", "src_ip", "dst_ip", "dst_port"}
    | {"system", "summary_ja", "summary_en"}
)


_NOT_PLAIN = frozenset({"key", "details", "samples"})


def plain_fields(alert: Alert) -> dict[str, Any]:
    """The alert's own fields (``model.ALERT_FIELDS``) as JSON-ready values: times in ISO 8601, the severity's name;
    not its grouping key, details or samples."""
    out: dict[str, Any] = {}
    for name in ALERT_FIELDS:
        if name in _NOT_PLAIN:
            continue
        value = getattr(alert, name)
        if name in ("first_seen", "last_seen"):
            value = iso_time(value)
        elif name == "severity":
            value = value.label
        out[name] = value
    return out


def alert_to_dict(alert: Alert, *, samples: bool = True, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """The alert's fields, its summaries rendered now in both languages, its rule details at the top level (e.g.
    ``scan_type``, ``ports``) and under ``details``, and its samples. Existing consumers rely on this shape."""
    details = typed_details(alert, catalogue)
    facts = dict(details.items())
    out: dict[str, Any] = {
        **plain_fields(alert),
        "summary_ja": summary(alert, "ja", catalogue),
        "summary_en": summary(alert, "en", catalogue),
    }
    for name, value in facts.items():
        if name not in _BASE:
            out[name] = value
    out["details"] = facts
    if samples:
        out["samples"] = [
            {**s, "ts": iso_time(s["ts"])} if isinstance(s.get("ts"), int | float) else dict(s) for s in alert.samples
        ]
    return out
