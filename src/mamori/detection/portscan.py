"""``port-scan``: one source probing many ports of a host (vertical) or one port on many hosts (horizontal).

Probes are classified by what was sent: ``syn`` (a raw SYN: 20-24 byte header, as nmap -sS, masscan, hping3 send),
``connect`` (an operating system's connect(): SYN with full options, nmap -sT), ``fin``, ``null``, ``xmas``, ``ack``
(raw pure ACK, nmap -sA) and ``udp`` (empty datagrams, or ICMP port-unreachable answers naming the probe).
No reply is needed: a firewalled or silent target is still counted (unlike Snort's sfPortscan).

A scanner that goes over the same ports again with another technique (nmap -sS, then -sF, -sN, -sX, -sA) is one
alert that names every technique: ``scan_types`` counts, per technique, the distinct ports (or hosts) it was used
on. The stealth techniques (FIN, NULL, Xmas, ACK and other crafted flag mixes without SYN, which no TCP stack sends
to open a connection and which are meant to slip past filters) raise the severity by one level.

The default thresholds (20 distinct ports or hosts within 300 s) catch nmap's default 1,000-port scan at every
timing template from -T2 (one probe per 0.4 s: 20 ports in 8 s) to -T5, and even -T1 (one probe per 15 s).
State is bounded: at most ``max_tracked`` (source, target) pairs and (source, port) fans, evicted oldest first.
"""

from __future__ import annotations

from collections import Counter, OrderedDict

from mamori.config import PortScanSettings
from mamori.detection.book import AlertBook, AlertState
from mamori.detection.site_index import SiteIndex
from mamori.model import ACK, FIN, PSH, SYN, URG, ConnectionAttempt, PortResponse, Severity

__all__ = ["RULE", "SCAN_TYPES", "PortScanDetector", "probe_kind"]

RULE = "port-scan"
SCAN_TYPES = ("syn", "connect", "fin", "null", "xmas", "ack", "udp")
_STEALTH = frozenset({"fin", "null", "xmas", "ack", "other"})
_KIND_BITS = {kind: 1 << i for i, kind in enumerate((*SCAN_TYPES, "other"))}
_RAW_SYN_MAX_HEADER = 24
_MAX_ITEMS = 65536  # ports or hosts remembered per (source, target): all TCP ports, a /16 of hosts


def probe_kind(obs: ConnectionAttempt) -> str:
    if obs.proto == "udp":
        return "udp"
    flags = obs.flags & 0x3F
    if flags & SYN:
        return "syn" if obs.tcp_header_len <= _RAW_SYN_MAX_HEADER else "connect"
    if flags == 0:
        return "null"
    if flags == FIN:
        return "fin"
    if flags == FIN | PSH | URG:
        return "xmas"
    if flags == ACK:
        return "ack"
    return "other"


class _Spread:
    """What one source touched on one target (ports) or on one port (hosts), with last-seen times.

    Most pairs only ever see one port (a terminal using its application), so a new spread allocates one dict; the
    kinds, the techniques seen per item and the samples are only built once a second distinct item arrives.
    """

    __slots__ = ("alerted", "first", "first_item", "items", "kinds", "probes", "samples", "techniques")

    def __init__(self, item: object, obs: ConnectionAttempt) -> None:
        self.items: dict[object, float] = {item: obs.ts}
        self.probes = 1
        self.first = obs
        self.first_item = item
        self.kinds: dict[str, int] | None = None
        self.techniques: dict[object, int] | None = None  # item -> bits of the kinds of probe it received
        self.samples: list[ConnectionAttempt] | None = None
        self.alerted = False

    def start_kinds(self) -> dict[str, int]:
        """From the second distinct item on: count the kinds of probe, remember which each item received."""
        kind = probe_kind(self.first)
        self.kinds = {kind: 1}
        self.techniques = {self.first_item: _KIND_BITS[kind]}
        self.samples = [self.first]
        return self.kinds

    def technique(self, item: object, obs: ConnectionAttempt) -> str | None:
        """The kind of ``obs`` if ``item`` has not received that kind of probe before (else None)."""
        techniques = self.techniques
        kinds = self.kinds
        if techniques is None or kinds is None:
            return None
        kind = probe_kind(obs)
        bit = _KIND_BITS[kind]
        seen = techniques.get(item, 0)
        if seen & bit:
            return None
        techniques[item] = seen | bit
        kinds[kind] = kinds.get(kind, 0) + 1
        return kind

    def forget(self, item: object) -> None:
        del self.items[item]
        if self.techniques is not None:
            self.techniques.pop(item, None)


