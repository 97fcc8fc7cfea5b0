"""The rule catalogue (``Rule``, ``Catalogue``), typed alert details (``Details``) and rendering at the edge.

``catalogue()`` is this installation's catalogue: the built-in rules and those of installed plugins, built on first
use and kept (plugins are installed packages; they do not change while mamori runs).
"""

from __future__ import annotations

from functools import cache

from mamori.rules.catalogue import (
    CATEGORIES,
    ENTRY_POINT_GROUP,
    Catalogue,
    Rule,
    Summary,
    Text,
    UnknownRuleError,
    load_catalogue,
)
from mamori.rules.details import SCHEMA_KEY, Details, RawDetails

__all__ = [
    "CATEGORIES",
    "ENTRY_POINT_GROUP",
    "SCHEMA_KEY",
    "Catalogue",
    "Details",
    "RawDetails",
    "Rule",
    "Summary",
    "Text",
    "UnknownRuleError",
    "catalogue",
    "load_catalogue",
]


@cache
def catalogue() -> Catalogue:
    """The rules of this installation (built-in, then plugins)."""
    return load_catalogue()
