"""The settings' ``detection.incidents`` section as the grouper's rules (the store groups what it writes)."""

from __future__ import annotations

from mamori.config import Settings
from mamori.incidents import IncidentRules

__all__ = ["incident_rules"]


def incident_rules(settings: Settings) -> IncidentRules:
    section = settings.detection.incidents
    return IncidentRules(
        span=section.span, max_open=section.max_open, max_keys=section.max_keys, enabled=section.enabled
    )
