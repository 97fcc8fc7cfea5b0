"""A fake action for testing what sits around actions (the dispatcher, the sensor's wiring)."""

from __future__ import annotations

import threading
import time

from mamori.alerting.base import Notification, Outcome

__all__ = ["RecordingAction"]


class RecordingAction:
    """Records every notification it is given; fails the first ``fail_first`` attempts; may take ``delay`` s."""

    type = "recording"

    def __init__(self, name: str = "recorder", *, fail_first: int = 0, delay: float = 0.0) -> None:
        self.name = name
        self.fail_first = fail_first
        self.delay = delay
        self.attempts: list[Notification] = []
        self.delivered: list[Notification] = []
        self.ticks = 0
        self.closed = False
        self._lock = threading.Lock()

    def deliver(self, note: Notification) -> Outcome:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.attempts.append(note)
            if len(self.attempts) <= self.fail_first:
                raise ConnectionRefusedError("the far end is down")
            self.delivered.append(note)
        return Outcome(True, f"delivered {note.event} {note.alert.uid} count={note.alert.count}")

    def tick(self, now: float) -> None:
        self.ticks += 1

    def close(self) -> None:
        self.closed = True
