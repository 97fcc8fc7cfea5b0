"""Changes an attacker makes once in: ``account-change`` (users created, members added to groups),
``log-cleared`` (Security 1102, System 104) and ``service-installed`` (System 7045, Security 4697)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from mamori.detection.book import AlertState
from mamori.detection.windows.common import SECURITY, SYSTEM, RuleBase, clean, event_label
from mamori.detection.windows.tools import ToolMatcher
from mamori.model import Severity, WindowsEvent

__all__ = ["AccountChangeRule", "LogClearedRule", "ServiceInstalledRule"]

_MAX_CHANGES = 50

# Groups whose members can run the machine or the domain, by well-known SID (names are localised, SIDs are not).
_PRIVILEGED_SIDS = ("S-1-5-32-544", "S-1-5-32-555", "S-1-5-32-551", "S-1-5-32-548", "S-1-5-32-549")
_PRIVILEGED_RIDS = ("-512", "-518", "-519", "-520")  # Domain/Schema/Enterprise Admins, Group Policy Creator Owners
_PRIVILEGED_NAMES = frozenset(
    {
        "administrators",
        "remote desktop users",
        "backup operators",
        "domain admins",
        "enterprise admins",
        "schema admins",
    }
)
_CHANGES = {
    4720: ("ユーザー作成", "user created"),
    4726: ("ユーザー削除", "user deleted"),
    4728: ("グローバルグループに追加", "added to a global group"),
    4732: ("ローカルグループに追加", "added to a local group"),
    4756: ("ユニバーサルグループに追加", "added to a universal group"),
}


def _privileged(sid: str, name: str) -> bool:
    return sid in _PRIVILEGED_SIDS or sid.endswith(_PRIVILEGED_RIDS) or name.lower() in _PRIVILEGED_NAMES


def _account_summary(state: AlertState) -> tuple[str, str]:
    d = state.details
    changes = d.get("changes") or []
    shown = "; ".join(str(c) for c in list(changes)[:3]) + (" …" if len(changes) > 3 else "")
    actor = d.get("actor") or "?"
    if d.get("privileged"):
        ja = f"管理者グループの変更: {event_label(state)} で {actor} が {shown}"
        en = f"Privileged group change on {event_label(state)} by {actor}: {shown}"
    else:
        ja = f"アカウントの変更: {event_label(state)} で {actor} が {shown}"
        en = f"Account change on {event_label(state)} by {actor}: {shown}"
    return ja, en


@dataclass
class AccountChangeRule(RuleBase):
    """4720 user created, 4726 deleted, 4728/4732/4756 member added to a group: one alert per actor and computer."""

    rule: ClassVar[str] = "account-change"
    event_ids: ClassVar[frozenset[int]] = frozenset(_CHANGES)

    def on_event(self, event: WindowsEvent) -> bool:
        if event.channel.lower() != SECURITY:
            return False
        f = event.fields
        actor = (f.get("SubjectUserName") or "").strip() or "?"
        target = (f.get("TargetUserName") or "").strip()
        if event.event_id in (4720, 4726):
            privileged = False
            change = f"{_CHANGES[event.event_id][1]}: {target}"
        else:
            member = clean(f.get("MemberName")) or clean(f.get("MemberSid")) or "?"
            privileged = _privileged((f.get("TargetSid") or "").strip(), target)
            change = f"{member} -> {target}"
        state, _ = self.ctx.book.open(
            self.rule,
            f"{event.computer}|{actor.lower()}",
            event.ts,
            severity=Severity.HIGH if privileged else Severity.MEDIUM,
            summarize=_account_summary,
            quiet_period=self.quiet_period,
        )
        d = state.details
        d.setdefault("computer", event.computer)
        d.setdefault("actor", actor)
        d.setdefault("target_user", target)
        changes = d.setdefault("changes", [])
        if isinstance(changes, list) and len(changes) < _MAX_CHANGES and change not in changes:
            changes.append(change)
        if privileged:
            d["privileged"] = True
            state.severity = Severity.HIGH
        state.add(event, event.ts)
        return True


def _cleared_summary(state: AlertState) -> tuple[str, str]:
    d = state.details
    log = d.get("log") or "?"
    who = d.get("actor") or "?"
    ja = f"イベントログの消去: {event_label(state)} の {log} ログが {who} により消去されました（{state.count} 回）"
    en = f"Event log cleared: the {log} log on {event_label(state)} was cleared by {who} ({state.count}×)"
    return ja, en


@dataclass
class LogClearedRule(RuleBase):
    """Security 1102 (the audit log was cleared) and System 104 (another log was cleared), from the Eventlog service."""

    rule: ClassVar[str] = "log-cleared"
    event_ids: ClassVar[frozenset[int]] = frozenset({1102, 104})

    def on_event(self, event: WindowsEvent) -> bool:
        channel = event.channel.lower()
        if (event.event_id, channel) not in ((1102, SECURITY), (104, SYSTEM)):
            return False
        if "eventlog" not in event.provider.lower():
            return False
        log = "Security" if event.event_id == 1102 else (clean(event.fields.get("Channel")) or "System")
        actor = clean(event.fields.get("SubjectUserName"))
        domain = clean(event.fields.get("SubjectDomainName"))
        state, _ = self.ctx.book.open(
            self.rule,
            f"{event.computer}|{log.lower()}",
            event.ts,
            severity=Severity.HIGH,
            summarize=_cleared_summary,
            quiet_period=self.quiet_period,
        )
        state.details.update(
            computer=event.computer, log=log, actor=f"{domain}\\{actor}" if domain and actor else actor
        )
        state.add(event, event.ts)
        return True


# What a service's command line should not look like: a shell, a script, a share, a user's folder, an encoded command.
_SUSPICIOUS_SERVICE = re.compile(
    r"(%comspec%|cmd(\.exe)?\s*/[ck]|powershell|pwsh|mshta|rundll32|regsvr32|wscript|cscript|"
    r"\\\\[^\\]+\\(admin|c)\$|\\temp\\|\\tmp\\|\\appdata\\|\\users\\public\\|\\programdata\\[^\\]+\.exe|"
    r"\s-e(nc|ncodedcommand)?\s|frombase64string|\.bat\b|\.ps1\b|\.vbs\b)",
    re.IGNORECASE,
)


def _service_summary(state: AlertState) -> tuple[str, str]:
    d = state.details
    ja = f"サービスの新規登録: {event_label(state)} に {d.get('service')}（{d.get('image_path')}）"
    en = f"New service installed on {event_label(state)}: {d.get('service')} ({d.get('image_path')})"
    if d.get("suspicious"):
        ja += f"。不審: {d['suspicious']}"
        en += f"; suspicious: {d['suspicious']}"
    return ja, en


@dataclass
class ServiceInstalledRule(RuleBase):
    """System 7045 / Security 4697: a service was installed (PsExec and Metasploit's psexec do this on the target)."""

    rule: ClassVar[str] = "service-installed"
    event_ids: ClassVar[frozenset[int]] = frozenset({7045, 4697})

    def __post_init__(self) -> None:
        super().__post_init__()
        self._tools = ToolMatcher(self.ctx.settings.attack_tools)

    def on_event(self, event: WindowsEvent) -> bool:
        channel = event.channel.lower()
        if (event.event_id, channel) not in ((7045, SYSTEM), (4697, SECURITY)):
            return False
        f = event.fields
        name = (f.get("ServiceName") or "").strip()
        image = (f.get("ImagePath") or f.get("ServiceFileName") or "").strip()
        reason = None
        match = _SUSPICIOUS_SERVICE.search(image)
        if match:
            reason = f"command line contains {match.group(0).strip()!r}"
        else:
            tool = self._tools.find(f"{name} {image}")
            if tool is not None:
                reason = f"{tool.name}"
        state, _ = self.ctx.book.open(
            self.rule,
            f"{event.computer}|{name.lower()}",
            event.ts,
            severity=Severity.HIGH if reason else Severity.MEDIUM,
            summarize=_service_summary,
            quiet_period=self.quiet_period,
        )
        state.details.update(
            computer=event.computer,
            service=name,
            image_path=image[:500],
            account=clean(f.get("AccountName") or f.get("ServiceAccount")),
        )
        if reason:
            state.details["suspicious"] = reason
            state.severity = Severity.HIGH
        state.add(event, event.ts)
        return True
