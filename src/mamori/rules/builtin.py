"""The built-in rules, listed explicitly (docs/design.md §4.4): network, Windows event logs, zones, backups,
mamori itself."""

from __future__ import annotations

from mamori.rules import backups, network, system, windows, zones
from mamori.rules.catalogue import Rule

__all__ = ["BUILTIN_RULES"]

BUILTIN_RULES: tuple[Rule, ...] = (
    *network.RULES,
    *windows.RULES,
    *zones.RULES,
    *backups.RULES,
    *system.RULES,
)
