"""A fake action for testing what sits around actions (the dispatcher, the sensor's wiring), and its action type
for the registry (``recording``), so that a settings file can name it like any other action."""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import Field

from mamori.alerting.base import Notification, Outcome
from mamori.alerting.registry import ActionType
from mamori.config import ActionSettings

__all__ = ["RecordingAction", "RecordingActions", "RecordingOptions"]


class RecordingAction:
    """Records every notification it is given; fails the first ``fail_first`` attempts. With a ``gate``, each
    delivery waits until the test opens it (a slow far end, without sleeping)."""

    type = "recording"

    def __init__(self, name: str = "recorder", *, fail_first: int = 0, gate: threading.Event | None = None) -> None:
        self.name = name
        self.fail_first = fail_first
        self.gate = gate
        self.attempts: list[Notification] = []
        self.delivered: list[Notification] = []
        self.ticks: list[float] = []
        self.closed = False
        self.entered = threading.Event()  # set when a delivery has started (and waits at the gate, if any)
        self._lock = threading.Lock()

    def deliver(self, note: Notification) -> Outcome:
        self.entered.set()
        if self.gate is not None and not self.gate.wait(30):
            raise TimeoutError("the test never opened the gate")
        with self._lock:
            self.attempts.append(note)
            if len(self.attempts) <= self.fail_first:
                raise ConnectionRefusedError("the far end is down")
            self.delivered.append(note)
        return Outcome(True, f"delivered {note.event} {note.alert.uid} count={note.alert.count}")

    def tick(self, now: float) -> None:
        self.ticks.append(now)

    def close(self) -> None:
        self.closed = True


class RecordingOptions(ActionSettings):
    """``type: recording`` in a settings file: a :class:`RecordingAction` that fails its first ``fail_first``
    attempts."""

    type: Literal["recording"]
    fail_first: int = Field(0, ge=0)


class RecordingActions:
    """The ``recording`` action type; the actions it builds are kept by name for the test to look at."""

    def __init__(self) -> None:
        self.built: dict[str, RecordingAction] = {}
        self.type = ActionType("recording", RecordingOptions, self._build)

    def _build(self, options: RecordingOptions) -> RecordingAction:
        action = RecordingAction(options.name, fail_first=options.fail_first)
        self.built[options.name] = action
        return action
