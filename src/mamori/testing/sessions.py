"""A remote-maintenance session sink in memory (the fake of ``mamori.detection.maintenance.SessionSink``)."""

from __future__ import annotations

from collections.abc import Sequence

from mamori.model import MaintenanceSession

__all__ = ["MemorySessions"]


class MemorySessions:
    """Keeps the newest state of every session saved, by uid, in the order first seen."""

    def __init__(self) -> None:
        self.sessions: dict[str, MaintenanceSession] = {}
        self.saves = 0

    def save(self, sessions: Sequence[MaintenanceSession]) -> None:
        self.saves += 1
        for session in sessions:
            self.sessions[session.uid] = session

    def all(self) -> list[MaintenanceSession]:
        return list(self.sessions.values())
