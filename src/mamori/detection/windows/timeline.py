"""What an investigator reads besides the alerts: a timeline of the events that matter (logons, RDP, accounts,
services, installs, log clearing, and every event behind an alert) and a logon summary — who logged on to which
computer from where, with first and last times (what Hayabusa users asked for while tracing ransomware over RDP).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from mamori.detection.windows.common import account_of, clean, logon_type, source_ip, source_of
from mamori.model import WindowsEvent, iso_time

__all__ = ["TIMELINE_EVENTS", "LogonEntry", "LogonSummary", "timeline_row"]

_LSM = "microsoft-windows-terminalservices-localsessionmanager/operational"
_RCM = "microsoft-windows-terminalservices-remoteconnectionmanager/operational"
_CLIENT = "microsoft-windows-terminalservices-rdpclient/operational"

# (channel in lower case, event id) -> (Japanese, English) description, for the timeline.
TIMELINE_EVENTS: dict[tuple[str, int], tuple[str, str]] = {
    ("security", 4624): ("ログオン成功", "logon"),
    ("security", 4625): ("ログオン失敗", "logon failed"),
    ("security", 4634): ("ログオフ", "logoff"),
    ("security", 4647): ("ログオフ（ユーザー操作）", "user initiated logoff"),
    ("security", 4648): ("明示的な資格情報でのログオン", "logon with explicit credentials"),
    ("security", 4697): ("サービスの登録", "service installed"),
    ("security", 4720): ("ユーザーの作成", "user account created"),
    ("security", 4722): ("ユーザーの有効化", "user account enabled"),
    ("security", 4724): ("パスワードのリセット", "password reset"),
    ("security", 4726): ("ユーザーの削除", "user account deleted"),
    ("security", 4728): ("グローバルグループへの追加", "member added to a global group"),
    ("security", 4732): ("ローカルグループへの追加", "member added to a local group"),
    ("security", 4740): ("アカウントのロックアウト", "account locked out"),
    ("security", 4756): ("ユニバーサルグループへの追加", "member added to a universal group"),
    ("security", 1102): ("セキュリティログの消去", "Security log cleared"),
    ("system", 104): ("イベントログの消去", "event log cleared"),
    ("system", 7045): ("サービスの登録", "service installed"),
    ("application", 1033): ("製品のインストール", "product installed"),
    ("application", 11707): ("製品のインストール完了", "product installation completed"),
    ("application", 11724): ("製品の削除", "product removed"),
    (_LSM, 21): ("RDP セッションのログオン", "RDP session logon"),
    (_LSM, 22): ("RDP シェルの開始", "RDP shell start"),
    (_LSM, 23): ("RDP セッションのログオフ", "RDP session logoff"),
    (_LSM, 24): ("RDP セッションの切断", "RDP session disconnected"),
    (_LSM, 25): ("RDP セッションの再接続", "RDP session reconnection"),
    (_RCM, 1149): ("RDP 認証の成功", "RDP authentication succeeded"),
    (_CLIENT, 1024): ("RDP 接続の開始（外向き）", "outgoing RDP connection started"),
    (_CLIENT, 1102): ("RDP 接続（外向き）", "outgoing RDP connection to an address"),
}

# Fields worth a column of their own in the timeline's "detail", in this order.
_DETAIL_FIELDS = (
    "Status",
    "SubStatus",
    "AuthenticationPackageName",
    "ServiceName",
    "ImagePath",
    "ServiceFileName",
    "Image",
    "NewProcessName",
    "ProcessName",
    "CommandLine",
    "SourceImage",
    "TargetImage",
    "TargetServerName",
    "MemberName",
    "Channel",
    "Value",
    "Data",
)


def _who(event: WindowsEvent) -> str:
    f = event.fields
    if "TargetUserName" in f:
        return account_of(event)
    if "User" in f:
        return f["User"]
    if "Param1" in f:
        domain = clean(f.get("Param2"))
        return f"{domain}\\{f['Param1']}" if domain else f["Param1"]
    if "SubjectUserName" in f:
        return account_of(event, "SubjectUserName", "SubjectDomainName")
    return ""


def _where_from(event: WindowsEvent) -> str:
    f = event.fields
    if "IpAddress" in f or "WorkstationName" in f:
        return source_of(event) or ""
    for name in ("Address", "Param3"):
        if name in f:
            return source_ip(f[name]) or f[name]
    return ""


def timeline_row(event: WindowsEvent, rules: tuple[str, ...] = ()) -> dict[str, Any]:
    """One timeline line: time (ISO 8601, UTC), where, what, who, from where, and the alerts it is part of."""
    what = TIMELINE_EVENTS.get((event.channel.lower(), event.event_id), ("", ""))
    f = event.fields
    detail = "; ".join(f"{name}={f[name][:300]}" for name in _DETAIL_FIELDS if clean(f.get(name)))
    return {
        "time": iso_time(event.ts),
        "computer": event.computer,
        "channel": event.channel,
        "event_id": event.event_id,
        "record_id": event.record_id,
        "what_ja": what[0],
        "what_en": what[1],
        "user": _who(event),
        "source": _where_from(event),
        "logon_type": logon_type(event),
        "rules": ",".join(rules),
        "detail": detail,
        "file": event.source,
    }


@dataclass(slots=True)
class LogonEntry:
    computer: str
    user: str
    source: str
    logon_type: str
    first: float
    last: float
    successes: int = 0
    failures: int = 0

    def as_row(self) -> dict[str, Any]:
        return {
            "computer": self.computer,
            "user": self.user,
            "source": self.source,
            "logon_type": self.logon_type,
            "first": iso_time(self.first),
            "last": iso_time(self.last),
            "successes": self.successes,
            "failures": self.failures,
        }


_NOT_PEOPLE = frozenset({"system", "local service", "network service", "anonymous logon", "-", ""})


class LogonSummary:
    """Logons per (computer, account, source, logon type) with first/last times and counts; bounded."""

    EVENT_IDS = frozenset({4624, 4625, 21, 25, 1149})

    def __init__(self, cap: int = 200_000) -> None:
        self.cap = cap
        self.entries: OrderedDict[tuple[str, str, str, str], LogonEntry] = OrderedDict()
        self.evicted = 0

    def add(self, event: WindowsEvent) -> None:
        channel = event.channel.lower()
        eid = event.event_id
        if eid in (4624, 4625) and channel == "security":
            kind = logon_type(event)
            if kind in (0, 4, 5, None):
                return
            type_text = str(kind)
            success = eid == 4624
        elif eid in (21, 25) and channel == _LSM:
            type_text, success = "RDP (LocalSessionManager)", True
        elif eid == 1149 and channel == _RCM:
            type_text, success = "RDP auth (1149)", True
        else:
            return
        user = _who(event)
        bare = user.rsplit("\\", 1)[-1].lower()
        if bare in _NOT_PEOPLE or bare.endswith("$") or bare.startswith(("dwm-", "umfd-")):
            return
        source = _where_from(event) or "-"
        key = (event.computer, user.lower(), source, type_text)
        entry = self.entries.get(key)
        if entry is None:
            if len(self.entries) >= self.cap:
                self.entries.popitem(last=False)
                self.evicted += 1
            entry = self.entries[key] = LogonEntry(event.computer, user, source, type_text, event.ts, event.ts)
        else:
            self.entries.move_to_end(key)
            entry.first = min(entry.first, event.ts)
            entry.last = max(entry.last, event.ts)
        if success:
            entry.successes += 1
        else:
            entry.failures += 1

    def rows(self) -> list[dict[str, Any]]:
        return [e.as_row() for e in sorted(self.entries.values(), key=lambda e: (e.first, e.computer, e.user))]
