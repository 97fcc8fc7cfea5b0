"""``zone-policy``: connections between segments that the zone policy forbids (HEASNET checksheet, or the site's table).

Every connection attempt (a SYN on the wire, an allow or deny line of a router or firewall) is placed: which segment
each end is in (the most specific network wins; an address in no segment is outside). Within one segment nothing is
judged, so on a busy LAN the cost is two dictionary look-ups per SYN. Between segments the policy's rows decide, the
first that matches (``mamori.config.zones``); the verdict is cached per (segments, protocol, port, through a proxy).

A forbidden connection is one alert per (source, pair of segments, row broken), growing while the source keeps
trying: the ports and targets it tried, what the firewall did (``actions``), whether a SYN-ACK came back
(``answered``). When more than ``max_sources`` sources break the same row between the same segments within the quiet
period (a worm, or spoofed sources), the others are gathered in one alert without a source address. Connections on a
dangerous port also go to the ``new-path`` detector (detection/paths.py), whose verdict the alert carries
(``new_path``).

Severity: high; medium when a firewall blocked every attempt; critical when a connection on a dangerous port into
the High Secure Zone was answered or allowed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import OrderedDict
from typing import NamedTuple

from mamori.config import NewPathSettings, ZonePolicySettings
from mamori.detection.book import AlertBook, AlertState
from mamori.detection.flows import FlowRollup, FlowSink
from mamori.detection.paths import NewPathDetector, PathMemory
from mamori.detection.site_index import SiteIndex
from mamori.model import (
    ACK,
    SYN,
    ZONES,
    ConnectionAttempt,
    FlowRule,
    PortResponse,
    Segment,
    Severity,
    ZonePolicy,
)

__all__ = ["EXTERNAL", "IGNORED", "RULE", "PolicyTable", "SegmentMap", "Violation", "ZoneDetector"]

RULE = "zone-policy"
EXTERNAL = -1  # an address in no segment
IGNORED = -2  # not a host's address: multicast, broadcast, loopback, link-local, unparsable
_CACHE_MAX = 65536
_LIST_CAP = 64
_RECENT_CAP = 4096  # forbidden connections waiting for their SYN-ACK
_ANSWER_WAIT = 30.0  # seconds a SYN-ACK may take (SYN retransmissions included)
_DEFAULT_DENY = FlowRule(src="any", dst="any", action="deny", ref="default", origin="custom")


class SegmentMap:
    """Which segment an address is in, by longest prefix; results cached per address text (bounded)."""

    def __init__(self, segments: tuple[Segment, ...]) -> None:
        self.segments = segments
        v4: dict[int, dict[int, int]] = {}
        v6: dict[int, dict[int, int]] = {}
        for index, segment in enumerate(segments):
            for cidr in segment.cidrs:
                net = ipaddress.ip_network(cidr, strict=False)
                table = v4 if net.version == 4 else v6
                table.setdefault(net.prefixlen, {}).setdefault(int(net.network_address), index)
        self._v4 = [(_mask(plen, 32), nets) for plen, nets in sorted(v4.items(), reverse=True)]
        self._v6 = [(_mask(plen, 128), nets) for plen, nets in sorted(v6.items(), reverse=True)]
        self.cache: dict[str, int] = {}  # address text -> segment index (or EXTERNAL, IGNORED)

    def lookup(self, ip: str) -> int:
        found = self.cache.get(ip)
        if found is None:
            found = self._find(ip)
            if len(self.cache) >= _CACHE_MAX:
                self.cache.clear()  # a spoofed storm of sources: start again rather than grow
            self.cache[ip] = found
        return found

    def _find(self, ip: str) -> int:
        try:
            if ":" in ip:
                packed = socket.inet_pton(socket.AF_INET6, ip)
                if packed[0] == 0xFF or (packed[0] == 0xFE and packed[1] & 0xC0 == 0x80):
                    return IGNORED  # multicast, link-local
                tables = self._v6
            else:
                packed = socket.inet_aton(ip)
                first = packed[0]
                if first >= 224 or first in (0, 127) or (first == 169 and packed[1] == 254):
                    return IGNORED  # multicast, broadcast, reserved, "this network", loopback, link-local
                tables = self._v4
        except OSError:
            return IGNORED
        value = int.from_bytes(packed, "big")
        if value <= 1 and len(packed) == 16:
            return IGNORED  # :: and ::1
        for mask, nets in tables:
            index = nets.get(value & mask)
            if index is not None:
                return index
        return EXTERNAL


def _mask(prefixlen: int, bits: int) -> int:
    return ((1 << bits) - 1) ^ ((1 << (bits - prefixlen)) - 1)


class Violation(NamedTuple):
    rule: FlowRule  # the row that forbids the connection
    reason: str  # forbidden | no-proxy
    proxy: FlowRule | None  # no-proxy: the row that would allow it through a proxy


class _Row(NamedTuple):
    rule: FlowRule
    src: frozenset[int] | None  # segment indexes (EXTERNAL for outside); None: any
    dst: frozenset[int] | None
    ports: frozenset[int] | None


class PolicyTable:
    """The policy's rows resolved to segment indexes; ``verdict`` is what a connection between two segments breaks."""

    def __init__(self, policy: ZonePolicy, segments: tuple[Segment, ...]) -> None:
        self.policy = policy
        self._segments = segments
        self._rows = [
            _Row(r, self._select(r.src), self._select(r.dst), frozenset(r.ports) if r.ports else None)
            for r in policy.rules
        ]
        self._deny_by_default = policy.default == "deny"
        self._cache: dict[tuple[int, int, str, int, bool], Violation | None] = {}

    def _select(self, selector: str) -> frozenset[int] | None:
        if selector == "any":
            return None
        segments = self._segments
        if selector in ZONES:
            chosen = {i for i, s in enumerate(segments) if s.zone == selector}
            if selector == "external":
                chosen.add(EXTERNAL)
            return frozenset(chosen)
        if selector.startswith("role:"):
            role = selector[5:]
            return frozenset(i for i, s in enumerate(segments) if s.role == role)
        return frozenset(i for i, s in enumerate(segments) if s.name == selector)

    def verdict(self, src: int, dst: int, proto: str, port: int, via_proxy: bool) -> Violation | None:
        key = (src, dst, proto, port, via_proxy)
        cache = self._cache
        if key in cache:
            return cache[key]
        found = self._evaluate(src, dst, proto, port, via_proxy)
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[key] = found
        return found

    def _evaluate(self, src: int, dst: int, proto: str, port: int, via_proxy: bool) -> Violation | None:
        proxy_row: FlowRule | None = None
        for row in self._rows:
            rule = row.rule
            if (
                (row.src is not None and src not in row.src)
                or (row.dst is not None and dst not in row.dst)
                or (row.ports is not None and port not in row.ports)
                or (rule.proto is not None and rule.proto != proto)
            ):
                continue
            if rule.via_proxy is not None and rule.via_proxy != via_proxy:
                if rule.action == "allow" and rule.via_proxy and proxy_row is None:
                    proxy_row = rule  # would be allowed through a proxy
                continue
            if rule.action == "allow":
                return None
            return Violation(rule, "no-proxy" if proxy_row is not None else "forbidden", proxy_row)
        if self._deny_by_default:
            return Violation(_DEFAULT_DENY, "no-proxy" if proxy_row is not None else "forbidden", proxy_row)
        return None


