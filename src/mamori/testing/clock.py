"""A clock the test moves by hand (``mamori.model.Clock``)."""

from __future__ import annotations

import threading
import weakref

__all__ = ["FakeClock"]


class FakeClock:
    """Time stands still until the test calls ``advance`` or ``set``; then every thread waiting on this clock
    (``wait``) is woken to look at the new time. ``monotonic`` moves with ``now``."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._waiting: weakref.WeakSet[threading.Condition] = weakref.WeakSet()
        self._guard = threading.Lock()

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        """Wait until notified, or until the test moves the clock (a timeout of 0 only yields)."""
        if timeout is not None and timeout <= 0:
            return
        with self._guard:
            self._waiting.add(condition)
        condition.wait()

    def advance(self, seconds: float) -> float:
        self.set(self._now + seconds)
        return self._now

    def set(self, ts: float) -> None:
        self._now = ts
        with self._guard:
            waiting = list(self._waiting)
        for condition in waiting:
            with condition:
                condition.notify_all()
