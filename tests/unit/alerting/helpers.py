"""What the action tests share: a delivery recorder, a real Dispatcher run to the final attempt on a fake clock,
and waiting for an outside process (a syslog daemon, a script's child)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from mamori.alerting import Dispatcher, build_action
from mamori.model import Alert, Delivery
from mamori.testing import FakeClock

__all__ = ["Recorder", "dispatch", "wait_for"]


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Recorder:
    """The Dispatcher's ``record`` callback, kept in memory."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()

    def __call__(self, deliveries: list[Delivery]) -> None:
        with self._lock:
            self.deliveries.extend(deliveries)

    def final(self) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.final]


def dispatch(settings: Any, alert: Alert) -> list[Delivery]:
    """Submit ``alert`` through a real Dispatcher on a FakeClock and run it to the final attempt: each back-off
    passes when the clock is moved, so no test waits for one."""
    clock = FakeClock()
    recorder = Recorder()
    dispatcher = Dispatcher([settings], [build_action(settings)], record=recorder, clock=clock, heartbeat=False)
    try:
        dispatcher.submit([alert])
        for _ in range(settings.retries + 1):
            assert dispatcher.settle(timeout=30), "the action did not finish its attempt"
            if recorder.final():
                break
            clock.advance(settings.max_backoff)
    finally:
        dispatcher.close(timeout=0)
    return recorder.deliveries
