"""A known-paths memory kept in a list: the fake of ``mamori.detection.paths.PathMemory``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mamori.model import KnownPath

__all__ = ["MemoryPaths"]


class MemoryPaths:
    """Keeps what a ``new-path`` detector saves, merged by path as the store merges it, so that a second engine
    built on the same memory starts where the first stopped (a restart)."""

    def __init__(self) -> None:
        self.learning_started: float | None = None
        self.paths: dict[tuple[str, str, str, int], KnownPath] = {}
        self.saves = 0

    def load(self) -> tuple[float | None, Iterable[KnownPath]]:
        return self.learning_started, list(self.paths.values())

    def save(self, learning_started: float | None, paths: Sequence[KnownPath]) -> None:
        self.saves += 1
        if self.learning_started is None:
            self.learning_started = learning_started
        for path in paths:
            key = (path.src_segment, path.dst_segment, path.proto, path.port)
            old = self.paths.get(key)
            if old is None:
                self.paths[key] = path
            else:
                self.paths[key] = old._replace(
                    first_seen=min(old.first_seen, path.first_seen), last_seen=max(old.last_seen, path.last_seen)
                )
