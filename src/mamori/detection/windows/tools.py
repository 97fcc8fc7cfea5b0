"""``attack-tool``: known attack and scanning tools installed or run, by their names in the event data.

The Osaka attackers installed Advanced IP Scanner (Application log, MsiInstaller 11707 "Product: Advanced IP
Scanner 2.5.1 -- Installation completed successfully.") and ran Mimikatz. Such names show up in installer events,
process creations (Sysmon 1, Security 4688), process access to LSASS (Sysmon 10), files written (Sysmon 11),
privileged calls (4673), explicit-credential logons (4648) and service installs (7045, 4697). One compiled
expression looks for every name at once. A logon of type 9 through ``seclogo`` with ``Negotiate`` is Mimikatz's
``sekurlsa::pth`` (pass-the-hash) even when the tool was renamed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from mamori.detection.windows.common import SECURITY, SYSTEM, RuleBase, logon_type
from mamori.model import Severity, WindowsEvent

__all__ = ["TOOLS", "AttackToolRule", "Tool", "ToolMatcher"]


@dataclass(frozen=True)
class Tool:
    name: str
    category: str  # credential-theft, scanner, remote-execution, recon, tunnel, defense-evasion, configured
    severity: Severity
    patterns: tuple[str, ...]


# Names as they appear in paths, product names and command lines (lower case; "_" and " " variants both listed).
TOOLS: tuple[Tool, ...] = (
    Tool("Mimikatz", "credential-theft", Severity.CRITICAL, ("mimikatz", "mimilib", "mimidrv", "sekurlsa::")),
    Tool("SafetyKatz / SharpKatz", "credential-theft", Severity.CRITICAL, ("safetykatz", "sharpkatz", "pypykatz")),
    Tool("LaZagne", "credential-theft", Severity.CRITICAL, ("lazagne",)),
    Tool("pwdump / gsecdump", "credential-theft", Severity.CRITICAL, ("pwdump", "gsecdump", "fgdump")),
    Tool("Dumpert / nanodump", "credential-theft", Severity.CRITICAL, ("dumpert", "nanodump")),
    Tool("Rubeus / Kekeo", "credential-theft", Severity.CRITICAL, ("rubeus", "kekeo")),
    Tool(
        "Advanced IP Scanner",
        "scanner",
        Severity.HIGH,
        ("advanced ip scanner", "advanced_ip_scanner", "advanced_port_scanner", "advanced port scanner"),
    ),
    Tool("Angry IP Scanner", "scanner", Severity.HIGH, ("angry ip scanner", "angryip", "ipscan24", "ipscan-win")),
    Tool("SoftPerfect Network Scanner", "scanner", Severity.HIGH, ("netscan.exe", "softperfect network scanner")),
    Tool("Nmap / Masscan", "scanner", Severity.HIGH, ("nmap", "zenmap", "masscan")),
    Tool("PsExec", "remote-execution", Severity.HIGH, ("psexec", "psexesvc", "paexec", "remcom", "csexec")),
    Tool("Impacket", "remote-execution", Severity.HIGH, ("wmiexec", "smbexec", "atexec", "dcomexec", "impacket")),
    Tool("CrackMapExec", "remote-execution", Severity.HIGH, ("crackmapexec", "netexec")),
    Tool("SharpRDP", "remote-execution", Severity.HIGH, ("sharprdp",)),
    Tool("BloodHound / AdFind", "recon", Severity.HIGH, ("sharphound", "bloodhound", "adfind", "adrecon")),
    Tool("Tunnels (ngrok, chisel)", "tunnel", Severity.HIGH, ("ngrok", "chisel.exe")),
    Tool("AV killers (GMER, PCHunter)", "defense-evasion", Severity.HIGH, ("gmer", "pchunter", "defendercontrol")),
)

# Fields that name a program, per event: (lower-case channel, event id) -> field names.
_FIELDS: dict[tuple[str, int], tuple[str, ...]] = {
    ("application", 11707): ("Data",),
    ("application", 1033): ("Data",),
    ("application", 1040): ("Data",),
    ("application", 11728): ("Data",),
    ("microsoft-windows-sysmon/operational", 1): (
        "Image",
        "OriginalFileName",
        "Product",
        "Description",
        "CommandLine",
        "ParentImage",
    ),
    ("microsoft-windows-sysmon/operational", 10): ("SourceImage",),
    ("microsoft-windows-sysmon/operational", 11): ("TargetFilename",),
    (SECURITY, 4688): ("NewProcessName", "CommandLine", "ParentProcessName"),
    (SECURITY, 4673): ("ProcessName",),
    (SECURITY, 4648): ("ProcessName",),
    (SECURITY, 4697): ("ServiceFileName", "ServiceName"),
    (SYSTEM, 7045): ("ImagePath", "ServiceName"),
}
_PTH = "pass-the-hash"
_SEEN_MAX = 50_000
_UNSEEN = object()


class ToolMatcher:
    """All tool names in one regular expression; ``find`` returns the tool named in a text, if any."""

    def __init__(self, extra_names: tuple[str, ...] = ()) -> None:
        tools = list(TOOLS)
        for name in extra_names:
            tools.append(Tool(name, "configured", Severity.HIGH, (name.strip().lower(),)))
        self.tools = tuple(tools)
        self._by_pattern: dict[str, Tool] = {}
        for tool in self.tools:
            for pattern in tool.patterns:
                self._by_pattern.setdefault(pattern, tool)
        alternatives = sorted(self._by_pattern, key=len, reverse=True)
        # No letter right before a name; digits may follow (PsExec64.exe), letters may not ("nmapper").
        self._regex = re.compile("(?<![a-z])(" + "|".join(re.escape(p) for p in alternatives) + ")(?![a-z])")
        self._seen: dict[str, Tool | None] = {}

    def find(self, text: str) -> Tool | None:
        """The tool named in ``text``. Results are remembered for recurring values (process images, products):
        a search costs tens of microseconds on a long command line."""
        known = self._seen.get(text, _UNSEEN)
        if known is not _UNSEEN:
            return known  # type: ignore[return-value]
        match = self._regex.search(text.lower())
        tool = self._by_pattern[match.group(1)] if match else None
        if len(self._seen) >= _SEEN_MAX:
            self._seen.clear()
        self._seen[text] = tool
        return tool


_ACTIONS = {1: "run", 4688: "run", 4673: "run", 4648: "run", 10: "run", 11: "file", 7045: "service", 4697: "service"}


@dataclass
class AttackToolRule(RuleBase):
    rule: ClassVar[str] = "attack-tool"
    event_ids: ClassVar[frozenset[int]] = frozenset({ids for _, ids in _FIELDS} | {4624})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.matcher = ToolMatcher(self.ctx.settings.attack_tools)

    def on_event(self, event: WindowsEvent) -> bool:
        if event.event_id == 4624:
            return event.channel.lower() == SECURITY and self._pass_the_hash(event)
        found = self._named_tool(event)
        if found is None:
            return False
        tool, name, value = found
        evidence = " | ".join(value[:200].splitlines())
        self._alert(event, tool.name, tool.category, tool.severity, f"{name}: {evidence}")
        return True

    def could_alert(self, event: WindowsEvent) -> bool:
        """Whether ``on_event`` might raise an alert for ``event``, judged on the event alone (no state): a reader
        may drop the events for which no rule that wants them says so (``WindowsEngine.handover_filter``)."""
        return event.event_id == 4624 or self._named_tool(event) is not None

    def _named_tool(self, event: WindowsEvent) -> tuple[Tool, str, str] | None:
        """The tool named in the fields that name a program, with the field and its value."""
        names = _FIELDS.get((event.channel.lower(), event.event_id))
        if names is None:
            return None
        fields = event.fields
        for name in names:
            value = fields.get(name)
            if value:
                tool = self.matcher.find(value)
                if tool is not None:
                    return tool, name, value
        return None

    def _pass_the_hash(self, event: WindowsEvent) -> bool:
        f = event.fields
        if logon_type(event) != 9 or (f.get("LogonProcessName") or "").strip().lower() != "seclogo":
            return False
        if (f.get("AuthenticationPackageName") or "").strip().lower() != "negotiate":
            return False
        self._alert(event, "Mimikatz (sekurlsa::pth)", _PTH, Severity.HIGH, "LogonType 9, seclogo, Negotiate")
        return True

    def _alert(self, event: WindowsEvent, tool: str, category: str, severity: Severity, evidence: str) -> None:
        state, created = self.ctx.book.open(
            self.rule,
            f"{event.computer}|{tool}",
            event.ts,
            severity=severity,
            quiet_period=self.quiet_period,
        )
        if created:
            action = "install" if event.channel.lower() == "application" else _ACTIONS.get(event.event_id, "run")
            state.details.update(
                computer=event.computer, tool=tool, category=category, action=action, evidence=evidence
            )
        ids = state.details.setdefault("event_ids", set())
        if isinstance(ids, set):
            ids.add(event.event_id)
        state.add(event, event.ts)