class ZoneDetector:
    """Places connections in segments, judges them by the zone policy, and hands those on dangerous ports to the
    ``new-path`` detector. Built by the engine only when the site has segments."""

    rule = RULE
    response_kinds = frozenset({"synack"})  # the answers on_response reads

    def __init__(
        self,
        index: SiteIndex,
        settings: ZonePolicySettings,
        path_settings: NewPathSettings,
        book: AlertBook,
        memory: PathMemory | None = None,
        hammered: set[tuple[str, int]] | None = None,
        flows: FlowSink | None = None,
    ) -> None:
        self.book = book
        self._flow_sink = flows
        self.flows: FlowRollup | None = None  # hourly counts between segments (the zone map), with a sink
        self._hammered = hammered if hammered is not None else set()  # ports under a SYN flood: the flood's
        self.settings = settings
        self.policy_enabled = settings.enabled
        self.quiet_period = settings.quiet_period
        self.paths = NewPathDetector(path_settings, book, index, memory) if path_settings.enabled else None
        # forbidden connections seen on the wire, waiting for their SYN-ACK: (client, server, port) -> (alert, time)
        self._recent: OrderedDict[tuple[str, str, int], tuple[AlertState, float]] = OrderedDict()
        self._sources: dict[tuple[str, str, str], tuple[float, set[str]]] = {}
        self.use_index(index)

    def quiet_periods(self) -> dict[str, float]:
        periods = {RULE: self.quiet_period} if self.policy_enabled else {}
        if self.paths is not None:
            periods[self.paths.rule] = self.paths.quiet_period
        return periods

    def use_index(self, index: SiteIndex) -> None:
        site = index.site
        self.index = index
        self.segments = site.segments
        self.map = SegmentMap(site.segments)
        self.lookup = self.map.lookup
        self._places = self.map.cache
        self.table = PolicyTable(site.zone_policy or ZonePolicy("custom", ()), site.segments)
        self._proxies = frozenset(p for s in site.segments for p in s.proxies)
        self._dangerous = {p.port: p.name for p in site.dangerous_ports}
        if self._flow_sink is not None:
            names = [s.name for s in site.segments]
            if self.flows is None:
                self.flows = FlowRollup(self._flow_sink, names, frozenset(self._dangerous))
            else:
                self.flows.use_segments(names, frozenset(self._dangerous))
        if self.paths is not None:
            self.paths.use_index(index)
            self._path_ids = [self.paths.segment_id(s) for s in site.segments] + [self.paths.segment_id(None)]

    # -- observations ----------------------------------------------------------------------------------------

    def on_attempt(self, obs: ConnectionAttempt) -> None:
        if obs.action is None and obs.proto == "tcp" and obs.flags & (SYN | ACK) != SYN:
            return  # on the wire only a SYN starts a connection; log lines are connections whatever their flags
        hammered = self._hammered
        if hammered and (obs.dst_ip, obs.dst_port) in hammered:
            return
        places = self._places  # the segment map's cache, read inline: this runs for every SYN
        src = places.get(obs.src_ip)
        if src is None:
            src = self.lookup(obs.src_ip)
        dst = places.get(obs.dst_ip)
        if dst is None:
            dst = self.lookup(obs.dst_ip)
        if src == dst or src == IGNORED or dst == IGNORED:  # noqa: PLR1714,SIM109 - int compares beat a tuple
            return
        proxies = self._proxies
        via_proxy = bool(proxies) and (obs.src_ip in proxies or obs.dst_ip in proxies)
        violation = self.table.verdict(src, dst, obs.proto, obs.dst_port, via_proxy) if self.policy_enabled else None
        new_path = False
        paths = self.paths
        if paths is not None and obs.dst_port in self._dangerous and obs.action != "deny":
            ids = self._path_ids
            new_path = paths.observe(
                ids[src], ids[dst], self._segment(src), self._segment(dst), obs, violation is not None
            )
        flows = self.flows
        if flows is not None:
            flows.add(src, dst, obs, violation is not None, new_path)
        if violation is not None:
            self._alert(obs, src, dst, violation, new_path)

    def on_response(self, obs: PortResponse) -> None:
        """A SYN-ACK answering a forbidden connection: it was made, not only tried."""
        recent = self._recent
        if not recent or obs.kind != "synack":
            return  # nearly always: no forbidden connection is waiting for an answer
        found = recent.pop((obs.dst_ip, obs.src_ip, obs.src_port), None)
        if found is None:
            while recent and obs.ts - next(iter(recent.values()))[1] > _ANSWER_WAIT:
                recent.popitem(last=False)  # never answered (dropped, filtered): stop waiting
            return
        state = found[0]
        if self.book.get(RULE, state.key) is not state:
            return
        if not state.details.get("answered"):
            state.details["answered"] = True
            state.dirty = True
            self._rate(state)

    def _segment(self, index: int) -> Segment | None:
        return self.segments[index] if index >= 0 else None

    # -- alerts -----------------------------------------------------------------------------------------------

    def _alert(self, obs: ConnectionAttempt, src: int, dst: int, violation: Violation, new_path: bool) -> None:
        rule = violation.rule
        src_seg, dst_seg = self._segment(src), self._segment(dst)
        src_name = src_seg.name if src_seg is not None else ""
        dst_name = dst_seg.name if dst_seg is not None else ""
        ref = rule.ref or f"{rule.src} → {rule.dst}"
        gathered = self._gathered((src_name, dst_name, f"{rule.origin}:{ref}"), obs.src_ip, obs.ts)
        state, created = self.book.open(
            RULE,
            f"src={'*' if gathered else obs.src_ip}|{src_name}>{dst_name}|{rule.origin}:{ref}",
            obs.ts,
            severity=Severity.HIGH,
            quiet_period=self.quiet_period,
            src_mac=None if gathered else self.index.source_mac(obs.src_mac),
            src_ip=None if gathered else obs.src_ip,
            dst_ip=obs.dst_ip,
            dst_port=obs.dst_port,
        )
        d = state.details
        if created:
            d.update(
                reason=violation.reason,
                policy=rule.origin,
                ref=ref,
                proxy_ref=violation.proxy.ref if violation.proxy is not None else "",
                src_segment=src_seg.name if src_seg is not None else None,
                dst_segment=dst_seg.name if dst_seg is not None else None,
                src_zone=src_seg.zone if src_seg is not None else "external",
                dst_zone=dst_seg.zone if dst_seg is not None else "external",
                proto=obs.proto,
            )
        self._count(state, obs, gathered)
        if new_path:
            d["new_path"] = True
        if obs.action is None and obs.proto == "tcp":
            if len(self._recent) >= _RECENT_CAP:
                self._recent.popitem(last=False)
            self._recent[(obs.src_ip, obs.dst_ip, obs.dst_port)] = (state, obs.ts)
        self._rate(state)

    def _count(self, state: AlertState, obs: ConnectionAttempt, gathered: bool) -> None:
        d = state.details
        lists: list[tuple[str, object]] = [("ports", obs.dst_port), ("dst_ips", obs.dst_ip)]
        name = self._dangerous.get(obs.dst_port)
        if name is not None:
            names = d.get("port_names")
            if names is None:
                names = d["port_names"] = {}
            if len(names) < _LIST_CAP:
                names.setdefault(str(obs.dst_port), name or str(obs.dst_port))
        if gathered:
            lists.append(("src_ips", obs.src_ip))
        for key, value in lists:
            values = d.get(key)
            if values is None:
                values = d[key] = []
            if len(values) < _LIST_CAP and value not in values:
                values.append(value)
        actions = d.get("actions")
        if actions is None:
            actions = d["actions"] = {}
        how = obs.action or "wire"
        actions[how] = actions.get(how, 0) + 1
        if obs.device and not d.get("device"):
            d["device"] = obs.device
        state.add(obs, obs.ts)

    def _gathered(self, pair: tuple[str, str, str], src_ip: str, ts: float) -> bool:
        """Whether this source joins the one alert of "many sources" for ``pair`` (too many have their own)."""
        entry = self._sources.get(pair)
        if entry is None or ts - entry[0] > self.quiet_period:
            if len(self._sources) >= _RECENT_CAP:
                self._sources.clear()
            entry = (ts, set())
            self._sources[pair] = entry
        sources = entry[1]
        if src_ip in sources:
            return False
        if len(sources) >= self.settings.max_sources:
            return True
        sources.add(src_ip)
        return False

    def _rate(self, state: AlertState) -> None:
        d = state.details
        actions = d.get("actions") or {}
        seen = sum(actions.values())
        made = bool(d.get("answered")) or actions.get("allow", 0) > 0
        if made and d.get("dst_zone") == "hsz" and d.get("port_names"):
            state.severity = Severity.CRITICAL
        elif seen and actions.get("deny", 0) == seen:
            state.severity = Severity.MEDIUM
        else:
            state.severity = Severity.HIGH

    def finish(self) -> None:
        if self.paths is not None:
            self.paths.flush()
        if self.flows is not None:
            self.flows.flush()

    def tick(self, now: float) -> None:
        """Once a second in a live sensor: hand the paths learned and the flows counted to the store."""
        if self.paths is not None:
            self.paths.flush()
        if self.flows is not None:
            self.flows.flush()
