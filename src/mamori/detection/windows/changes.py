"""Changes an attacker makes once in: ``account-change`` (users created, members added to groups),
``log-cleared`` (Security 1102, System 104) and ``service-installed`` (System 7045, Security 4697). Each gathers a
burst (within the quiet period) into one alert: all the changes of one actor, all the logs one account cleared,
all the services installed on one computer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from mamori.detection.windows.common import SECURITY, SYSTEM, RuleBase, clean, note_listed
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


_MAX_LOGS = 5_000  # channels listed in a log-cleared alert (a server has several hundred; all are kept)
# Channels named in a summary when a burst clears many: the audit log, System, and the RDP and PowerShell logs
# (where a remote session and its commands show), and Sysmon's.
_IMPORTANT_LOG = re.compile(r"^(security|system)$|terminalservices|remotedesktop|rdp|powershell|sysmon", re.IGNORECASE)


@dataclass
class LogClearedRule(RuleBase):
    """Security 1102 (the audit log was cleared) and System 104 (another log was cleared), from the Eventlog service:
    one alert per computer and account for a burst (``wevtutil cl`` over every channel clears hundreds in seconds),
    every channel listed in ``logs``."""

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
        who = f"{domain}\\{actor}" if domain and actor else actor
        state, _ = self.ctx.book.open(  # keyed by the account's name: a 104 may name no domain where a 1102 does
            self.rule,
            f"{event.computer}|{(actor or '?').lower()}",
            event.ts,
            severity=Severity.HIGH,
            quiet_period=self.quiet_period,
        )
        d = state.details
        d.setdefault("computer", event.computer)
        d.setdefault("actor", who)
        note_listed(d, "logs", log, _MAX_LOGS)
        state.add(event, event.ts)
        return True


# What a service's command line should not look like: a shell, a script, a share, a user's folder, an encoded command.
_SUSPICIOUS_SERVICE = re.compile(
    r"(%comspec%|cmd(\.exe)?\s*/[ck]|powershell|pwsh|mshta|rundll32|regsvr32|wscript|cscript|"
    r"\\\\[^\\]+\\(admin|c)\$|\\temp\\|\\tmp\\|\\appdata\\|\\users\\public\\|\\programdata\\[^\\]+\.exe|"
    r"\s-e(nc|ncodedcommand)?\s|frombase64string|\.bat\b|\.ps1\b|\.vbs\b)",
    re.IGNORECASE,
)


_MAX_SERVICES = 200  # services listed in one alert


@dataclass
class ServiceInstalledRule(RuleBase):
    """System 7045 / Security 4697: a service was installed (PsExec and Metasploit's psexec do this on the target,
    often twice in a few seconds, under random names): one alert per computer for a burst, every service listed in
    ``services``; ``service`` and ``image_path`` name the first suspicious one (else the first)."""

    rule: ClassVar[str] = "service-installed"
    event_ids: ClassVar[frozenset[int]] = frozenset({7045, 4697})

    def __post_init__(self) -> None:
        super().__post_init__()
        self._tools = ToolMatcher(self.ctx.settings.attack_tools)

    def _suspicious(self, name: str, image: str) -> str | None:
        match = _SUSPICIOUS_SERVICE.search(image)
        if match:
            return f"command line contains {match.group(0).strip()!r}"
        tool = self._tools.find(f"{name} {image}")
        return tool.name if tool is not None else None

    def on_event(self, event: WindowsEvent) -> bool:
        channel = event.channel.lower()
        if (event.event_id, channel) not in ((7045, SYSTEM), (4697, SECURITY)):
            return False
        f = event.fields
        name = (f.get("ServiceName") or "").strip()
        image = (f.get("ImagePath") or f.get("ServiceFileName") or "").strip()
        reason = self._suspicious(name, image)
        state, _ = self.ctx.book.open(
            self.rule,
            event.computer,
            event.ts,
            severity=Severity.HIGH if reason else Severity.MEDIUM,
            quiet_period=self.quiet_period,
        )
        d = state.details
        account = clean(f.get("AccountName") or f.get("ServiceAccount"))
        service = {"name": name, "image_path": image[:500], "account": account, "suspicious": reason}
        listed_before = [s.get("name") for s in d.get("services") or () if isinstance(s, dict)]
        if name not in listed_before:  # 7045 and 4697 of one install are one service
            note_listed(d, "services", service, _MAX_SERVICES)
        d.setdefault("computer", event.computer)
        if "service" not in d or (reason and not d.get("suspicious")):
            d.update(service=name, image_path=image[:500], account=account)
        if reason and not d.get("suspicious"):
            d["suspicious"] = reason if not listed_before else f"{name}: {reason}"
            state.severity = Severity.HIGH
        state.add(event, event.ts)
        return True
