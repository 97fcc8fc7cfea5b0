"""The whole live sensor without root: frames on a fake interface, the real decoder, detection engine, alert writer
and dispatcher, a recording action configured in the settings like any other, a memory store, a fake clock.

Nothing sleeps: the test moves the clock and waits only for the threads to have done what is due (``settle``).
The same sensor on real interfaces, with real tools, is tests/integration/test_live_netns.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mamori.alerting import ActionTypes, option_types
from mamori.alerting.registry import BUILTIN
from mamori.capture import PacketSource
from mamori.config import Settings, settings_from_text
from mamori.errors import CaptureError
from mamori.model import SYN, Alert
from mamori.rules.network import UnregisteredTerminalDetails
from mamori.rules.render import summary
from mamori.runtime import Sensor
from mamori.testing import FakeClock, FakeInterfaces, MemoryStore
from mamori.testing.actions import RecordingActions
from mamori.testing.pcapbuilder import eth, ipv4, tcp
from tests.unit.detection.helpers import SERVER, SERVER_MAC, SITE, STRANGER, TERMINAL

T0 = 1_800_000_000.0
SETTINGS = (
    SITE
    + """
capture: {interfaces: [mirror0]}
storage: {batch_interval: 2s}
actions:
  - {name: pager, type: recording, throttle: 60s}
