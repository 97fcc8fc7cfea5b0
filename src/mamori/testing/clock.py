"""A clock the test moves by hand (``mamori.model.Clock``)."""

from __future__ import annotations

import threading
import weakref

__all__ = ["FakeClock"]


class FakeClock:
    """Time stands still until the test calls ``advance`` or ``set``; then every thread waiting on this clock
    (``wait``) is woken to look at the new time. ``monotonic`` moves with ``now``.

    A thread that read the time and then waits is never left asleep by a move it did not see: ``wait`` returns at
    once when the clock moved since this thread last read it (the waiter loops and reads the new time)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._waiting: weakref.WeakSet[threading.Condition] = weakref.WeakSet()
        self._guard = threading.Lock()
        self._seen = threading.local()  # the time this thread last read

    def now(self) -> float:
        self._seen.value = now = self._now
        return now

    def monotonic(self) -> float:
        return self.now()

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        """Wait until notified, or until the test moves the clock (a timeout of 0 only yields). The caller holds
        ``condition``'s lock, as for ``Condition.wait``."""
        if timeout is not None and timeout <= 0:
            return
        with self._guard:
            self._waiting.add(condition)
        if getattr(self._seen, "value", None) != self._now:
            return  # moved since this thread looked: look again
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