_Table = OrderedDict[tuple[object, ...], _Spread]


def _scan_type(kinds: Counter[str]) -> str:
    """The technique used on the most ports (or hosts); on a tie, the one used first."""
    named = [(n, k) for k, n in kinds.items() if k in SCAN_TYPES]
    if not named:
        return "xmas" if kinds else "syn"  # odd flag mixes without SYN/ACK: the "lit-up" family
    return max(named, key=lambda pair: pair[0])[1]


class PortScanDetector:
    rule = RULE
    response_kinds = frozenset({"unreachable"})  # the answers on_response reads

    def __init__(
        self,
        index: SiteIndex,
        settings: PortScanSettings,
        book: AlertBook,
        hammered: set[tuple[str, int]] | None = None,
    ) -> None:
        self.index = index
        self.settings = settings
        self.book = book
        # (server, port) pairs under a SYN flood (the flood detector fills it): their SYNs are the flood's, and
        # tracking each forged source as a possible scanner would cost time and memory exactly when the sensor needs
        # them. Scans of other ports are still seen.
        self._hammered = hammered if hammered is not None else set()
        self.window = settings.window
        self.quiet_period = settings.window
        self._exempt = frozenset(settings.exempt_sources)
        self._vertical = settings.vertical_ports
        self._horizontal = settings.horizontal_hosts
        self._pairs: _Table = OrderedDict()  # (src, dst) -> ports
        self._fans: _Table = OrderedDict()  # (src, proto, port) -> hosts
        self.evicted = 0

    # -- observations ----------------------------------------------------------------------------------------

    def use_index(self, index: SiteIndex) -> None:
        self.index = index

    def on_attempt(self, obs: ConnectionAttempt) -> None:
        src, dst, port = obs.src_ip, obs.dst_ip, obs.dst_port
        if src in self._exempt:
            return
        hammered = self._hammered
        if hammered and (dst, port) in hammered:
            return
        # Most attempts are a terminal opening its application again: one port of one server, seen before. That
        # case is settled here; anything else goes through _touch.
        key: tuple[object, ...] = (src, dst)
        spread = self._pairs.get(key)
        if spread is not None and spread.kinds is None and spread.first_item == port and not spread.alerted:
            spread.items[port] = obs.ts
            spread.probes += 1
        else:
            self._touch(self._pairs, key, port, obs, "vertical")
        key = (src, obs.proto, port)
        spread = self._fans.get(key)
        if spread is not None and spread.kinds is None and spread.first_item == dst and not spread.alerted:
            spread.items[dst] = obs.ts
            spread.probes += 1
        else:
            self._touch(self._fans, key, dst, obs, "horizontal")

    def on_response(self, obs: PortResponse) -> None:
        """An ICMP port unreachable names a UDP probe that may have carried a payload (and so passed the filter
        unseen). Answers to well-known source ports are ordinary late replies (DNS, NTP), not probes."""
        if obs.kind != "unreachable" or obs.dst_port < 1024:
            return
        prober, target, port = obs.dst_ip, obs.src_ip, obs.src_port
        if prober in self._exempt:
            return
        pair = self._pairs.get((prober, target))
        if pair is not None and port in pair.items:
            return  # the probe itself was seen and counted
        probe = ConnectionAttempt(obs.ts, None, obs.src_mac, prober, target, "udp", obs.dst_port, port, 0, 0, obs.vlan)
        self.on_attempt(probe)

    # -- state ------------------------------------------------------------------------------------------------

    def _touch(
        self, table: _Table, key: tuple[object, ...], item: object, obs: ConnectionAttempt, direction: str
    ) -> None:
        spread = table.get(key)
        if spread is None:
            if len(table) >= self.settings.max_tracked:
                table.popitem(last=False)  # the oldest entry: O(1), so a spoofed flood cannot stall us
                self.evicted += 1
            table[key] = _Spread(item, obs)
            return  # one port or host: nothing to decide yet
        items = spread.items
        known = item in items
        new_item = not known and len(items) < _MAX_ITEMS  # a sweep of more is described by the first 65,536
        if known or new_item:
            items[item] = obs.ts
        spread.probes += 1
        if spread.kinds is None:
            if not new_item:
                if spread.alerted:
                    self._extend(direction, obs, item, False, None)
                return  # the same port (or host) again: ordinary repeated connections end here
            spread.start_kinds()
        # A new item, or a known one probed with a technique it had not received yet: both name the scan types.
        kind = spread.technique(item, obs) if known or new_item else None
        if spread.alerted:
            self._extend(direction, obs, item, new_item, kind)
            return
        if not new_item:
            return
        samples = spread.samples
        if samples is not None and len(samples) < 5:
            samples.append(obs)
        threshold = self._vertical if direction == "vertical" else self._horizontal
        if len(items) >= threshold:
            horizon = obs.ts - self.window
            for stale in [i for i, seen in items.items() if seen < horizon]:
                spread.forget(stale)
            if len(items) >= threshold:
                self._raise(direction, obs, spread)

    def _raise(self, direction: str, obs: ConnectionAttempt, spread: _Spread) -> None:
        spread.alerted = True
        first_ts = min(spread.items.values())
        state, created = self.book.open(
            RULE,
            f"{direction}|src={obs.src_ip}",
            first_ts,
            severity=Severity.MEDIUM,
            quiet_period=self.quiet_period,
            src_mac=self.index.source_mac(obs.src_mac),
            src_ip=obs.src_ip,
            dst_ip=obs.dst_ip if direction == "vertical" else None,
            dst_port=obs.dst_port if direction == "horizontal" else None,
        )
        d = state.details
        if created:
            d.update(direction=direction, scan_type="syn", proto=obs.proto)
        # Fresh, or restored from the store after a restart (where these came back as lists and a plain dict).
        d["ports"] = set(d.get("ports", ()))
        d["hosts"] = set(d.get("hosts", ()))
        d["scan_types"] = Counter(d.get("scan_types", {}))
        if direction == "vertical":
            d["ports"].update(p for p in spread.items if isinstance(p, int))
            d["hosts"].add(obs.dst_ip)
        else:
            d["hosts"].update(h for h in spread.items if isinstance(h, str))
            d["ports"].add(obs.dst_port)
        d["scan_types"].update(spread.kinds or spread.start_kinds())
        d["scan_type"] = _scan_type(d["scan_types"])
        samples = spread.samples or [spread.first]
        for sample in samples:
            state.add(sample, sample.ts, 0)
        if samples[-1] is not obs:
            state.add(obs, obs.ts, 0)
        state.count += spread.probes  # every probe to this target so far, the current one included
        state.first_seen = min(state.first_seen, first_ts)
        self._classify(state, obs)

    def _extend(self, direction: str, obs: ConnectionAttempt, item: object, new_item: bool, kind: str | None) -> None:
        """One more probe of an alerted scan: a new item, a technique new for its item (``kind``), or neither."""
        state = self.book.get(RULE, f"{direction}|src={obs.src_ip}")
        if state is None or obs.ts - state.last_seen > self.quiet_period:
            # The episode ended (or was evicted): start counting afresh for this source.
            table = self._pairs if direction == "vertical" else self._fans
            key: tuple[object, ...] = (
                (obs.src_ip, obs.dst_ip) if direction == "vertical" else (obs.src_ip, obs.proto, obs.dst_port)
            )
            table.pop(key, None)
            self._touch(table, key, item, obs, direction)
            return
        d = state.details
        if new_item:
            if direction == "vertical":
                d["ports"].add(obs.dst_port)
            else:
                d["hosts"].add(obs.dst_ip)
        if kind is not None:
            scan_types: Counter[str] = d["scan_types"]
            new_technique = kind not in scan_types
            scan_types[kind] += 1
            if kind != d["scan_type"] and scan_types[kind] > scan_types[d["scan_type"]]:
                d["scan_type"] = _scan_type(scan_types)
            if new_technique:
                self._rate(state)
        state.add(obs, obs.ts)
        if state.system is None:
            self._classify(state, obs)

    def _classify(self, state: AlertState, obs: ConnectionAttempt) -> None:
        system = self.index.system_of_server(obs.dst_ip)
        if system is not None:
            state.system = system
        self._rate(state)

    @staticmethod
    def _rate(state: AlertState) -> None:
        """Medium; high when a department server is among the targets; one level higher with a stealth technique."""
        severity = Severity.HIGH if state.system is not None else Severity.MEDIUM
        if not _STEALTH.isdisjoint(state.details.get("scan_types", ())):
            severity = Severity(severity + 10)
        state.severity = severity
