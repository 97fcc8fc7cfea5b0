"""Imports every built-in action module, each of which registers its type (explicit, no scanning)."""

from mamori.alerting import script

__all__ = ["script"]
