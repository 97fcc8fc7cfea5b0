"""A memory of services seen answering kept in a dict: the fake of ``mamori.detection.exposure.ServiceMemory``."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from mamori.model import KnownService

__all__ = ["MemoryServices"]


class MemoryServices:
    """Keeps what the exposure detector saves, by (host, proto, port), and an approved baseline a test sets
    (``approve``), as the dashboard's Exposure page sets it in the store."""

    def __init__(self) -> None:
        self.services: dict[tuple[str, str, int], KnownService] = {}
        self.baseline: dict[str, set[str]] = {}
        self.saves = 0

    def load(self) -> Iterable[KnownService]:
        return list(self.services.values())

    def save(self, services: Sequence[KnownService]) -> None:
        self.saves += 1
        for s in services:
            old = self.services.get((s.host, s.proto, s.port))
            self.services[(s.host, s.proto, s.port)] = (
                s if old is None else old._replace(last_seen=max(old.last_seen, s.last_seen))
            )

    def approved(self) -> Mapping[str, Collection[str]]:
        return {host: frozenset(ports) for host, ports in self.baseline.items()}

    def approve(self, host: str, *ports: str) -> None:
        """Approve ``ports`` ("tcp/23") of ``host``, as an administrator does on the Exposure page."""
        self.baseline.setdefault(host, set()).update(ports)
