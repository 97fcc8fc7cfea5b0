"""``backup-deleted``: shadow copies, the backup catalog or Windows' recovery deleted, as ransomware does first.

Read from process creations (Security 4688, Sysmon 1: the command line) and from Windows Server Backup's own log
(Microsoft-Windows-Backup 524, "the backup catalog was deleted"). The attack-tool rule looks at the same process
creations for tool names; it does not know these commands (they are Windows' own programs), so nothing is found
twice. One alert per computer gathers a burst (a ransomware script runs vssadmin, wbadmin and bcdedit within
seconds), each distinct command listed once.

What counts, by program (the command line in lower case, spaces squeezed):

- ``vssadmin delete shadows``; ``vssadmin resize shadowstorage`` (shrinking the storage drops the copies);
- ``wmic shadowcopy delete``; PowerShell ``win32_shadowcopy`` with ``delete`` / ``remove-ciminstance``;
- ``diskshadow`` ``delete shadows``;
- ``wbadmin delete catalog`` / ``delete systemstatebackup`` / ``delete backup``;
- ``bcdedit`` ``recoveryenabled no`` (``bootstatuspolicy ignoreallfailures`` alongside it is listed too).

Listing (``vssadmin list shadows``) and creating (``vssadmin create shadow``, ``wmic shadowcopy call create``) are
not deletions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from mamori.detection.windows.common import SECURITY, RuleBase, clean, note_listed
from mamori.model import Severity, WindowsEvent

__all__ = ["BACKUP_CHANNEL", "BackupDeletedRule", "deletion_of"]

BACKUP_CHANNEL = "microsoft-windows-backup"
_SYSMON = "microsoft-windows-sysmon/operational"
_MAX_COMMANDS = 50
_SPACES = re.compile(r"\s+")
# A cheap first look: every pattern below names one of these programs or classes (plain substring tests on the
# lower-cased line: about 1 µs for a long command line that names none, against 9 µs for one case-blind expression).
_PROGRAMS = ("vssadmin", "wmic", "shadowcopy", "diskshadow", "wbadmin", "bcdedit")
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("shadow-copies", re.compile(r"vssadmin(\.exe)?\"?\s.*\bdelete\s+shadows")),
    ("shadow-storage", re.compile(r"vssadmin(\.exe)?\"?\s.*\bresize\s+shadowstorage")),
    ("shadow-copies", re.compile(r"wmic(\.exe)?\"?\s.*\bshadowcopy\b.*\bdelete\b")),
    ("shadow-copies", re.compile(r"win32_shadowcopy.*(\.delete\(|remove-ciminstance|remove-wmiobject)")),
    ("shadow-copies", re.compile(r"(remove-ciminstance|remove-wmiobject).*win32_shadowcopy")),
    ("shadow-copies", re.compile(r"diskshadow(\.exe)?\"?\s.*\bdelete\s+shadows")),
    ("catalog", re.compile(r"wbadmin(\.exe)?\"?\s.*\bdelete\s+catalog")),
    ("system-state", re.compile(r"wbadmin(\.exe)?\"?\s.*\bdelete\s+systemstatebackup")),
    ("backups", re.compile(r"wbadmin(\.exe)?\"?\s.*\bdelete\s+backup")),
    ("recovery", re.compile(r"bcdedit(\.exe)?\"?\s.*\brecoveryenabled\s+(no|off|false|0)\b")),
    ("recovery", re.compile(r"bcdedit(\.exe)?\"?\s.*\bbootstatuspolicy\s+ignoreallfailures\b")),
)


def deletion_of(command: str) -> str | None:
    """What a command line deletes (``shadow-copies``, ``catalog``...), or None."""
    if not command:
        return None
    low = command.lower()
    if not any(name in low for name in _PROGRAMS):
        return None
    text = _SPACES.sub(" ", low)
    for kind, pattern in _PATTERNS:
        if pattern.search(text):
            return kind
    return None


@dataclass
class BackupDeletedRule(RuleBase):
    rule: ClassVar[str] = "backup-deleted"
    event_ids: ClassVar[frozenset[int]] = frozenset({4688, 1, 524})

    def on_event(self, event: WindowsEvent) -> bool:
        found = self._deletion(event)
        if found is None:
            return False
        kind, command, actor = found
        state, _ = self.ctx.book.open(
            self.rule, event.computer.lower(), event.ts, severity=Severity.CRITICAL, quiet_period=self.quiet_period
        )
        d = state.details
        d.setdefault("computer", event.computer)
        if actor and not d.get("actor"):
            d["actor"] = actor
        kinds = d.setdefault("deleted", [])
        if isinstance(kinds, list) and kind not in kinds:
            kinds.append(kind)
        note_listed(d, "commands", command, _MAX_COMMANDS)
        ids = d.setdefault("event_ids", set())
        if isinstance(ids, set):
            ids.add(event.event_id)
        state.add(event, event.ts)
        return True

    def could_alert(self, event: WindowsEvent) -> bool:
        """Whether the event is a deletion (the .evtx workers drop process creations that are not, unless another
        rule wants them)."""
        return self._deletion(event) is not None

    @staticmethod
    def _deletion(event: WindowsEvent) -> tuple[str, str, str | None] | None:
        channel = event.channel.lower()
        fields = event.fields
        if event.event_id == 524:
            if channel != BACKUP_CHANNEL:
                return None
            return "catalog", "Windows Server Backup: 524", None
        if event.event_id == 4688 and channel == SECURITY:
            actor = clean(fields.get("SubjectUserName"))
        elif event.event_id == 1 and channel == _SYSMON:
            actor = clean(fields.get("User"))
        else:
            return None
        command = fields.get("CommandLine") or ""
        kind = deletion_of(command)
        if kind is None:
            return None
        return kind, " ".join(command.split())[:300], actor
