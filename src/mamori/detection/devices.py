"""Devices seen on the wire, for the asset ledger (2-① of the Ministry's checklist): who is on the network.

Not a detector (it raises no alert): the engine hands it every observation that carries a MAC address (ARP, a SYN,
a SYN-ACK) when a :class:`DeviceMemory` is given, and it hands the devices that changed to that memory every
``interval`` seconds of observation time (``runtime`` wires the memory to the store, saved on the alert writer's
thread; detection never imports storage, docs/design.md §3).

Bounded: at most ``max_devices`` MACs (the least recently seen are dropped when full, after being handed over), at
most ``max_ips`` addresses and ``max_services`` services a device (a router's MAC carries every routed host's
address: past the cap the device is marked ``many_ips`` instead of growing). Per observation: one dict lookup and,
for a device seen within the same ``interval``, nothing else unless its address or service is new.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from mamori.model import ArpObservation, ConnectionAttempt, DeviceSighting, PortResponse

__all__ = ["DeviceBook", "DeviceMemory"]

_ZERO_MAC = "00:00:00:00:00:00"
_UNSPECIFIED = frozenset({"0.0.0.0", "::"})  # noqa: S104 - an ARP probe's sender address, not a binding


class DeviceMemory(Protocol):
    """Where the devices seen go (the store, through the alert writer's thread)."""

    def save(self, devices: Sequence[DeviceSighting]) -> None: ...


class _Device:
    __slots__ = ("first", "ips", "last", "many", "saved_last", "services")

    def __init__(self, ts: float) -> None:
        self.first = ts
        self.last = ts
        self.ips: list[str] = []
        self.services: list[str] = []
        self.many = False
        self.saved_last = -1.0


def _sighting(mac: str, d: _Device) -> DeviceSighting:
    return DeviceSighting(mac, tuple(d.ips), d.first, d.last, tuple(d.services), d.many)


class DeviceBook:
    def __init__(
        self,
        memory: DeviceMemory,
        *,
        interval: float = 60.0,
        max_devices: int = 100_000,
        max_ips: int = 8,
        max_services: int = 32,
    ) -> None:
        self.memory = memory
        self.interval = interval
        self.max_devices = max_devices
        self.max_ips = max_ips
        self.max_services = max_services
        self._devices: OrderedDict[str, _Device] = OrderedDict()
        self._dirty: set[str] = set()
        self._evicted: list[DeviceSighting] = []
        self._next_save: float | None = None

    def __len__(self) -> int:
        return len(self._devices)

    def _see(self, mac: str | None, ip: str | None, ts: float, service: str | None = None) -> None:
        if not mac or mac == _ZERO_MAC or int(mac[:2], 16) & 1:  # no multicast or broadcast source
            return
        device = self._devices.get(mac)
        if device is None:
            if len(self._devices) >= self.max_devices:
                old, gone = self._devices.popitem(last=False)
                if old in self._dirty:  # not saved yet: handed over with the next save, not lost
                    self._dirty.discard(old)
                    self._evicted.append(_sighting(old, gone))
            device = self._devices[mac] = _Device(ts)
            self._dirty.add(mac)
        else:
            self._devices.move_to_end(mac)
            device.first = min(device.first, ts)
        if ts > device.last:
            device.last = ts
            if ts - device.saved_last >= self.interval:
                self._dirty.add(mac)
        if ip and ip not in _UNSPECIFIED and ip not in device.ips:
            if len(device.ips) < self.max_ips:
                device.ips.append(ip)
                self._dirty.add(mac)
            elif not device.many:
                device.many = True
                self._dirty.add(mac)
        if service and service not in device.services and len(device.services) < self.max_services:
            device.services.append(service)
            self._dirty.add(mac)
        if self._next_save is None:
            self._next_save = ts + self.interval

    def on_attempt(self, obs: ConnectionAttempt) -> None:
        if obs.action is None:  # seen on the wire (a log line's addresses have no link layer)
            self._see(obs.src_mac, obs.src_ip, obs.ts)

    def on_response(self, obs: PortResponse) -> None:
        if obs.kind == "synack":
            self._see(obs.src_mac, obs.src_ip, obs.ts, f"{obs.proto}/{obs.src_port}")
        else:
            self._see(obs.src_mac, obs.src_ip, obs.ts)

    def on_arp(self, obs: ArpObservation) -> None:
        self._see(obs.sender_mac, obs.sender_ip, obs.ts)

    def tick(self, now: float) -> None:
        if self._next_save is not None and now >= self._next_save:
            self.flush()

    def flush(self) -> None:
        """Hand every device changed since the last save to the memory."""
        self._next_save = None
        if not self._dirty and not self._evicted:
            return
        out, self._evicted = self._evicted, []
        for mac in self._dirty:
            d = self._devices.get(mac)
            if d is None:
                continue
            out.append(_sighting(mac, d))
            d.saved_last = d.last
        self._dirty.clear()
        if out:
            self.memory.save(out)
