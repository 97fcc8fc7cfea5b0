"""The dispatcher: choice by rule and severity, one notification plus throttled updates, retries, restart.

Every test runs on a FakeClock: back-offs, throttles and heartbeats pass when the test moves the clock, and
``settle()`` waits for the workers to have done what is due. Nothing sleeps; nothing waits for real time to pass.
"""

from __future__ import annotations

import threading

from mamori.alerting import Dispatcher
from mamori.alerting.base import Notification, Outcome, PermanentDeliveryError
from mamori.config import ScriptAction
from mamori.model import Alert, Delivery, Severity
from mamori.testing import FakeClock
from mamori.testing.actions import RecordingAction

T0 = 1_800_000_000.0


def settings(name: str = "recorder", **kw: object) -> ScriptAction:
    fields: dict[str, object] = {
        "name": name,
        "type": "script",
        "command": ["/bin/true"],
        "throttle": 0.0,
        "backoff": 2.0,
        "max_backoff": 300.0,
    }
    fields.update(kw)
    return ScriptAction.model_validate(fields)


def alert(
    uid: str = "a1", count: int = 1, rule: str = "unregistered-terminal", severity: Severity = Severity.HIGH
) -> Alert:
    return Alert(uid, rule, f"key-{uid}", severity, 1000.0, 1000.0 + count, count, "要約", "summary")


def attempts(records: list[Delivery]) -> list[tuple[int, bool, bool, float]]:
    return [(d.attempt, d.ok, d.final, d.ts - T0) for d in records]


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
        clock=FakeClock(T0),
    )
    dispatcher.submit([alert("a1"), alert("a2", rule="port-scan"), alert("a3", severity=Severity.CRITICAL)])
    dispatcher.close()
    assert sorted(n.alert.uid for n in everything.delivered) == ["a1", "a2", "a3"]
    assert sorted(n.alert.uid for n in blocker.delivered) == ["a1", "a3"]
    assert [n.alert.uid for n in pager.delivered] == ["a3"]
    assert all(d.ok and d.final and d.attempt == 1 and d.ts == T0 for d in records)  # the clock's time
    assert everything.closed and blocker.closed


def test_an_ongoing_alert_is_one_notification_plus_throttled_updates() -> None:
    clock = FakeClock(T0)
    action = RecordingAction()
    dispatcher = Dispatcher([settings(throttle=60.0)], [action], record=lambda d: None, clock=clock, heartbeat=False)
    for count in range(1, 1001):  # a scan growing packet by packet, for 1,000 collections
        clock.set(T0 + count * 0.1)
        dispatcher.submit([alert(count=count)])
        dispatcher.tick()
        assert dispatcher.settle()  # delivered before the next collection (else a newer update replaces it)
    clock.set(T0 + 200.0)
    dispatcher.tick()
    assert dispatcher.settle()
    events = [(n.event, n.alert.count) for n in action.delivered]
    dispatcher.close()
    # new at 0.1 s, one update a minute later (60.1 s: count 601); the last figures (count 1000 at 100 s) are
    # held back until the throttle allows, and always go out
    assert events == [("new", 1), ("update", 601), ("update", 1000)]


def test_unchanged_alerts_are_not_sent_again() -> None:
    action = RecordingAction()
    dispatcher = Dispatcher([settings()], [action], record=lambda d: None, clock=FakeClock(T0))
    for _ in range(5):
        dispatcher.submit([alert(count=3)])
    dispatcher.close()
    assert [(n.event, n.alert.count) for n in action.delivered] == [("new", 3)]


def test_failures_are_retried_with_doubling_backoff_and_every_attempt_is_recorded() -> None:
    clock = FakeClock(T0)
    records: list[Delivery] = []
    action = RecordingAction(fail_first=2)
    dispatcher = Dispatcher([settings(retries=5)], [action], record=records.extend, clock=clock, heartbeat=False)
    dispatcher.submit([alert()])
    assert dispatcher.settle()
    assert attempts(records) == [(1, False, False, 0.0)]
    clock.advance(1.9)  # the first back-off is 2 s: not yet
    assert dispatcher.settle()
    assert len(records) == 1
    clock.advance(0.1)
    assert dispatcher.settle()
    assert attempts(records) == [(1, False, False, 0.0), (2, False, False, 2.0)]
    clock.advance(3.9)  # then 4 s
    assert dispatcher.settle() and len(records) == 2
    clock.advance(0.1)
    assert dispatcher.settle()
    dispatcher.close()
    assert attempts(records) == [(1, False, False, 0.0), (2, False, False, 2.0), (3, True, True, 6.0)]
    assert "ConnectionRefusedError: the far end is down" in records[0].detail
    assert records[-1].alert_count == 1


def test_the_backoff_stops_growing_at_max_backoff() -> None:
    clock = FakeClock(T0)
    records: list[Delivery] = []
    action = RecordingAction(fail_first=4)
    dispatcher = Dispatcher(
        [settings(retries=5, backoff=10.0, max_backoff=15.0)], [action], record=records.extend, clock=clock
    )
    dispatcher.submit([alert()])
    for step in (10.0, 15.0, 15.0, 15.0):
        assert dispatcher.settle()
        clock.advance(step)
    assert dispatcher.settle()
    dispatcher.close()
    assert [d.ts - T0 for d in records] == [0.0, 10.0, 25.0, 40.0, 55.0]  # 10 s, then 15 s each time
    assert records[-1].ok


def test_retries_run_out() -> None:
    clock = FakeClock(T0)
    records: list[Delivery] = []
    dispatcher = Dispatcher([settings(retries=1)], [RecordingAction(fail_first=99)], record=records.extend, clock=clock)
    dispatcher.submit([alert()])
    assert dispatcher.settle()
    clock.advance(2.0)
    assert dispatcher.settle()
    clock.advance(3600.0)  # nothing more is tried, however long
    assert dispatcher.settle()
    dispatcher.close()
    assert [(d.attempt, d.ok, d.final) for d in records] == [(1, False, False), (2, False, True)]


