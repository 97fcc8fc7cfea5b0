"""Benchmark: the dispatcher's once-a-second ``tick()`` and its memory, as the alerts of a long run pile up.

What it measures
    A real :class:`mamori.alerting.Dispatcher` with one action (a RecordingAction) is given N distinct alerts
    (default 1,000,000, as a sensor might see in a busy month: one alert a few seconds), one new alert per
    simulated second on an injected clock, with a few updates held back by the throttle. At checkpoints it reports
    how many (action, alert) pairs are remembered, the time one ``tick()`` takes (best of 50), the time the former
    ``tick()`` took, which walked every remembered pair looking for held-back updates (the same loop, timed on the
    same pairs), and the Python memory allocated meanwhile (tracemalloc). The reference is the same dispatcher
    with forgetting turned off (``track_ttl`` and ``max_tracks`` infinite): how it behaved before.

How to run
    . .venv/bin/activate
    python benchmarks/bench_dispatcher.py                 # 1,000,000 alerts
    python benchmarks/bench_dispatcher.py --alerts 200000
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from mamori.alerting import Dispatcher
from mamori.config import ScriptAction
from mamori.model import Alert, Severity
from mamori.testing import FakeClock
from mamori.testing.actions import RecordingAction


def _alert(n: int, count: int = 1) -> Alert:
    return Alert(f"a{n}", "port-scan", f"k{n}", Severity.HIGH, float(n), float(n), count, "要約", "summary")


def run(alerts: int, *, forget: bool) -> list[tuple[int, int, float, float, float]]:
    clock = FakeClock(0.0)
    settings = ScriptAction.model_validate({"name": "n", "type": "script", "command": ["/bin/true"], "throttle": 300})
    kwargs = {} if forget else {"track_ttl": float("inf"), "max_tracks": 1 << 62}
    action = RecordingAction("n")
    dispatcher = Dispatcher([settings], [action], record=lambda d: None, clock=clock, heartbeat=False, **kwargs)
    checkpoints = {alerts // 10 * i for i in range(1, 11)}
    rows = []
    tracemalloc.start()
    for n in range(1, alerts + 1):
        clock.set(float(n))
        dispatcher.submit([_alert(n)])
        if n % 1000 == 0:
            dispatcher.submit([_alert(n - 1, count=2)])  # an update the throttle holds back
        action.delivered.clear()  # the fake action's own list is not the dispatcher's memory
        action.attempts.clear()
        if n in checkpoints:
            best = min(_timed(dispatcher.tick) for _ in range(50))
            walk = min(_timed(lambda: _walk_all(dispatcher)) for _ in range(5))
            memory = tracemalloc.get_traced_memory()[0] / 1e6
            rows.append((n, dispatcher.tracked, best * 1e6, walk * 1e6, memory))
    tracemalloc.stop()
    dispatcher.close(timeout=60)
    return rows


def _walk_all(dispatcher: Dispatcher) -> int:
    """The loop of the former tick(): every remembered pair, to find the few with a held-back update."""
    return sum(1 for _key, track in dispatcher._tracks.items() if track.waiting is not None)


def _timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    args = parser.parse_args()
    for forget, label in ((True, "mamori (forgets after a day)"), (False, "reference: never forgets")):
        print(f"\n{label}")
        print(f"{'alerts seen':>12} {'remembered':>11} {'tick() µs':>10} {'former tick() µs':>17} {'memory MB':>10}")
        for seen, tracked, micros, walk, memory in run(args.alerts, forget=forget):
            print(f"{seen:>12,} {tracked:>11,} {micros:>10.1f} {walk:>17.0f} {memory:>10.1f}")


if __name__ == "__main__":
    main()
