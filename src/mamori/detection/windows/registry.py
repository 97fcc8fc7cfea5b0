"""The registry of built-in Windows rules: names to rule classes, listed explicitly (docs/design.md §4)."""

from __future__ import annotations

from collections.abc import Sequence

from mamori.detection.windows.backup import BackupDeletedRule
from mamori.detection.windows.changes import AccountChangeRule, LogClearedRule, ServiceInstalledRule
from mamori.detection.windows.common import RuleContext, WindowsRule
from mamori.detection.windows.lateral import LateralMovementWindowsRule
from mamori.detection.windows.logon import (
    AccountLockoutRule,
    AdminNtlmLogonRule,
    BruteForceRule,
    LogonAfterFailuresRule,
    PasswordSprayRule,
)
from mamori.detection.windows.rdp import RdpLogonRule, RdpOutboundRule
from mamori.detection.windows.tools import AttackToolRule
from mamori.errors import MamoriError

__all__ = ["REGISTRY", "UnknownRuleError", "build_rules"]

REGISTRY: dict[str, type[WindowsRule]] = {
    cls.rule: cls
    for cls in (
        BruteForceRule,
        PasswordSprayRule,
        LogonAfterFailuresRule,
        RdpLogonRule,
        RdpOutboundRule,
        AdminNtlmLogonRule,
        AccountLockoutRule,
        AccountChangeRule,
        LogClearedRule,
        ServiceInstalledRule,
        AttackToolRule,
        LateralMovementWindowsRule,
        BackupDeletedRule,
    )
}


class UnknownRuleError(MamoriError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown Windows rule {name!r}; known: {', '.join(REGISTRY)}")
        self.name = name


def build_rules(names: Sequence[str], ctx: RuleContext) -> list[WindowsRule]:
    """One rule object per name, in the order given. Raises :class:`UnknownRuleError` for a name not registered."""
    rules: list[WindowsRule] = []
    for name in names:
        cls = REGISTRY.get(name)
        if cls is None:
            raise UnknownRuleError(name)
        rules.append(cls(ctx))  # type: ignore[call-arg]
    return rules
