"""A month of a sensor's life on a simulated clock: the real detection engine, store and dispatcher, restarted
every week as the sensor restores them (open alerts from the store, what each action delivered).

Every hour a new stranger appears (a new alert), and one stranger keeps connecting all month (one alert that goes
on across every restart). What the dispatcher remembers and the samples an alert carries must stay bounded: they
used to grow for as long as the sensor ran (every alert ever seen was kept and walked every second; every restart
added up to ten samples to an ongoing alert).
"""

from __future__ import annotations

from pathlib import Path

from mamori.alerting import Dispatcher
from mamori.config import ScriptAction
from mamori.detection import Engine
from mamori.detection.book import SAMPLES_FIRST, SAMPLES_LAST
from mamori.model import Delivery
from mamori.storage import Store
from mamori.testing import FakeClock
from mamori.testing.actions import RecordingAction
from tests.conftest import make_settings
from tests.unit.detection.helpers import SITE, STRANGER, syn

START = 1_800_000_000.0
HOUR, DAY = 3600.0, 86400.0
DAYS = 30
RESTART_EVERY = 7  # days: four restarts in the month


def _stranger(n: int) -> tuple[str, str]:
    return f"02:77:00:00:{n // 256:02x}:{n % 256:02x}", f"10.77.{1 + n // 250}.{1 + n % 250}"


def test_a_month_of_alerts_and_daily_restarts_stays_bounded(tmp_path: Path) -> None:
    settings = make_settings(SITE, tmp_path)
    store = Store(tmp_path / "m.db")
    clock = FakeClock(START)  # the dispatcher's clock, moved by the test along with the events' time
    action_settings = ScriptAction.model_validate(
        {"name": "notify", "type": "script", "command": ["/bin/true"], "throttle": "5m"}
    )
    notified: list[tuple[str, str]] = []
    tracked: list[int] = []
    persistent_samples: list[int] = []
    newcomer = 0
    for day in range(DAYS):
        if day % RESTART_EVERY == 0:
            # The sensor starts (again): it continues the open alerts and what each action already delivered.
            engine = Engine(settings.site, settings.detection)
            action = RecordingAction("notify")
            dispatcher = Dispatcher(
                [action_settings], [action], record=store.record_deliveries, clock=clock, heartbeat=False
            )
            open_alerts = store.recent_open_alerts(clock.now() - DAY)
            dispatcher.restore(store.delivered([a.uid for a in open_alerts]))
            engine.restore(open_alerts)
        for hour in range(24):
            base = START + day * DAY + hour * HOUR
            newcomer += 1
            observations = [syn(base + i, _stranger(newcomer), sport=41000 + i) for i in range(3)]
            observations += [syn(base + 60 * m, STRANGER, sport=42000 + m) for m in range(0, 60, 30)]
            for second in range(0, int(HOUR), 600):  # ten-minute steps: the sensor's collect-and-tick loop
                clock.set(base + second)
                engine.feed([o for o in observations if base + second <= o.ts < base + second + 600])
                engine.tick(clock.now())
                changes = engine.collect_changes()
                store.upsert_alerts(changes)
                dispatcher.submit(changes)
                dispatcher.tick()
        clock.set(START + (day + 1) * DAY - 1)
        dispatcher.tick()
        tracked.append(dispatcher.tracked)
        (persistent,) = [a for a in store.alerts() if a.src_mac == STRANGER[0]]
        persistent_samples.append(len(persistent.samples))
        if (day + 1) % RESTART_EVERY == 0 or day + 1 == DAYS:  # the sensor stops
            dispatcher.close(timeout=10)
            notified += [(n.alert.uid, n.event) for n in action.delivered]

    # What the dispatcher remembers: the alerts of about a day (its track_ttl), not of the month.
    assert max(tracked) <= 2 * 24 + 5, tracked
    assert tracked[6] <= tracked[1] + 2, tracked  # flat from the second day on, within a week-long run
    # The ongoing alert: one episode all month, one "new", and never more samples than its first and latest.
    alerts = store.alerts()
    assert len(alerts) == DAYS * 24 + 1
    (persistent,) = [a for a in alerts if a.src_mac == STRANGER[0]]
    assert persistent.count == DAYS * 24 * 2
    assert [event for uid, event in notified if uid == persistent.uid].count("new") == 1
    assert max(persistent_samples) <= SAMPLES_FIRST + SAMPLES_LAST, persistent_samples
    assert persistent.samples[0]["ts"] == START  # the episode's first sample is still there...
    assert persistent.samples[-1]["ts"] == START + (DAYS * 24 - 1) * HOUR + 30 * 60  # ...and its latest
    # Every newcomer was notified once, as new; none again after a restart.
    news = [uid for uid, event in notified if event == "new"]
    assert len(news) == len(set(news)) == DAYS * 24 + 1
    delivered: list[Delivery] = store.deliveries()
    assert all(d.ok for d in delivered)
