"""Wires sources, detection and storage together: file analysis, the live sensor, learning mode, and the
effective site (settings file + terminal ledger).

The names are loaded when first used (PEP 562): ``mamori analyze`` should not pay at start-up for the live sensor,
the backup checks and the Windows rules it never runs (docs/design.md §2)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mamori.runtime.analyze import AnalysisResult, analyze_captures, capture_filter
    from mamori.runtime.incidents import incident_rules
    from mamori.runtime.learn import Learner, LearnRun, Proposal, SystemSummary, learn_from_files, learn_live, summarize
    from mamori.runtime.sensor import Sensor, SensorReport
    from mamori.runtime.site import effective_site, merge_ledger

_WHERE = {
    "AnalysisResult": "analyze",
    "analyze_captures": "analyze",
    "capture_filter": "analyze",
    "incident_rules": "incidents",
    "Learner": "learn",
    "LearnRun": "learn",
    "Proposal": "learn",
    "SystemSummary": "learn",
    "learn_from_files": "learn",
    "learn_live": "learn",
    "summarize": "learn",
    "Sensor": "sensor",
    "SensorReport": "sensor",
    "effective_site": "site",
    "merge_ledger": "site",
}

__all__ = [
    "AnalysisResult",
    "LearnRun",
    "Learner",
    "Proposal",
    "Sensor",
    "SensorReport",
    "SystemSummary",
    "analyze_captures",
    "capture_filter",
    "effective_site",
    "incident_rules",
    "learn_from_files",
    "learn_live",
    "merge_ledger",
    "summarize",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mamori.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mamori.runtime.{module}"), name)
    globals()[name] = value
    return value
