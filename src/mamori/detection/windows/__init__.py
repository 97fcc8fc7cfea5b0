"""Windows event log rules: the attack chain of the Osaka General Medical Center incident (brute force, the logon
that worked, RDP in and out, the local Administrator over NTLM, accounts, log clearing, services, attack tools),
Sigma rules, the timeline and the logon summary. Pure Python on :class:`mamori.model.WindowsEvent`."""

from mamori.detection.windows.common import RuleContext, WindowsRule
from mamori.detection.windows.engine import SIGMA_RULE, WindowsEngine
from mamori.detection.windows.registry import REGISTRY, UnknownRuleError, build_rules
from mamori.detection.windows.sigma_rules import SigmaProblem, SigmaRuleSet, load_sigma
from mamori.detection.windows.timeline import TIMELINE_EVENTS, LogonSummary, timeline_row
from mamori.detection.windows.tools import TOOLS, ToolMatcher

__all__ = [
    "REGISTRY",
    "SIGMA_RULE",
    "TIMELINE_EVENTS",
    "TOOLS",
    "LogonSummary",
    "RuleContext",
    "SigmaProblem",
    "SigmaRuleSet",
    "ToolMatcher",
    "UnknownRuleError",
    "WindowsEngine",
    "WindowsRule",
    "build_rules",
    "load_sigma",
    "timeline_row",
]
