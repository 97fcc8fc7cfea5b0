"""The dispatcher: choice by rule and severity, one notification plus throttled updates, retries, restart."""

from __future__ import annotations

import threading
import time

from mamori.alerting import Dispatcher
from mamori.config import ScriptAction
from mamori.model import Alert, Delivery, Severity
from mamori.testing.actions import RecordingAction


def settings(name: str = "recorder", **kw: object) -> ScriptAction:
    fields: dict[str, object] = {
        "name": name,
        "type": "script",
        "command": ["/bin/true"],
        "throttle": 0.0,
        "backoff": 0.01,
        "max_backoff": 0.05,
    }
    fields.update(kw)
    return ScriptAction.model_validate(fields)


def alert(
    uid: str = "a1", count: int = 1, rule: str = "unregistered-terminal", severity: Severity = Severity.HIGH
) -> Alert:
    return Alert(uid, rule, f"key-{uid}", severity, 1000.0, 1000.0 + count, count, "要約", "summary")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def wait_for(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_rules_and_severity_choose_the_actions() -> None:
    records: list[Delivery] = []
    everything, blocker, pager = RecordingAction("all"), RecordingAction("block"), RecordingAction("pager")
    dispatcher = Dispatcher(
        [
            settings("all"),
            settings("block", rules=["unregistered-terminal"]),
            settings("pager", min_severity="critical"),
        ],
        [everything, blocker, pager],
        record=records.extend,
    )
    dispatcher.submit([alert("a1"), alert("a2", rule="port-scan"), alert("a3", severity=Severity.CRITICAL)])
    dispatcher.close()
    assert sorted(n.alert.uid for n in everything.delivered) == ["a1", "a2", "a3"]
    assert sorted(n.alert.uid for n in blocker.delivered) == ["a1", "a3"]
    assert [n.alert.uid for n in pager.delivered] == ["a3"]
    assert all(d.ok and d.final and d.attempt == 1 for d in records)
    assert everything.closed and blocker.closed


def test_an_ongoing_alert_is_one_notification_plus_throttled_updates() -> None:
    clock = Clock()
    action = RecordingAction()
    dispatcher = Dispatcher([settings(throttle=60.0)], [action], record=lambda d: None, monotonic=clock)
    for count in range(1, 1001):  # a scan growing packet by packet, for 1,000 collections
        clock.now = count * 0.1
        dispatcher.submit([alert(count=count)])
        dispatcher.tick()
    clock.now = 200.0
    dispatcher.tick()
    dispatcher.close()
    events = [(n.event, n.alert.count) for n in action.delivered]
    assert events[0] == ("new", 1)
    assert events[-1] == ("update", 1000)  # the last figures always go out
    assert len(events) <= 4  # new at 0 s, updates at most once a minute over 100 s, the final one


def test_unchanged_alerts_are_not_sent_again() -> None:
    action = RecordingAction()
    dispatcher = Dispatcher([settings()], [action], record=lambda d: None)
    for _ in range(5):
        dispatcher.submit([alert(count=3)])
    dispatcher.close()
    assert [(n.event, n.alert.count) for n in action.delivered] == [("new", 3)]


def test_failures_are_retried_with_backoff_and_every_attempt_is_recorded() -> None:
    records: list[Delivery] = []
    action = RecordingAction(fail_first=2)
    dispatcher = Dispatcher([settings(retries=5)], [action], record=records.extend)
    dispatcher.submit([alert()])
    wait_for(lambda: len(records) == 3)
    dispatcher.close()
    assert [(d.attempt, d.ok, d.final) for d in records] == [(1, False, False), (2, False, False), (3, True, True)]
    assert "ConnectionRefusedError: the far end is down" in records[0].detail
    assert records[-1].alert_count == 1


def test_retries_run_out() -> None:
    records: list[Delivery] = []
    dispatcher = Dispatcher([settings(retries=1)], [RecordingAction(fail_first=99)], record=records.extend)
    dispatcher.submit([alert()])
    wait_for(lambda: any(d.final for d in records))
    dispatcher.close()
    assert [(d.attempt, d.ok, d.final) for d in records] == [(1, False, False), (2, False, True)]


def test_a_slow_or_failing_action_never_blocks_the_others_or_the_caller() -> None:
    slow = RecordingAction("slow", delay=0.5)
    broken = RecordingAction("broken", fail_first=99)
    fast = RecordingAction("fast")
    dispatcher = Dispatcher(
        [settings("slow"), settings("broken", retries=3), settings("fast")], [slow, broken, fast], record=lambda d: None
    )
    started = time.monotonic()
    dispatcher.submit([alert(f"a{i}") for i in range(5)])
    assert time.monotonic() - started < 0.1  # submit only queues
    wait_for(lambda: len(fast.delivered) == 5, timeout=1.0)
    assert len(slow.delivered) < 5  # still working through its queue
    dispatcher.close(timeout=10)
    assert len(slow.delivered) == 5


def test_a_queued_update_is_replaced_by_a_newer_one() -> None:
    gate = threading.Event()

    class Gated(RecordingAction):
        def deliver(self, note):  # type: ignore[no-untyped-def]
            gate.wait(5)
            return super().deliver(note)

    action = Gated()
    dispatcher = Dispatcher([settings()], [action], record=lambda d: None)
    dispatcher.submit([alert(count=1)])  # "new": taken by the worker, which waits at the gate
    time.sleep(0.05)
    for count in range(2, 50):
        dispatcher.submit([alert(count=count)])
    gate.set()
    dispatcher.close()
    assert [(n.event, n.alert.count) for n in action.delivered] == [("new", 1), ("update", 49)]


def test_after_a_restart_what_was_delivered_is_not_sent_again() -> None:
    action = RecordingAction()
    dispatcher = Dispatcher([settings()], [action], record=lambda d: None)
    dispatcher.restore([Delivery("a1", "recorder", "script", "new", 1, 1000.0, True, True, "exit 0", 7)])
    dispatcher.submit([alert("a1", count=7), alert("a2", count=1)])
    dispatcher.submit([alert("a1", count=9)])
    dispatcher.close()
    assert [(n.alert.uid, n.event, n.alert.count) for n in action.delivered] == [("a2", "new", 1), ("a1", "update", 9)]


def test_pending_work_is_recorded_as_abandoned_at_shutdown() -> None:
    records: list[Delivery] = []
    dispatcher = Dispatcher(
        [settings(retries=10, backoff=30.0)], [RecordingAction(fail_first=99)], record=records.extend
    )
    dispatcher.submit([alert()])
    wait_for(lambda: bool(records))
    dispatcher.close(timeout=0.2)
    assert records[-1].detail == "abandoned at shutdown" and records[-1].final and not records[-1].ok


def test_disabled_actions_do_nothing() -> None:
    action = RecordingAction()
    dispatcher = Dispatcher([settings(enabled=False)], [action], record=lambda d: None)
    dispatcher.submit([alert()])
    dispatcher.close()
    assert action.delivered == [] and dispatcher.actions == []


def test_a_failure_retrying_cannot_mend_is_not_retried() -> None:
    from mamori.alerting.base import Notification, Outcome, PermanentDeliveryError

    class Refused(RecordingAction):
        def deliver(self, note: Notification) -> Outcome:
            self.attempts.append(note)
            if note.alert.uid == "a1":
                return Outcome(False, "HTTP 404 Not Found: request refused", retry=False)
            raise PermanentDeliveryError("login as 'alerts' refused: 535")

    records: list[Delivery] = []
    action = Refused()
    dispatcher = Dispatcher([settings(retries=5)], [action], record=records.extend)
    dispatcher.submit([alert("a1"), alert("a2")])
    dispatcher.close()
    assert len(action.attempts) == 2
    assert sorted((d.alert_uid, d.attempt, d.ok, d.final) for d in records) == [
        ("a1", 1, False, True),
        ("a2", 1, False, True),
    ]
