"""The alert writer on a fake clock and a memory store: batches by the clock, the newest snapshot per alert, an
outage that loses nothing, flush and close. Nothing sleeps (the writer on the SQLite store: test_store.py)."""

from __future__ import annotations

from mamori.model import (
    Alert,
    CleartextLogin,
    Delivery,
    DeviceSighting,
    FlowCount,
    KnownPath,
    KnownService,
    MaintenanceSession,
    Severity,
)
from mamori.storage import AlertWriter, SensorHealth
from mamori.testing import FakeClock, MemoryStore

T0 = 1_800_000_000.0


def alert(uid: str = "a1", count: int = 1) -> Alert:
    return Alert(uid, "port-scan", f"k-{uid}", Severity.MEDIUM, T0, T0 + count, count)


def health(matched: int) -> SensorHealth:
    return SensorHealth("eth1", "interface", T0, None, matched, matched, 0, matched, 0, 0)


def test_alerts_are_written_in_batches_by_the_clock_newest_snapshot_only() -> None:
    clock, store = FakeClock(T0), MemoryStore()
    writer = AlertWriter(store, interval=5.0, clock=clock)
    for count in range(1, 101):
        writer.submit([alert(count=count)])
    writer.submit([alert("a2")])
    assert writer.settle()
    assert store.alerts == {} and writer.pending == 2  # the batch is not due yet
    clock.advance(4.9)
    assert writer.settle() and store.writes == 0
    clock.advance(0.1)
    assert writer.settle()
    assert store.writes == 1 and {uid: a.count for uid, a in store.alerts.items()} == {"a1": 100, "a2": 1}
    assert writer.written == 2 and writer.pending == 0
    writer.submit([alert(count=101)])
    clock.advance(5.0)
    assert writer.settle()
    assert store.writes == 2 and store.alerts["a1"].count == 101
    writer.close()
    assert store.closed == 1


def test_while_the_store_is_down_nothing_is_lost_and_the_error_is_reported() -> None:
    clock, store = FakeClock(T0), MemoryStore()
    writer = AlertWriter(store, interval=1.0, clock=clock, origin="syslog")
    store.down = True
    for count in range(1, 4):
        writer.submit([alert(count=count)])
        writer.submit_deliveries([Delivery("a1", "pager", "script", "new", count, T0, False, False, "down", 1)])
        writer.submit_health([health(count)])
        writer.submit_paths(T0, [KnownPath("a", "b", "tcp", 445, T0, T0 + count)])
        clock.advance(1.0)
        assert writer.settle()
    assert writer.last_error is not None and "it is down" in writer.last_error
    assert store.alerts == {} and store.deliveries == [] and store.health == {}
    store.down = False
    clock.advance(1.0)
    assert writer.settle()
    assert writer.last_error is None
    assert store.alerts["a1"].count == 3 and store.origins["a1"] == "syslog"
    assert [d.attempt for d in store.deliveries] == [1, 2, 3]  # every attempt's record
    assert store.health["eth1"].matched == 3  # the newest health
    [path] = store.load_paths()[1]
    assert (path.first_seen, path.last_seen) == (T0, T0 + 3)
    writer.close()


def test_flush_writes_at_once_and_close_writes_the_rest() -> None:
    clock, store = FakeClock(T0), MemoryStore()
    writer = AlertWriter(store, interval=3600.0, clock=clock)
    writer.submit([alert()])
    assert writer.flush()  # without the clock moving
    assert store.alerts["a1"].count == 1
    writer.submit([alert(count=2)])
    writer.close()
    assert store.alerts["a1"].count == 2 and store.closed == 1


def test_the_side_tables_go_through_the_store_protocol_and_survive_an_outage() -> None:
    """Services, remote-maintenance sessions, flow counts, devices and cleartext logins reach any AlertStore (here
    the memory store, as in the sensor's tests) and wait, not lost, while it is down."""
    clock, store = FakeClock(T0), MemoryStore()
    writer = AlertWriter(store, interval=1.0, clock=clock)
    store.down = True
    service = KnownService("10.0.0.5", "tcp", 445, T0, T0 + 5, "10.0.0.9")
    session = MaintenanceSession("s1", "ベンダーA", "192.0.2.7", T0, T0 + 60, targets=("10.0.0.5",), ports=(3389,))
    flow = FlowCount(T0 - T0 % 3600, "事務系", "電子カルテ", "tcp", 3389, True, 2)
    device = DeviceSighting("02:00:00:00:00:01", ("10.0.0.9",), T0, T0 + 1)
    login = CleartextLogin(T0, "ftp", "10.0.0.9", "10.0.0.5", 21, "<admin>", "tag")
    writer.submit_services([service])
    writer.submit_sessions([session])
    writer.submit_flows([flow, flow])
    writer.submit_devices([device])
    writer.submit_logins([login])
    clock.advance(1.0)
    assert writer.settle()
    assert writer.last_error is not None and "it is down" in writer.last_error
    assert not (store.services or store.sessions or store.flows or store.devices or store.logins)
    store.down = False
    # the device book's newest sighting of a MAC carries everything seen since it began
    writer.submit_devices([device._replace(ips=("10.0.0.9", "10.0.0.10"), last_seen=T0 + 9)])
    clock.advance(1.0)
    assert writer.settle()
    assert writer.last_error is None
    assert list(store.services.values()) == [service]
    assert store.sessions == {"s1": session}
    assert [f.connections for f in store.flows.values()] == [4]  # the two counts of one hour summed
    assert store.devices["02:00:00:00:00:01"].ips == ("10.0.0.9", "10.0.0.10")
    assert store.devices["02:00:00:00:00:01"].last_seen == T0 + 9
    assert store.logins == [login]
