"""``tcp-reset-injection``: TCP resets on department servers' connections that their endpoint did not send (threats
T14-T16 of the HEASNET report: sessions disrupted or hijacked).

What each endpoint of a followed connection looks like is learned from its own packets: a sample of its segments
(the kernel filter lets one in ``2**sample_bits`` through by the IPv4 identification field, which Linux and Windows
count up per packet; the handshake is not used, so that a SYN flood costs nothing here): its TTL (hop limit), its
source MAC, and how far its sequence numbers have come (the highest sequence number it sent, and the highest
acknowledgement its peer sent, which is where its next byte must be). A reset claiming to come from that endpoint is
judged against that: another TTL, another MAC, or a sequence number behind what it already sent or further ahead
than ``seq_slack`` plus twice the connection's own rate since the last sample (a blind attacker must guess it; an
endpoint's own reset carries its next sequence number).

The trade-off (docs/design.md §10, "LAN threats"): only connections on the department systems' ports (or ``ports``)
are followed, at most ``max_flows`` at once (the oldest let go), each from its first sampled packet: a reset in a
connection too short to have had one of its packets sampled (about ``2**sample_bits`` packets) is not judged, nor,
without an identification field to sample by, one in an IPv6 connection. A firewall or IPS that resets connections
on an endpoint's behalf looks like an injection: that is what it is, and the alert says so.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from mamori.config import ResetInjectionSettings
from mamori.detection.book import AlertBook
from mamori.detection.site_index import SiteIndex
from mamori.model import ACK, RST, SYN, ConnectionAttempt, PacketData, Severity

__all__ = ["RULE", "ResetInjectionDetector", "followed_ports"]

RULE = "tcp-reset-injection"
_MOD = 1 << 32
_MASK = _MOD - 1
_HALF = 1 << 31
_BEHIND = 65_536  # a reset may repeat an old sequence number by this much (retransmitted data in flight)
_MAX_LISTED = 20
_MAX_ALERT_FLOWS = 1024


def followed_ports(index: SiteIndex, settings: ResetInjectionSettings) -> tuple[int, ...]:
    """The server ports whose connections are followed: the setting's, else every department system's."""
    if settings.ports:
        return tuple(sorted(set(settings.ports)))
    return tuple(sorted({p for system in index.site.systems for p in system.ports}))


def _distance(seq: int, ref: int) -> int:
    """``seq - ref`` in sequence-number space (RFC 1982 serial arithmetic), from -2**31 to 2**31 - 1."""
    d = (seq - ref) % _MOD
    return d - _MOD if d >= _HALF else d


@dataclass(slots=True, eq=False)
class _End:
    """What one endpoint of a connection looked like in its own packets."""

    ttl: int = 0
    mac: str | None = None
    next_seq: int | None = None  # where its next byte is, as far as seen
    first_seq: int | None = None
    first_ts: float = 0.0
    last_ts: float = 0.0

    def advance(self, seq: int, ts: float) -> None:
        """``seq`` is a byte the endpoint has reached: keep the furthest (in sequence-number space)."""
        if self.next_seq is None:
            self.next_seq = self.first_seq = seq
            self.first_ts = ts
        elif 0 < (seq - self.next_seq) & _MASK < _HALF:
            self.next_seq = seq
        if ts > self.last_ts:  # noqa: PLR1730 - no call to max() on this path: one per followed segment
            self.last_ts = ts

    def rate(self) -> float:
        """Bytes per second the endpoint has sent, as far as seen."""
        if self.next_seq is None or self.first_seq is None or self.last_ts <= self.first_ts:
            return 0.0
        return max(0, _distance(self.next_seq, self.first_seq)) / (self.last_ts - self.first_ts)


@dataclass(slots=True, eq=False)
class _Flow:
    client: _End
    server: _End


class ResetInjectionDetector:
    rule = RULE

    def __init__(self, index: SiteIndex, settings: ResetInjectionSettings, book: AlertBook) -> None:
        self.settings = settings
        self.book = book
        self.quiet_period = settings.quiet_period
        self._flows: OrderedDict[tuple[str, int, str, int], _Flow] = OrderedDict()
        self._reset_flows: OrderedDict[str, set[tuple[str, int]]] = OrderedDict()  # alert key -> connections reset
        self.use_index(index)

    def use_index(self, index: SiteIndex) -> None:
        self.index = index
        self.ports = frozenset(followed_ports(index, self.settings))

    def on_packet(self, pkt: PacketData) -> None:
        if pkt.proto != "tcp":
            return
        if pkt.dst_port in self.ports:
            key = (pkt.src_ip, pkt.src_port, pkt.dst_ip, pkt.dst_port)
            from_client = True
        elif pkt.src_port in self.ports:
            key = (pkt.dst_ip, pkt.dst_port, pkt.src_ip, pkt.src_port)
            from_client = False
        else:
            return
        flags = pkt.flags
        flow = self._flows.get(key)
        if flags & RST:
            if flow is not None:
                self._judge(pkt, flow, key, from_client)
            return
        if flow is None:  # a handshake, or a connection seen first in the middle: followed from here
            if len(self._flows) >= self.settings.max_flows:
                self._flows.popitem(last=False)
            flow = self._flows[key] = _Flow(_End(), _End())
        sender, peer = (flow.client, flow.server) if from_client else (flow.server, flow.client)
        sender.ttl = pkt.ttl
        sender.mac = pkt.src_mac
        sender.advance((pkt.seq + (1 if flags & SYN else len(pkt.payload))) & _MASK, pkt.ts)
        if flags & ACK:
            peer.advance(pkt.ack, pkt.ts)  # what the peer's next byte must be

    def _mismatches(self, pkt: PacketData, end: _End) -> tuple[list[str], int]:
        """What in the reset does not match the endpoint it claims to come from, and its sequence distance."""
        assert end.next_seq is not None  # noqa: S101 - checked by the caller
        reasons: list[str] = []
        if end.mac is not None and pkt.src_mac is not None and pkt.src_mac != end.mac:
            reasons.append("mac-mismatch")
        if end.ttl and pkt.ttl != end.ttl:
            reasons.append("ttl-mismatch")
        distance = _distance(pkt.seq, end.next_seq)
        ahead = self.settings.seq_slack + 2 * end.rate() * max(0.0, pkt.ts - end.last_ts)
        if distance < -_BEHIND or distance > ahead:
            reasons.append("seq-out-of-window")
        return reasons, distance

    def _judge(self, pkt: PacketData, flow: _Flow, key: tuple[str, int, str, int], from_client: bool) -> None:
        end = flow.client if from_client else flow.server
        if end.next_seq is None:
            return  # nothing seen from that side: a closed port's answer, or the flow's first packet
        reasons, distance = self._mismatches(pkt, end)
        if not reasons:
            return
        client, client_port, server, sport = key
        state, created = self.book.open(
            RULE,
            f"{server}:{sport}|{pkt.src_mac or pkt.src_ip}",
            pkt.ts,
            severity=Severity.HIGH,
            quiet_period=self.quiet_period,
            src_mac=pkt.src_mac,
            src_ip=pkt.src_ip,
            dst_ip=server,
            dst_port=sport,
            system=self.index.system_of_server(server),
        )
        d = state.details
        if created:
            d.update(reasons=[], claimed=[], connections=0, seen_ttls=[], seq_distance=0)
            d.update(expected_ttl=end.ttl or None, expected_mac=end.mac)
            self._reset_flows.pop(state.key, None)
            if len(self._reset_flows) >= _MAX_ALERT_FLOWS:
                self._reset_flows.popitem(last=False)
            self._reset_flows[state.key] = set()
        for reason in reasons:
            if reason not in d["reasons"]:
                d["reasons"].append(reason)
        if pkt.src_ip not in d["claimed"] and len(d["claimed"]) < _MAX_LISTED:
            d["claimed"].append(pkt.src_ip)
        if pkt.ttl not in d["seen_ttls"] and len(d["seen_ttls"]) < _MAX_LISTED:
            d["seen_ttls"].append(pkt.ttl)
        if abs(distance) > abs(d["seq_distance"]):
            d["seq_distance"] = distance
        flows = self._reset_flows.setdefault(state.key, set())
        if len(flows) < 4096:
            flows.add((client, client_port))
        d["connections"] = max(d["connections"], len(flows))
        sample = ConnectionAttempt(
            pkt.ts, pkt.src_mac, pkt.dst_mac, pkt.src_ip, pkt.dst_ip, "tcp", pkt.src_port, pkt.dst_port, pkt.flags
        )
        state.add(sample, pkt.ts)
