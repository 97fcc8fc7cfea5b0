"""ARP isolation: from the sensor's own port on a segment, tell a stranger that the servers and the gateway are at a
MAC that goes nowhere, and tell those servers and the gateway the same about the stranger; put the true bindings
back with gratuitous ARP when the block is lifted.

Why these frames (docs/design.md, blocking): a gratuitous ARP request (sender IP = target IP) updates an existing
neighbour entry at once, whatever the receiver's lock time, while an ordinary reply within the lock time does not.
So each poisoning frame is a gratuitous request, sent unicast (Ethernet destination: the one device to mislead),
from the sink MAC, so that switches learn the sink on the sensor's port and the stranger's frames end there. The
isolator also answers, at once, every ARP request it sees between the stranger and the peers, so a fresh lookup
loses the race; and every frame counts against ``max_rate``.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mamori.blocking.frames import ETH_P_ARP, OP_REQUEST, arp_frame, mac_text, parse_arp

__all__ = ["ArpLink", "Binding", "IsolationPlan", "Isolator", "RawLink"]

log = logging.getLogger(__name__)

_PACKET_OUTGOING = 4
_RESTORE_ROUNDS = 3
_RESTORE_GAP = 0.2


@dataclass(frozen=True)
class Binding:
    """A true IPv4-to-MAC binding on the segment."""

    ip: str
    mac: str


@dataclass(frozen=True)
class IsolationPlan:
    stranger: Binding
    peers: tuple[Binding, ...]  # the servers and gateways the stranger is cut off from
    sink_mac: str
    interval: float = 1.0
    max_rate: int = 50


class ArpLink(Protocol):
    mac: str

    def send(self, frame: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes | None: ...

    def close(self) -> None: ...


class RawLink:
    """A raw AF_PACKET socket on one interface for ARP frames (Linux; needs CAP_NET_RAW)."""

    def __init__(self, interface: str) -> None:
        self.interface = interface
        try:
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
            self._sock.bind((interface, ETH_P_ARP))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot open a raw socket on {interface}: {exc.strerror}") from exc
        self.mac = mac_text(self._sock.getsockname()[4][:6])

    def send(self, frame: bytes) -> None:
        self._sock.send(frame)

    def recv(self, timeout: float) -> bytes | None:
        readable, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        if not readable:
            return None
        data, address = self._sock.recvfrom(2048)
        return None if address[2] == _PACKET_OUTGOING else data

    def close(self) -> None:
        self._sock.close()


class Isolator:
    """One stranger's isolation: a thread that sends the misleading bindings every ``interval`` and answers lookups,
    until :meth:`stop` (which then restores the true bindings) or until ``deadline`` (monotonic seconds)."""

    def __init__(
        self,
        plan: IsolationPlan,
        link: ArpLink,
        *,
        deadline: float,
        monotonic: Callable[[], float] = time.monotonic,
        on_expired: Callable[[], None] | None = None,
    ) -> None:
        self.plan = plan
        self.link = link
        self.deadline = deadline
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._on_expired = on_expired
        self._window = 0.0
        self._sent_in_window = 0
        self.sent = 0
        self.limited = 0
        self._peer_ips = {p.ip: p for p in plan.peers}
        self._thread = threading.Thread(target=self._run, name=f"mamori-arp-{plan.stranger.mac}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # -- frames ------------------------------------------------------------------------------------------------------

    def _to_stranger(self, peer: Binding) -> bytes:
        s = self.plan
        return arp_frame(
            OP_REQUEST,
            eth_dst=s.stranger.mac,
            eth_src=s.sink_mac,
            sender_mac=s.sink_mac,
            sender_ip=peer.ip,
            target_mac=None,
            target_ip=peer.ip,
        )

    def _to_peer(self, peer: Binding) -> bytes:
        s = self.plan
        return arp_frame(
            OP_REQUEST,
            eth_dst=peer.mac,
            eth_src=s.sink_mac,
            sender_mac=s.sink_mac,
            sender_ip=s.stranger.ip,
            target_mac=None,
            target_ip=s.stranger.ip,
        )

    def _send(self, frame: bytes) -> None:
        now = self._monotonic()
        if now - self._window >= 1.0:
            self._window = now
            self._sent_in_window = 0
        if self._sent_in_window >= self.plan.max_rate:
            self.limited += 1
            return
        self._sent_in_window += 1
        try:
            self.link.send(frame)
            self.sent += 1
        except OSError as exc:
            log.error("ARP isolation of %s: cannot send: %s", self.plan.stranger.mac, exc)

    def _poison_all(self) -> None:
        for peer in self.plan.peers:
            self._send(self._to_stranger(peer))
            self._send(self._to_peer(peer))

    def _react(self, frame: bytes) -> None:
        arp = parse_arp(frame)
        if arp is None:
            return
        _op, _eth_src, sender_mac, sender_ip, _tmac, target_ip = arp
        stranger = self.plan.stranger
        if sender_mac == stranger.mac or sender_ip == stranger.ip:
            # The stranger asks for (or announces itself to) a peer: mislead the stranger and that peer again.
            peer = self._peer_ips.get(target_ip)
            for p in (peer,) if peer else self.plan.peers:
                self._send(self._to_stranger(p))
                self._send(self._to_peer(p))
        elif target_ip == stranger.ip and sender_ip in self._peer_ips:
            peer = self._peer_ips[sender_ip]
            self._send(self._to_peer(peer))
            self._send(self._to_stranger(peer))

    # -- the thread --------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        next_round = 0.0
        try:
            while not self._stop.is_set():
                now = self._monotonic()
                if now >= self.deadline:
                    break
                if now >= next_round:
                    self._poison_all()
                    next_round = now + self.plan.interval
                frame = self.link.recv(min(0.2, max(0.0, next_round - now)))
                if frame is not None and not self._stop.is_set():
                    self._react(frame)
        except Exception:
            log.exception("ARP isolation of %s stopped by an error", self.plan.stranger.mac)
        if not self._stop.is_set() and self._on_expired is not None:
            self._on_expired()

    def stop(self) -> None:
        """Stop misleading at once, then tell everyone the true bindings (gratuitous ARP, a few times)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(2.0)
        self.restore()

    def restore(self) -> None:
        s = self.plan
        own = self.link.mac
        frames = []
        for peer in s.peers:
            frames.append(
                arp_frame(
                    OP_REQUEST,
                    eth_dst=s.stranger.mac,
                    eth_src=own,
                    sender_mac=peer.mac,
                    sender_ip=peer.ip,
                    target_mac=None,
                    target_ip=peer.ip,
                )
            )
            frames.append(
                arp_frame(
                    OP_REQUEST,
                    eth_dst=peer.mac,
                    eth_src=own,
                    sender_mac=s.stranger.mac,
                    sender_ip=s.stranger.ip,
                    target_mac=None,
                    target_ip=s.stranger.ip,
                )
            )
        for round_ in range(_RESTORE_ROUNDS):
            for frame in frames:
                try:
                    self.link.send(frame)
                except OSError as exc:
                    log.error("ARP isolation of %s: cannot send the true bindings: %s", s.stranger.mac, exc)
                    return
            if round_ + 1 < _RESTORE_ROUNDS:
                time.sleep(_RESTORE_GAP)
        self.link.close()
