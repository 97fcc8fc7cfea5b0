"""The built-in rules, listed explicitly (docs/design.md §4.4): network, Windows event logs, zones, lateral movement,
exposure, remote maintenance, backups, mamori itself."""

from __future__ import annotations

from mamori.rules import backups, blocking, exposure, lan, lateral, maintenance, network, system, windows, zones
from mamori.rules.catalogue import Rule

__all__ = ["BUILTIN_RULES"]

BUILTIN_RULES: tuple[Rule, ...] = (
    *network.RULES,
    *windows.RULES,
    *zones.RULES,
    *lateral.RULES,
    *exposure.RULES,
    *maintenance.RULES,
    *backups.RULES,
    *lan.RULES,
    *system.RULES,
    *blocking.RULES,
)