def test_a_slow_or_failing_action_never_blocks_the_others_or_the_caller() -> None:
    clock = FakeClock(T0)
    records: list[Delivery] = []
    gate = threading.Event()
    slow = RecordingAction("slow", gate=gate)  # its far end answers only when the test opens the gate
    broken = RecordingAction("broken", fail_first=99)
    fast = RecordingAction("fast")
    dispatcher = Dispatcher(
        [settings("slow"), settings("broken", retries=3), settings("fast")],
        [slow, broken, fast],
        record=records.extend,
        clock=clock,
    )
    dispatcher.submit([alert(f"a{i}") for i in range(5)])  # returns: submit only queues
    assert slow.entered.wait(10)  # the slow action is on its first delivery...
    assert dispatcher.settle(actions=["broken", "fast"])  # ...while the others have done theirs
    assert len(fast.delivered) == 5 and len(broken.attempts) == 5
    assert slow.delivered == []
    gate.set()
    assert dispatcher.settle()
    dispatcher.close(timeout=1.0)  # the broken action's retries are due in 2 s: recorded as abandoned
    assert len(slow.delivered) == 5
    assert sum(d.detail == "abandoned at shutdown" for d in records if d.action == "broken") == 5


def test_a_queued_update_is_replaced_by_a_newer_one() -> None:
    gate = threading.Event()
    action = RecordingAction(gate=gate)
    dispatcher = Dispatcher([settings()], [action], record=lambda d: None, clock=FakeClock(T0))
    dispatcher.submit([alert(count=1)])  # "new": taken by the worker, which waits at the gate
    assert action.entered.wait(10)
    for count in range(2, 50):
        dispatcher.submit([alert(count=count)])
    gate.set()
    dispatcher.close()
    assert [(n.event, n.alert.count) for n in action.delivered] == [("new", 1), ("update", 49)]


def test_after_a_restart_what_was_delivered_is_not_sent_again() -> None:
    action = RecordingAction()
    dispatcher = Dispatcher([settings()], [action], record=lambda d: None, clock=FakeClock(T0))
    dispatcher.restore([Delivery("a1", "recorder", "script", "new", 1, 1000.0, True, True, "exit 0", 7)])
    dispatcher.submit([alert("a1", count=7), alert("a2", count=1)])
    dispatcher.submit([alert("a1", count=9)])
    dispatcher.close()
    assert [(n.alert.uid, n.event, n.alert.count) for n in action.delivered] == [("a2", "new", 1), ("a1", "update", 9)]


def test_a_retry_due_after_the_shutdown_deadline_is_recorded_as_abandoned() -> None:
    clock = FakeClock(T0)
    records: list[Delivery] = []
    dispatcher = Dispatcher(
        [settings(retries=10, backoff=30.0)], [RecordingAction(fail_first=99)], record=records.extend, clock=clock
    )
    dispatcher.submit([alert()])
    assert dispatcher.settle()
    dispatcher.close(timeout=10.0)  # the retry would come 30 s later: not waited for
    assert [(d.attempt, d.detail, d.final, d.ok) for d in records][-1] == (2, "abandoned at shutdown", True, False)
    assert len(records) == 2


def test_heartbeats_tick_once_a_second_of_the_clock() -> None:
    clock = FakeClock(T0)
    action = RecordingAction()
    dispatcher = Dispatcher([settings()], [action], record=lambda d: None, clock=clock)
    assert dispatcher.settle() and action.ticks == []
    for _ in range(3):
        clock.advance(1.0)
        assert dispatcher.settle()
    clock.advance(60.0)  # a minute passes at once: one tick, at the new time (not sixty to catch up)
    assert dispatcher.settle()
    dispatcher.close()
    assert [t - T0 for t in action.ticks] == [1.0, 2.0, 3.0, 63.0]


def test_without_heartbeat_the_actions_never_tick() -> None:
    clock = FakeClock(T0)
    action = RecordingAction()
    dispatcher = Dispatcher([settings()], [action], record=lambda d: None, clock=clock, heartbeat=False)
    clock.advance(120.0)
    assert dispatcher.settle()
    dispatcher.close()
    assert action.ticks == []


def test_disabled_actions_do_nothing() -> None:
    action = RecordingAction()
    dispatcher = Dispatcher([settings(enabled=False)], [action], record=lambda d: None, clock=FakeClock(T0))
    dispatcher.submit([alert()])
    dispatcher.close()
    assert action.delivered == [] and dispatcher.actions == []


def test_a_failure_retrying_cannot_mend_is_not_retried() -> None:
    class Refused(RecordingAction):
        def deliver(self, note: Notification) -> Outcome:
            self.attempts.append(note)
            if note.alert.uid == "a1":
                return Outcome(False, "HTTP 404 Not Found: request refused", retry=False)
            raise PermanentDeliveryError("login as 'alerts' refused: 535")

    clock = FakeClock(T0)
    records: list[Delivery] = []
    action = Refused()
    dispatcher = Dispatcher([settings(retries=5)], [action], record=records.extend, clock=clock)
    dispatcher.submit([alert("a1"), alert("a2")])
    assert dispatcher.settle()
    clock.advance(3600.0)
    assert dispatcher.settle()
    dispatcher.close()
    assert len(action.attempts) == 2
    assert sorted((d.alert_uid, d.attempt, d.ok, d.final) for d in records) == [
        ("a1", 1, False, True),
        ("a2", 1, False, True),
    ]
