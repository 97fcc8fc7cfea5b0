"""Detectors and the engine that runs them. Pure Python on model types: no I/O, no Django, an injected clock."""

from mamori.detection.engine import Engine
from mamori.detection.registry import Detector, DetectorContext
from mamori.model import Clock, SystemClock

__all__ = ["Clock", "Detector", "DetectorContext", "Engine", "SystemClock"]
