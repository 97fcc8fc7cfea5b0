"""Wires sources, detection and storage together: file analysis and the live sensor."""

from mamori.runtime.analyze import AnalysisResult, analyze_captures, capture_filter
from mamori.runtime.sensor import Sensor, SensorReport

__all__ = ["AnalysisResult", "Sensor", "SensorReport", "analyze_captures", "capture_filter"]
