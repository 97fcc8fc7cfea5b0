"""``rogue-dhcp`` and ``rogue-ra``: a DHCP server or an IPv6 router that is not the segment's (threat T6 of the
HEASNET report: the network's structure broken).

Both judge only segments that list their servers (``dhcp_servers``, ``routers_v6``; an empty list: none expected),
so a site that says nothing is never alerted. Entries are addresses or MACs: a sender is registered when its source
address is an address entry (a DHCP relay agent is listed like a server; the server identifier option is not
trusted, a rogue can copy it) and, if the list has MACs, its MAC is one of them; or, with only MACs listed, when its
MAC is. DHCP answers and router advertisements are few (a handful per terminal per hour), so each is parsed in
full; the state is one alert per sender.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from mamori.config import RogueDhcpSettings, RogueRaSettings
from mamori.detection.book import AlertBook
from mamori.detection.site_index import SiteIndex
from mamori.model import ConnectionAttempt, PacketData, Segment, Severity

__all__ = ["RogueDhcpDetector", "RogueRaDetector", "parse_dhcp", "parse_router_advert"]

_DHCP_MAGIC = b"\x63\x82\x53\x63"
_DHCP_FIXED = 236
_DHCP_TYPES = {2: "offer", 5: "ack", 6: "nak"}
_MAX_LISTED = 20
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip4(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def parse_dhcp(payload: bytes) -> dict[str, object] | None:
    """A DHCP server's answer (RFC 2131, 2132): message type, offered address, relay, server id, routers, DNS."""
    if len(payload) < _DHCP_FIXED + 4 or payload[0] != 2 or payload[_DHCP_FIXED : _DHCP_FIXED + 4] != _DHCP_MAGIC:
        return None
    out: dict[str, object] = {"yiaddr": _ip4(payload[16:20]), "giaddr": _ip4(payload[24:28])}
    i = _DHCP_FIXED + 4
    while i < len(payload):
        code = payload[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= len(payload):
            break
        length = payload[i + 1]
        value = payload[i + 2 : i + 2 + length]
        i += 2 + length
        if code == 53 and length == 1:
            out["type"] = _DHCP_TYPES.get(value[0])
        elif code == 54 and length == 4:
            out["server_id"] = _ip4(value)
        elif code in (3, 6) and length % 4 == 0:
            out["routers" if code == 3 else "dns"] = [_ip4(value[j : j + 4]) for j in range(0, length, 4)]
    return out if out.get("type") else None


def parse_router_advert(payload: bytes) -> dict[str, object] | None:
    """An ICMPv6 router advertisement (RFC 4861 4.2): router lifetime, prefixes, the sender's link-layer address."""
    if len(payload) < 16 or payload[0] != 134 or payload[1] != 0:
        return None
    out: dict[str, object] = {"lifetime": int.from_bytes(payload[6:8], "big"), "prefixes": []}
    i = 16
    prefixes: list[str] = []
    while i + 2 <= len(payload):
        kind, units = payload[i], payload[i + 1]
        if units == 0:
            break
        option = payload[i : i + units * 8]
        if kind == 1 and len(option) >= 8:
            out["mac"] = option[2:8].hex(":")
        elif kind == 3 and len(option) >= 32:
            length = min(option[2], 128)
            prefix = ipaddress.IPv6Network((bytes(option[16:32]), length), strict=False)
            prefixes.append(str(prefix))
        i += units * 8
    out["prefixes"] = prefixes
    return out


def _registered(entries: Sequence[str], ips: Sequence[str | None], mac: str | None) -> bool:
    macs = [e for e in entries if ":" in e and len(e) == 17 and "." not in e and e.count(":") == 5]
    addresses = [e for e in entries if e not in macs]
    if addresses:
        if not any(ip in addresses for ip in ips if ip):
            return False
        return not macs or mac in macs
    return bool(macs) and mac in macs


class _Segments:
    """Segments placed by address, for the few packets these rules read."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        self.nets: list[tuple[_Net, Segment]] = sorted(
            ((ipaddress.ip_network(c, strict=False), s) for s in segments for c in s.cidrs),
            key=lambda item: -item[0].prefixlen,
        )

    def of(self, address: str) -> Segment | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        for net, segment in self.nets:
            if ip.version == net.version and ip in net:
                return segment
        return None


def _header(pkt: PacketData) -> ConnectionAttempt:
    """The evidence sample: the packet's header only."""
    return ConnectionAttempt(
        pkt.ts, pkt.src_mac, pkt.dst_mac, pkt.src_ip, pkt.dst_ip, pkt.proto, pkt.src_port, pkt.dst_port, 0
    )


def _add_listed(items: list[str], values: Sequence[str]) -> None:
    for value in values:
        if value not in items and len(items) < _MAX_LISTED:
            items.append(value)


class RogueDhcpDetector:
    rule = "rogue-dhcp"

    def __init__(self, index: SiteIndex, settings: RogueDhcpSettings, book: AlertBook) -> None:
        self.settings = settings
        self.book = book
        self.quiet_period = settings.quiet_period
        self.use_index(index)

    def use_index(self, index: SiteIndex) -> None:
        self.index = index
        self._segments = _Segments(index.site.segments)

    def on_packet(self, pkt: PacketData) -> None:
        if pkt.proto != "udp" or pkt.src_port != 67:
            return
        msg = parse_dhcp(pkt.payload)
        if msg is None:
            return
        yiaddr, giaddr = str(msg["yiaddr"]), str(msg["giaddr"])
        place = yiaddr if yiaddr != "0.0.0.0" else giaddr if giaddr != "0.0.0.0" else pkt.src_ip  # noqa: S104
        segment = self._segments.of(place)
        if segment is None or segment.dhcp_servers is None:
            return
        # By the packet's own source: a rogue server can name the registered one as its server identifier. A relay
        # agent's answers come from the relay, which is listed like a server.
        if _registered(segment.dhcp_servers, [pkt.src_ip], pkt.src_mac):
            return
        state, created = self.book.open(
            self.rule,
            f"{segment.name}|{pkt.src_mac or pkt.src_ip}",
            pkt.ts,
            severity=Severity.HIGH,
            quiet_period=self.quiet_period,
            src_mac=pkt.src_mac,
            src_ip=pkt.src_ip,
        )
        d = state.details
        if created:
            d.update(segment=segment.name, registered=list(segment.dhcp_servers), offered=[], gateways=[])
            d.update(dns_servers=[], messages={})
        kind = str(msg["type"])
        d["messages"][kind] = d["messages"].get(kind, 0) + 1
        if yiaddr != "0.0.0.0":  # noqa: S104
            _add_listed(d["offered"], [yiaddr])
        _add_listed(d["gateways"], msg.get("routers", []))  # type: ignore[arg-type]
        _add_listed(d["dns_servers"], msg.get("dns", []))  # type: ignore[arg-type]
        state.add(_header(pkt), pkt.ts)


class RogueRaDetector:
    rule = "rogue-ra"

    def __init__(self, index: SiteIndex, settings: RogueRaSettings, book: AlertBook) -> None:
        self.settings = settings
        self.book = book
        self.quiet_period = settings.quiet_period
        self.use_index(index)

    def use_index(self, index: SiteIndex) -> None:
        self.index = index
        self._segments = _Segments(index.site.segments)
        self._judged = [s for s in index.site.segments if s.routers_v6 is not None]

    def on_packet(self, pkt: PacketData) -> None:
        if pkt.proto != "icmp6" or not self._judged:
            return
        ra = parse_router_advert(pkt.payload)
        if ra is None:
            return
        prefixes: list[str] = ra["prefixes"]  # type: ignore[assignment]
        segment = None
        for prefix in prefixes:
            segment = self._segments.of(prefix.split("/")[0])
            if segment is not None and segment.routers_v6 is not None:
                break
            segment = None
        if segment is None and len(self._judged) == 1:
            segment = self._judged[0]  # the only segment that says which routers it expects
        segments = [segment] if segment is not None else self._judged
        expected = [r for s in segments for r in (s.routers_v6 or ())]
        mac = pkt.src_mac or (ra.get("mac") if isinstance(ra.get("mac"), str) else None)
        if expected and _registered(expected, [pkt.src_ip], mac):  # type: ignore[arg-type]
            return
        state, created = self.book.open(
            self.rule,
            f"{pkt.src_mac or pkt.src_ip}",
            pkt.ts,
            severity=Severity.HIGH,
            quiet_period=self.quiet_period,
            src_mac=pkt.src_mac,
            src_ip=pkt.src_ip,
        )
        d = state.details
        if created:
            d.update(
                reason="unregistered-router" if expected else "none-expected",
                segment=segment.name if segment is not None else None,
                registered=expected,
                prefixes=[],
            )
        d["router_lifetime"] = ra["lifetime"]
        _add_listed(d["prefixes"], prefixes)
        state.add(_header(pkt), pkt.ts)
