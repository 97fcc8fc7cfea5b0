"""Detectors and the engine that runs them. Pure Python on model types: no I/O, no Django, an injected clock."""

from mamori.detection.engine import RULES, Clock, Engine, SystemClock

__all__ = ["RULES", "Clock", "Engine", "SystemClock"]