"""
)


def syn_frame(ts: float, src: tuple[str, str], sport: int = 40000, port: int = 6000) -> tuple[float, bytes]:
    """A TCP SYN as it crosses the mirror port: Ethernet, IPv4, TCP with correct checksums."""
    mac, ip = src
    return ts, eth(SERVER_MAC, mac, 0x0800, ipv4(ip, SERVER, 6, tcp(ip, SERVER, sport, port, SYN)))


class Rig:
    """What the composition root gives a sensor, with fakes: interfaces, the action types (the built-in ones
    and ``recording``), a store and a clock. One rig outlives its sensors: a restart."""

    def __init__(self, tmp_path: Path, text: str = SETTINGS, *interfaces: str) -> None:
        self.recording = RecordingActions()
        self.types: ActionTypes = {**BUILTIN, "recording": self.recording.type}
        self.settings: Settings = settings_from_text(
            text, source="site.yaml", data_dir=tmp_path, action_types=option_types(self.types)
        )
        self.interfaces = FakeInterfaces(*(interfaces or ("mirror0",)))
        self.store = MemoryStore()
        self.clock = FakeClock(T0)
        self.seen: list[Alert] = []

    def sensor(self) -> Sensor:
        return Sensor(
            self.settings,
            open_source=self.interfaces.open_source,
            action_types=self.types,
            store=self.store,
            clock=self.clock,
            on_alerts=self.seen.extend,
        )

    def collect(self, sensor: Sensor, seconds: float = 1.0) -> None:
        """Read what the interfaces hold, let ``seconds`` of the clock pass and run the loop's periodic work
        (collect alerts, store them, hand them to the actions); then wait for the writer and actions to settle."""
        sensor.step(0)
        self.clock.advance(seconds)
        sensor.step(0)
        assert sensor.dispatcher is not None and sensor.dispatcher.settle()
        assert sensor.writer is not None and sensor.writer.settle()


def test_a_syn_from_an_unregistered_terminal_is_stored_and_delivered(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    sensor = rig.sensor()
    sensor.start()
    mirror = rig.interfaces["mirror0"]
    mirror.put([syn_frame(T0, STRANGER)])
    rig.collect(sensor)

    # the action got it at once, as "new", with the facts the engine found in the frame
    pager = rig.recording.built["pager"]
    [note] = pager.delivered
    alert = note.alert
    assert (note.event, alert.rule, alert.src_mac, alert.src_ip, alert.dst_ip, alert.dst_port, alert.count) == (
        "new",
        "unregistered-terminal",
        STRANGER[0],
        STRANGER[1],
        SERVER,
        6000,
        1,
    )
    assert alert.system == "透析システム" and alert.first_seen == T0
    assert isinstance(alert.details, UnregisteredTerminalDetails) and alert.details.reason == "unregistered-mac"
    assert summary(alert, "en").startswith("Unregistered terminal")
    assert [a.uid for a in rig.seen] == [alert.uid]

    # the writer holds it until its batch is due (batch_interval: 2 s of the clock)...
    assert rig.store.alerts == {} and sensor.writer is not None and sensor.writer.pending == 1
    rig.clock.advance(1.0)
    assert sensor.writer.settle()
    # ...then the alert, its delivery and the interface's health are stored together
    assert list(rig.store.alerts) == [alert.uid] and rig.store.origins[alert.uid] == "sensor"
    [delivery] = rig.store.deliveries
    assert (delivery.alert_uid, delivery.action, delivery.action_type, delivery.event, delivery.ok) == (
        alert.uid,
        "pager",
        "recording",
        "new",
        True,
    )
    assert delivery.ts == T0 + 1.0  # the clock's time, not the machine's
    health = rig.store.health["mirror0"]
    assert (health.kind, health.matched, health.decoded, health.malformed, health.error) == ("interface", 1, 1, 0, "")

    # a registered terminal on its registered IP raises nothing
    mirror.put([syn_frame(T0 + 3, TERMINAL)])
    rig.collect(sensor)
    report = sensor.finish()
    assert len(pager.delivered) == 1 and len(rig.store.alerts) == 1
    assert report.observations == 2 and report.interfaces[0].matched == 2 and report.alerts_written == 1
    assert pager.closed and rig.store.closed == 1


def test_a_restart_loses_nothing_and_notifies_nothing_twice(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    first = rig.sensor()
    first.start()
    mirror = rig.interfaces["mirror0"]
    mirror.put([syn_frame(T0 + i, STRANGER, sport=40000 + i) for i in range(3)])
    rig.collect(first)
    # stopped with SYNs still in the interface's buffer: they are read, counted, stored and delivered at the stop
    mirror.put([syn_frame(T0 + 3 + i, STRANGER, sport=40100 + i) for i in range(2)])
    first.finish()
    [before] = rig.store.alerts.values()
    assert before.count == 5
    first_pager = rig.recording.built["pager"]
    # "new" at once; the update the throttle (60 s) held back goes out at the stop: the last figures always do
    assert [(n.event, n.alert.count) for n in first_pager.delivered] == [("new", 3), ("update", 5)]
    assert first_pager.closed

    # the sensor starts again on the same store: the open alert continues, the action is not told "new" again
    rig.clock.advance(60.0)
    second = rig.sensor()
    assert second.restore() == 1
    second.start()
    mirror.put([syn_frame(T0 + 100, STRANGER, sport=40200)])
    rig.collect(second)
    pager = rig.recording.built["pager"]
    assert pager is not first_pager
    assert [(n.event, n.alert.uid, n.alert.count) for n in pager.delivered] == [("update", before.uid, 6)]
    second.finish()
    [after] = rig.store.alerts.values()
    assert (after.uid, after.count, after.first_seen, after.last_seen) == (before.uid, 6, T0, T0 + 100)
    assert [(d.event, d.alert_count, d.ok) for d in rig.store.deliveries] == [
        ("new", 3, True),
        ("update", 5, True),
        ("update", 6, True),
    ]


def test_while_the_store_is_down_nothing_is_lost(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(tmp_path)
    sensor = rig.sensor()
    sensor.start()
    rig.store.down = True
    mirror = rig.interfaces["mirror0"]
    for second in range(4):
        mirror.put([syn_frame(T0 + second, STRANGER, sport=40000 + second)])
        rig.collect(sensor)
    assert sensor.writer is not None and sensor.writer.last_error is not None
    assert "it is down (will retry)" in caplog.text
    assert rig.store.alerts == {} and rig.store.deliveries == []
    rig.store.down = False
    rig.clock.advance(2.0)
    assert sensor.writer.settle()
    [alert] = rig.store.alerts.values()
    assert alert.count == 4 and sensor.writer.last_error is None  # the newest snapshot, one row
    assert [(d.event, d.ok) for d in rig.store.deliveries] == [("new", True)]  # kept for the store's return
    sensor.finish()


def test_a_failed_interface_is_reopened_and_a_missing_one_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(tmp_path, SETTINGS.replace("[mirror0]", "[mirror0, mirror9]"), "mirror0")
    sensor = rig.sensor()
    sensor.start()  # one of two opens: the sensor runs
    mirror = rig.interfaces["mirror0"]
    assert mirror.is_open and not rig.interfaces["mirror9"].is_open
    mirror.fail("the device went away")
    mirror.put([syn_frame(T0, STRANGER)])
    sensor.step(0)
    assert not mirror.is_open and "capture on 'mirror0' failed: the device went away" in caplog.text
    rig.clock.advance(5.0)  # reopened at the next tick after five seconds, and what waited is read
    sensor.step(0)
    rig.collect(sensor)
    assert mirror.opened == 2 and mirror.waiting == 0
    assert [n.alert.rule for n in rig.recording.built["pager"].delivered] == ["unregistered-terminal"]
    rig.clock.advance(10.0)  # health is recorded every ten seconds...
    sensor.step(0)
    rig.clock.advance(2.0)  # ...and written with the next batch
    assert sensor.writer is not None and sensor.writer.settle()
    assert rig.store.health["mirror0"].matched == 1
    assert "does not exist on this machine (it has: mirror0)" in rig.store.health["mirror9"].error
    assert rig.store.health["mirror0"].error == ""
    sensor.finish()


def test_no_interface_to_open_is_a_clear_error(tmp_path: Path) -> None:
    rig = Rig(tmp_path, SETTINGS.replace("[mirror0]", "[eth7]"), "mirror0")
    sensor = rig.sensor()
    with pytest.raises(CaptureError, match=r"interface 'eth7' does not exist on this machine \(it has: mirror0\)"):
        sensor.start()
    sensor.finish()
    with pytest.raises(CaptureError, match="no interface to capture on"):
        Rig(tmp_path, SETTINGS.replace("capture: {interfaces: [mirror0]}", "")).sensor()


def test_the_fake_source_is_a_packet_source_read_in_batches(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    interfaces = FakeInterfaces("mirror0")
    source: PacketSource = interfaces.open_source("mirror0")
    assert source.fd == -1 and source.read_batch() is None
    source.open()
    assert source.read_batch() is None  # nothing waiting
    interfaces["mirror0"].put([syn_frame(T0 + i / 1000, STRANGER, sport=1024 + i) for i in range(5000)])
    first, second = source.read_batch(), source.read_batch()
    assert first is not None and second is not None and (len(first), len(second)) == (4096, 904)
    assert source.read_batch() is None
    assert source.refresh_stats().matched == 5000 and source.refresh_stats().last_packet == pytest.approx(T0 + 4.999)
    source.close()
