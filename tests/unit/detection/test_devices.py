"""The asset ledger's device book: what it records per MAC, and its bounds."""

from __future__ import annotations

from collections.abc import Sequence

from mamori.detection.devices import DeviceBook
from mamori.model import ArpObservation, ConnectionAttempt, DeviceSighting, PortResponse


class Saved:
    def __init__(self) -> None:
        self.batches: list[list[DeviceSighting]] = []

    def save(self, devices: Sequence[DeviceSighting]) -> None:
        self.batches.append(list(devices))


def test_a_device_is_recorded_with_its_addresses_and_services_and_saved_once_per_interval() -> None:
    saved = Saved()
    book = DeviceBook(saved, interval=60)
    book.on_arp(
        ArpObservation(100.0, 1, "02:00:00:00:00:01", "02:00:00:00:00:01", "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2")
    )
    book.on_response(PortResponse(101.0, "synack", "tcp", "02:00:00:00:00:01", "10.0.0.1", 443, "10.0.0.9", 5000))
    book.on_attempt(ConnectionAttempt(102.0, "02:00:00:00:00:09", None, "10.0.0.9", "10.0.0.1", "tcp", 5000, 443))
    book.on_attempt(ConnectionAttempt(103.0, None, None, "10.9.9.9", "10.0.0.1", "tcp", 1, 443, action="deny"))
    book.tick(120.0)
    assert not saved.batches  # within the interval
    book.tick(200.0)
    (batch,) = saved.batches
    by_mac = {d.mac: d for d in batch}
    assert by_mac["02:00:00:00:00:01"] == DeviceSighting("02:00:00:00:00:01", ("10.0.0.1",), 100.0, 101.0, ("tcp/443",))
    assert by_mac["02:00:00:00:00:09"].ips == ("10.0.0.9",)
    assert len(by_mac) == 2  # a log line's address has no MAC: not a device
    book.tick(300.0)
    assert len(saved.batches) == 1  # nothing changed


def test_a_router_is_marked_and_the_book_stays_bounded() -> None:
    saved = Saved()
    book = DeviceBook(saved, interval=1, max_devices=3, max_ips=2)
    for i in range(5):
        book.on_attempt(ConnectionAttempt(float(i), "02:00:00:00:00:aa", None, f"10.1.0.{i}", "10.0.0.1", "tcp", 1, 80))
    for i in range(6):
        book.on_attempt(
            ConnectionAttempt(10.0 + i, f"02:00:00:00:01:{i:02x}", None, "10.2.0.1", "10.0.0.1", "tcp", 1, 80)
        )
    book.flush()
    assert len(book) == 3
    assert all(len(d.ips) <= 2 for b in saved.batches for d in b)
    router = [d for b in saved.batches for d in b if d.mac == "02:00:00:00:00:aa"]
    assert router and router[-1].many_ips
    book.on_attempt(ConnectionAttempt(30.0, "01:00:5e:00:00:01", None, "10.3.0.1", "10.0.0.1", "tcp", 1, 80))
    assert "01:00:5e:00:00:01" not in book._devices  # multicast is no device
