"""The installed packages' entry points (mamori's plugins: rules, actions, log formats, checklist evidence), read
once per process: each read scans every installed package's metadata (about 5 ms), and four registries ask at
start-up. A plugin installed while a process runs is seen by the next one."""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Any

__all__ = ["entry_points"]


@functools.cache
def _installed() -> Any:  # SelectableGroups before Python 3.12, EntryPoints after: both have select()
    return metadata.entry_points()


def entry_points(group: str) -> tuple[metadata.EntryPoint, ...]:
    """The entry points of ``group`` (e.g. ``mamori.rules``) of every installed package."""
    return tuple(_installed().select(group=group))
