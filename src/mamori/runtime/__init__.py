"""Wires sources, detection and storage together: file analysis, the live sensor, learning mode, and the
effective site (settings file + terminal ledger)."""

from mamori.runtime.analyze import AnalysisResult, analyze_captures, capture_filter
from mamori.runtime.incidents import incident_rules
from mamori.runtime.learn import Learner, LearnRun, Proposal, SystemSummary, learn_from_files, learn_live, summarize
from mamori.runtime.sensor import Sensor, SensorReport
from mamori.runtime.site import effective_site, merge_ledger

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
