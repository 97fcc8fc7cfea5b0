"""Turn raw frames into observations by slicing fixed offsets (docs/design.md §2, §4.7).

The kernel (or libpcap, for files) has already filtered the stream down to what the detectors need, see
:mod:`mamori.capture.bpf`; this decoder applies the same classification again so that it is correct on any input.
A frame that is too short or inconsistent is counted as malformed with its reason and skipped; it never raises.

Batches (:meth:`Decoder.decode_batch`) read the common frame (Ethernet + IPv4 without options + TCP) with one
``unpack_from`` of the combined layout and classify it in the loop itself; everything else (802.1Q tags, IPv6, UDP,
ICMP, ARP, Linux cooked and raw-IP captures, damaged headers) takes the general path, :meth:`Decoder.decode`.

A :class:`PayloadWatch` asks for packets whose contents a detector reads (logins in clear text, DHCP, router
advertisements, the TCP segments of followed flows): those frames leave the fast path for the general one, which
adds a :class:`~mamori.model.PacketData` beside the header observation. Without a watch the fast path is unchanged
but for one test of a local variable per frame (docs/design.md §10, "LAN threats", measured).
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from struct import Struct, unpack_from
from typing import Any

from mamori.capture.headers import (
    ARP,
    ETH,
    ETH_IPV4_TCP,
    ETH_IPV4_TCP_PROBE,
    ETHERTYPE,
    ICMP,
    ICMPTYPE,
    IPV4,
    IPV4_FRAG_OFFSET_MASK,
    IPV6,
    IPV6_EXTENSION_HEADERS,
    IPV6_FRAGMENT_HEADER,
    LINKTYPE,
    PROTO,
    SLL,
    SLL2,
    TCP,
    UDP,
    VLAN,
    VLAN_VID_MASK,
)
from mamori.model import ACK, RST, SYN, ArpObservation, ConnectionAttempt, PacketData, PortResponse

__all__ = ["NMAP_ACK_WINDOWS", "Decoder", "Observation", "PayloadWatch", "UnsupportedLinkType"]

Observation = ConnectionAttempt | PortResponse | ArpObservation | PacketData

_ICMP6_ROUTER_ADVERT = 134


@dataclass(frozen=True)
class PayloadWatch:
    """The packets whose contents are handed to detectors as :class:`~mamori.model.PacketData`.

    ``tcp_ports``: TCP segments with a payload to or from these ports (logins in clear text). ``flow_ports``: every
    TCP segment to or from these ports that passed the filter but the handshake's, with or without payload
    (reset injection: sampled segments, resets; a SYN flood's SYNs and SYN-ACKs would only churn its table).
    ``udp_ports``: UDP datagrams to or from these ports (SNMP, DHCP). ``router_adverts``: ICMPv6 router
    advertisements. ``max_payload``: bytes of payload kept per packet.
    """

    tcp_ports: frozenset[int] = frozenset()
    flow_ports: frozenset[int] = frozenset()
    udp_ports: frozenset[int] = frozenset()
    router_adverts: bool = False
    max_payload: int = 512

    @property
    def active(self) -> bool:
        return bool(self.tcp_ports or self.flow_ports or self.udp_ports or self.router_adverts)


# Raw-socket ACK probes (nmap -sA) carry one of these windows and no options; ordinary pure ACKs rarely do.
NMAP_ACK_WINDOWS = frozenset({1024, 2048, 3072, 4096})

_SUPPORTED_LINKTYPES = frozenset(
    {
        LINKTYPE.EN10MB,
        LINKTYPE.LINUX_SLL,
        LINKTYPE.LINUX_SLL2,
        LINKTYPE.RAW,
        LINKTYPE.RAW_FILE,
        LINKTYPE.RAW_IPV4,
        LINKTYPE.RAW_IPV6,
    }
)

# Offsets and sizes bound once from the declared tables (module constants are cheaper to read than attributes).
_FAST = ETH_IPV4_TCP_PROBE.struct.unpack_from
_FAST_LEN = ETH_IPV4_TCP_PROBE.size
# What a watched frame adds on the fast path: IPv4 total length and TTL, TCP sequence and acknowledgement numbers.
_WATCHED = ETH_IPV4_TCP.keeping("total_len", "ttl", "seq", "ack", "flags").struct.unpack_from
_ETH_IPV4 = ETH.size + IPV4.size
_ETH_LEN = ETH.size
_ETH_TYPE = ETH.offset["type"]
_VLAN_LEN = VLAN.size
_VLAN_TAGS = ETHERTYPE.VLAN_TAGS
_IPV4_MIN = IPV4.size
_IPV6_LEN = IPV6.size
_TCP_MIN = TCP.size
_TCP_WINDOW = TCP.offset["window"]
_UDP_LEN = UDP.size
_ICMP_QUOTED = ICMP.size
_ARP_LEN = ARP.size

_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_new = tuple.__new__
_ATTEMPT = ConnectionAttempt
_RESPONSE = PortResponse
_FRAG = IPV4_FRAG_OFFSET_MASK
_SYN_ACK = SYN | ACK
_SYN_RST = SYN | RST
_SYN_RST_ACK = SYN | RST | ACK
_CACHE_MAX = 65536
_PACKED = Struct("=IIII")  # (sec, usec, offset, caplen) as libpcap's batches give them
_WIDE = Struct("=IIQI")  # the same from the pcap walker (offsets into files above 4 GB)
_NAMES = ("tcp", "synack", "rstack", "rst")  # the strings the compiled loop puts in observations


def _compiled_decoder() -> Any:
    """The compiled loop of :meth:`Decoder.decode_packed`, or None where it was not built (no C compiler)."""
    try:
        from mamori.capture import _pcapwalk  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _pcapwalk


_compiled = _compiled_decoder()


class UnsupportedLinkType(ValueError):
    pass


class Decoder:
    """Decodes frames of one link type. Not thread-safe: one decoder per packet source."""

    __slots__ = (
        "_extra",
        "_ip_pairs",
        "_ips",
        "_link",
        "_mac_pairs",
        "_macs",
        "_watch",
        "_watch_tcp",
        "decoded",
        "ignored",
        "malformed",
        "problems",
    )

    def __init__(self, linktype: int, watch: PayloadWatch | None = None) -> None:
        if linktype not in _SUPPORTED_LINKTYPES:
            raise UnsupportedLinkType(
                f"link-layer type {linktype} is not supported (Ethernet, Linux cooked capture and raw IP are)"
            )
        self._link = linktype
        self._macs: dict[bytes, str] = {}
        self._ips: dict[bytes, str] = {}
        self._mac_pairs: dict[bytes, tuple[str, str]] = {}  # the two MACs of a frame, read as one 12-byte field
        self._ip_pairs: dict[bytes, tuple[str, str]] = {}  # the two IPv4 addresses, read as one 8-byte field
        self.decoded = 0
        self.ignored = 0
        self.malformed = 0
        self.problems: Counter[str] = Counter()
        self._watch = watch if watch is not None and watch.active else None
        # TCP ports whose frames leave the fast path (their contents are read); None: no frame does.
        self._watch_tcp = (watch.tcp_ports | watch.flow_ports) or None if watch is not None and watch.active else None
        self._extra: list[PacketData] = []  # what the general path found beside its observation

    def _bad(self, reason: str) -> None:
        self.malformed += 1
        self.problems[reason] += 1

    # Addresses are turned into text once each and then looked up: per address, and per pair of addresses as a
    # frame carries them (a LAN has few pairs: terminal and server). Bounded caches: once full they stop growing
    # and keep what was seen first (the LAN's own hosts), so a spoofed-source flood costs a formatting per packet
    # instead of churning the cache.

    def _mac(self, raw: bytes) -> str:
        text = self._macs.get(raw)
        if text is None:
            text = raw.hex(":")
            if len(self._macs) < _CACHE_MAX:
                self._macs[raw] = text
        return text

    def _ip(self, raw: bytes) -> str:
        text = self._ips.get(raw)
        if text is None:
            text = _ntop(_AF_INET6 if len(raw) == 16 else _AF_INET, raw)
            if len(self._ips) < _CACHE_MAX:
                self._ips[raw] = text
        return text

    def _mac_pair(self, raw: bytes) -> tuple[str, str]:
        """Destination and source MAC of an Ethernet header's first 12 bytes, as text."""
        pair = (self._mac(raw[:6]), self._mac(raw[6:]))
        if len(self._mac_pairs) < _CACHE_MAX:
            self._mac_pairs[raw] = pair
        return pair

    def _ip_pair(self, raw: bytes) -> tuple[str, str]:
        """Source and destination of an IPv4 header's address bytes, as text."""
        pair = (self._ip(raw[:4]), self._ip(raw[4:]))
        if len(self._ip_pairs) < _CACHE_MAX:
            self._ip_pairs[raw] = pair
        return pair

    def decode(self, buf: bytes, off: int, caplen: int, ts: float) -> Observation | None:
        """Decode the frame ``buf[off:off+caplen]``; None if it carries nothing a detector needs or is malformed.

        The reference path for every link type and header; :meth:`decode_batch` gives the same result faster.
        A watched packet's :class:`~mamori.model.PacketData` is not returned here: see :meth:`decode_all`."""
        obs = self._general(buf, off, caplen, ts)
        self._extra.clear()
        return obs

    def decode_all(self, buf: bytes, off: int, caplen: int, ts: float) -> list[Observation]:
        """Every observation the frame makes: the header one and, for a watched packet, its contents."""
        obs = self._general(buf, off, caplen, ts)
        out: list[Observation] = [] if obs is None else [obs]
        out.extend(self._extra)
        self._extra.clear()
        return out

    def decode_batch(self, buf: bytes, records: Iterable[tuple[int, int, int, int]]) -> tuple[list[Observation], float]:
        """Decode a batch: ``records`` are (seconds, microseconds, offset, captured length) of the frames in
        ``buf``. Returns the observations and the time of the last frame (0.0 if none).

        The common frame (Ethernet, IPv4 without options, TCP) is classified right here, in the loop, with one
        ``unpack_from`` of the fields it needs and no function call; anything else takes :meth:`decode`.
        """
        out: list[Observation] = []
        append = out.append
        general = self._general
        fast = _FAST if self._link == LINKTYPE.EN10MB else None
        mac_pairs, ip_pairs, macs_of, ips_of = self._mac_pairs, self._ip_pairs, self._mac_pair, self._ip_pair
        watched = self._watch_tcp
        extra = self._extra
        decoded = ignored = 0
        ts = 0.0
        for sec, usec, off, caplen in records:
            ts = sec + usec * 1e-6
            if fast is not None and caplen >= _FAST_LEN:
                mac12, etype, ver_ihl, frag, proto, ip8, sport, dport, doff, flags, win = fast(buf, off)
                if etype == 0x0800 and ver_ihl == 0x45 and proto == 6 and not frag & _FRAG and doff >= 0x50:
                    dst, src = mac_pairs.get(mac12) or macs_of(mac12)
                    saddr, daddr = ip_pairs.get(ip8) or ips_of(ip8)
                    data = None
                    if watched is not None and (sport in watched or dport in watched):
                        data = self._fast_data(buf, off, caplen, ts, (src, dst, saddr, daddr), sport, dport, doff)
                    if (
                        flags & _SYN_ACK == SYN  # a connection attempt
                        or not flags & _SYN_RST_ACK  # FIN, NULL, Xmas and other probes no connection sends
                        or (flags & 0x3F == ACK and doff >> 4 == 5 and win in NMAP_ACK_WINDOWS)  # nmap -sA
                    ):
                        n = (doff >> 4) * 4  # the TCP header length
                        fields = (ts, src, dst, saddr, daddr, "tcp", sport, dport, flags, n, None, None, None, None)
                        append(_new(_ATTEMPT, fields))
                    elif flags & _SYN_RST:  # SYN-ACK, or RST with or without ACK
                        kind = "synack" if flags & SYN else "rstack" if flags & ACK else "rst"
                        append(_new(_RESPONSE, (ts, kind, "tcp", src, saddr, sport, daddr, dport, None)))
                    else:
                        ignored += 1
                        if data is not None:
                            append(data)
                        continue
                    decoded += 1
                    if data is not None:
                        append(data)
                    continue
            obs = general(buf, off, caplen, ts)  # anything else, or a bad TCP header length to report
            if obs is not None:
                append(obs)
            if extra:
                out.extend(extra)
                extra.clear()
        self.decoded += decoded
        self.ignored += ignored
        return out, ts

    def decode_packed(self, buf: Any, records: bytes, wide: bool = False) -> tuple[list[Observation], float]:
        """:meth:`decode_batch` over packed records: (seconds, microseconds, offset, captured length) as struct
        ``=IIII`` (libpcap's batches) or ``=IIQI`` when ``wide`` (the pcap walker's). Ethernet captures take the
        compiled loop where it is built (``mamori.capture._pcapwalk.decode``: the same fast path, the same
        observations, a watched frame's contents read as :meth:`_fast_data` reads them; any other record comes back
        to :meth:`decode_batch`); otherwise this is decode_batch."""
        layout = _WIDE if wide else _PACKED
        if _compiled is None or self._link != LINKTYPE.EN10MB:
            return self.decode_batch(buf, layout.iter_unpack(records))
        out: list[Observation] = []
        extend = out.extend
        decode_batch = self.decode_batch
        watch = self._watch

        def other(sec: int, usec: int, off: int, caplen: int) -> None:
            extend(decode_batch(buf, ((sec, usec, off, caplen),))[0])

        decoded, ignored, ts = _compiled.decode(
            buf,
            records,
            wide,
            out,
            self._mac_pairs,
            self._ip_pairs,
            self._mac_pair,
            self._ip_pair,
            self._watch_tcp,
            (watch.tcp_ports, watch.flow_ports, watch.max_payload) if watch is not None else None,
            other,
            ConnectionAttempt,
            PortResponse,
            PacketData,
            _NAMES,
        )
        self.decoded += decoded
        self.ignored += ignored
        return out, ts

    def _tcp_flags(
        self,
        ts: float,
        src_mac: str | None,
        dst_mac: str | None,
        src_ip: str,
        dst_ip: str,
        sport: int,
        dport: int,
        flags: int,
        doff: int,
        window: int,
        vlan: int | None,
    ) -> Observation | None:
        hlen = (doff >> 4) * 4
        if hlen < _TCP_MIN:
            self._bad("TCP header length below 20")
            return None
        if flags & SYN:
            self.decoded += 1
            if flags & ACK:
                return _new(PortResponse, (ts, "synack", "tcp", src_mac, src_ip, sport, dst_ip, dport, vlan))
            return _new(
                ConnectionAttempt,
                (ts, src_mac, dst_mac, src_ip, dst_ip, "tcp", sport, dport, flags, hlen, vlan, None, None, None),
            )
        if flags & RST:
            self.decoded += 1
            kind = "rstack" if flags & ACK else "rst"
            return _new(PortResponse, (ts, kind, "tcp", src_mac, src_ip, sport, dst_ip, dport, vlan))
        if not flags & ACK or (flags & 0x3F == ACK and hlen == _TCP_MIN and window in NMAP_ACK_WINDOWS):
            # FIN, NULL, Xmas and other probes no open connection sends; or a raw ACK probe (nmap -sA).
            self.decoded += 1
            return _new(
                ConnectionAttempt,
                (ts, src_mac, dst_mac, src_ip, dst_ip, "tcp", sport, dport, flags, hlen, vlan, None, None, None),
            )
        self.ignored += 1
        return None

    # -- general path ------------------------------------------------------------------------------------------

    def _general(self, buf: bytes, off: int, caplen: int, ts: float) -> Observation | None:
        end = off + caplen
        link = self._link
        src_mac: str | None
        dst_mac: str | None
        vlan: int | None = None
        if link == LINKTYPE.EN10MB:
            if caplen < _ETH_LEN:
                self._bad("ethernet header truncated")
                return None
            dst_mac = self._mac(buf[off : off + 6])
            src_mac = self._mac(buf[off + 6 : off + 12])
            etype = unpack_from("!H", buf, off + _ETH_TYPE)[0]
            p = off + _ETH_LEN
            while etype in _VLAN_TAGS:
                if p + _VLAN_LEN > end:
                    self._bad("802.1Q tag truncated")
                    return None
                tci, etype = VLAN.struct.unpack_from(buf, p)
                if vlan is None:
                    vlan = tci & VLAN_VID_MASK
                p += _VLAN_LEN
        elif link in (LINKTYPE.LINUX_SLL, LINKTYPE.LINUX_SLL2):
            hdr = SLL if link == LINKTYPE.LINUX_SLL else SLL2
            if caplen < hdr.size:
                self._bad("linux cooked header truncated")
                return None
            fields = dict(zip((name for name, _ in hdr.fields if name), hdr.struct.unpack_from(buf, off), strict=True))
            src_mac = self._mac(fields["addr"][:6]) if fields["addr_len"] == 6 else None
            dst_mac = None
            etype = fields["protocol"]
            p = off + hdr.size
        else:  # raw IP
            src_mac = dst_mac = None
            if caplen < 1:
                self._bad("empty packet")
                return None
            etype = ETHERTYPE.IPV6 if buf[off] >> 4 == 6 else ETHERTYPE.IPV4
            p = off

        if etype == ETHERTYPE.IPV4:
            return self._ipv4(buf, p, end, ts, src_mac, dst_mac, vlan)
        if etype == ETHERTYPE.IPV6:
            return self._ipv6(buf, p, end, ts, src_mac, dst_mac, vlan)
        if etype == ETHERTYPE.ARP:
            return self._arp(buf, p, end, ts, src_mac, vlan)
        self.ignored += 1
        return None

    def _ipv4(
        self, buf: bytes, p: int, end: int, ts: float, src_mac: str | None, dst_mac: str | None, vlan: int | None
    ) -> Observation | None:
        if p + _IPV4_MIN > end:
            self._bad("IPv4 header truncated")
            return None
        ver_ihl, total_len, _id, frag, ttl, proto, sip, dip = IPV4.struct.unpack_from(buf, p)
        ihl = (ver_ihl & 0x0F) * 4
        if ver_ihl >> 4 != 4 or ihl < _IPV4_MIN:
            self._bad("IPv4 header invalid (version or header length)")
            return None
        if frag & IPV4_FRAG_OFFSET_MASK:
            self.ignored += 1  # a later fragment: no transport header
            return None
        if total_len >= ihl and p + total_len < end:
            end = p + total_len  # Ethernet padding is not payload
        return self._transport(buf, p + ihl, end, ts, src_mac, dst_mac, self._ip(sip), self._ip(dip), proto, vlan, ttl)

    def _ipv6(
        self, buf: bytes, p: int, end: int, ts: float, src_mac: str | None, dst_mac: str | None, vlan: int | None
    ) -> Observation | None:
        if p + _IPV6_LEN > end:
            self._bad("IPv6 header truncated")
            return None
        _vf, plen, nxt, hop_limit, sip, dip = IPV6.struct.unpack_from(buf, p)
        if plen:
            end = min(end, p + _IPV6_LEN + plen)  # Ethernet padding is not payload
        t = p + _IPV6_LEN
        for _ in range(8):  # a bounded walk over extension headers
            if nxt in IPV6_EXTENSION_HEADERS:
                if t + 2 > end:
                    self._bad("IPv6 extension header truncated")
                    return None
                nxt, t = buf[t], t + (buf[t + 1] + 1) * 8
            elif nxt == IPV6_FRAGMENT_HEADER:
                if t + 8 > end:
                    self._bad("IPv6 fragment header truncated")
                    return None
                if unpack_from("!H", buf, t + 2)[0] & 0xFFF8:
                    self.ignored += 1
                    return None
                nxt, t = buf[t], t + 8
            else:
                break
        return self._transport(buf, t, end, ts, src_mac, dst_mac, self._ip(sip), self._ip(dip), nxt, vlan, hop_limit)

    def _transport(
        self,
        buf: bytes,
        t: int,
        end: int,
        ts: float,
        src_mac: str | None,
        dst_mac: str | None,
        src_ip: str,
        dst_ip: str,
        proto: int,
        vlan: int | None,
        ttl: int = 0,
    ) -> Observation | None:
        watch = self._watch
        if proto == PROTO.TCP:
            if t + _TCP_MIN > end:
                self._bad("TCP header truncated")
                return None
            sport, dport, seq, ack, doff, flags, window = TCP.struct.unpack_from(buf, t)
            if watch is not None:
                header = (sport, dport, seq, ack, doff, flags)
                self._tcp_data(watch, buf, t, end, ts, src_mac, dst_mac, src_ip, dst_ip, header, ttl, vlan)
            return self._tcp_flags(ts, src_mac, dst_mac, src_ip, dst_ip, sport, dport, flags, doff, window, vlan)
        if proto == PROTO.UDP:
            if t + _UDP_LEN > end:
                self._bad("UDP header truncated")
                return None
            sport, dport, length = UDP.struct.unpack_from(buf, t)
            if length < _UDP_LEN:
                self._bad("UDP length below 8")
                return None
            if length != _UDP_LEN:
                if watch is not None and (sport in watch.udp_ports or dport in watch.udp_ports):
                    self.decoded += 1
                    payload = buf[t + _UDP_LEN : min(end, t + length, t + _UDP_LEN + watch.max_payload)]
                    fields = (ts, "udp", src_mac, dst_mac, src_ip, dst_ip, sport, dport, 0, 0, 0, ttl, payload, vlan)
                    return _new(PacketData, fields)
                self.ignored += 1  # datagrams with a payload are ordinary traffic; empty ones are scan probes
                return None
            self.decoded += 1
            return _new(
                ConnectionAttempt,
                (ts, src_mac, dst_mac, src_ip, dst_ip, "udp", sport, dport, 0, 0, vlan, None, None, None),
            )
        if proto in (PROTO.ICMP, PROTO.ICMPV6):
            return self._icmp(buf, t, end, ts, src_mac, dst_mac, src_ip, dst_ip, proto, vlan, ttl)
        self.ignored += 1
        return None

    def _icmp(
        self,
        buf: bytes,
        t: int,
        end: int,
        ts: float,
        src_mac: str | None,
        dst_mac: str | None,
        src_ip: str,
        dst_ip: str,
        proto: int,
        vlan: int | None,
        ttl: int,
    ) -> Observation | None:
        if t + 2 > end:
            self._bad("ICMP header truncated")
            return None
        icmp_type, icmp_code = buf[t], buf[t + 1]
        if proto == PROTO.ICMP:
            port_unreachable = icmp_type == ICMPTYPE.V4_UNREACHABLE and icmp_code == ICMPTYPE.V4_PORT_UNREACHABLE
        else:
            port_unreachable = icmp_type == ICMPTYPE.V6_UNREACHABLE and icmp_code == ICMPTYPE.V6_PORT_UNREACHABLE
        if port_unreachable:
            return self._quoted_udp(buf, t + _ICMP_QUOTED, end, ts, src_mac, src_ip, vlan)
        watch = self._watch
        if icmp_type == _ICMP6_ROUTER_ADVERT and proto == PROTO.ICMPV6 and watch and watch.router_adverts:
            self.decoded += 1
            payload = buf[t : min(end, t + watch.max_payload)]
            return _new(PacketData, (ts, "icmp6", src_mac, dst_mac, src_ip, dst_ip, 0, 0, 0, 0, 0, ttl, payload, vlan))
        self.ignored += 1
        return None

    def _fast_data(
        self,
        buf: bytes,
        off: int,
        caplen: int,
        ts: float,
        addresses: tuple[str | None, str | None, str, str],
        sport: int,
        dport: int,
        doff: int,
    ) -> PacketData | None:
        """The contents of a watched frame on the fast path (Ethernet, IPv4 without options, TCP)."""
        watch = self._watch
        assert watch is not None  # noqa: S101 - only called with a watch
        total_len, ttl, seq, ack, flags = _WATCHED(buf, off)
        data = off + _ETH_IPV4 + (doff >> 4) * 4
        end = off + caplen
        if total_len >= _IPV4_MIN:
            end = min(end, off + _ETH_LEN + total_len)  # Ethernet padding is not payload
        if data > end:
            return None
        followed = (sport in watch.flow_ports or dport in watch.flow_ports) and not flags & SYN
        if not followed and (data == end or not (sport in watch.tcp_ports or dport in watch.tcp_ports)):
            return None
        src, dst, saddr, daddr = addresses
        payload = buf[data : min(end, data + watch.max_payload)]
        return _new(PacketData, (ts, "tcp", src, dst, saddr, daddr, sport, dport, flags, seq, ack, ttl, payload, None))

    def _tcp_data(
        self,
        watch: PayloadWatch,
        buf: bytes,
        t: int,
        end: int,
        ts: float,
        src_mac: str | None,
        dst_mac: str | None,
        src_ip: str,
        dst_ip: str,
        header: tuple[int, int, int, int, int, int],
        ttl: int,
        vlan: int | None,
    ) -> None:
        """A watched TCP segment's contents, kept beside its header observation (:class:`PayloadWatch`)."""
        sport, dport, seq, ack, doff, flags = header
        data = t + (doff >> 4) * 4
        if doff >> 4 < 5 or data > end:
            return
        followed = (sport in watch.flow_ports or dport in watch.flow_ports) and not flags & SYN
        if followed or (data < end and (sport in watch.tcp_ports or dport in watch.tcp_ports)):
            payload = buf[data : min(end, data + watch.max_payload)]
            fields = (ts, "tcp", src_mac, dst_mac, src_ip, dst_ip, sport, dport, flags, seq, ack, ttl, payload, vlan)
            self._extra.append(_new(PacketData, fields))

    def _quoted_udp(
        self, buf: bytes, q: int, end: int, ts: float, src_mac: str | None, src_ip: str, vlan: int | None
    ) -> Observation | None:
        """ICMP port unreachable: the quoted IP + UDP header names the probe that found a closed port."""
        if q >= end:
            self._bad("ICMP quoted packet missing")
            return None
        if buf[q] >> 4 == 6:
            if q + _IPV6_LEN + 4 > end:
                self._bad("ICMP quoted packet truncated")
                return None
            _vf, _plen, nxt, _hl, prober_raw, _dst = IPV6.struct.unpack_from(buf, q)
            u = q + _IPV6_LEN
        else:
            if q + _IPV4_MIN > end:
                self._bad("ICMP quoted packet truncated")
                return None
            ver_ihl, _tl, _id, _frag, _ttl, nxt, prober_raw, _dst = IPV4.struct.unpack_from(buf, q)
            ihl = (ver_ihl & 0x0F) * 4
            if ihl < _IPV4_MIN or q + ihl + 4 > end:
                self._bad("ICMP quoted packet truncated")
                return None
            u = q + ihl
        if nxt != PROTO.UDP:
            self.ignored += 1
            return None
        probe_sport, probe_dport = unpack_from("!HH", buf, u)
        self.decoded += 1
        return PortResponse(
            ts, "unreachable", "udp", src_mac, src_ip, probe_dport, self._ip(prober_raw), probe_sport, vlan
        )

    def _arp(
        self, buf: bytes, p: int, end: int, ts: float, src_mac: str | None, vlan: int | None
    ) -> Observation | None:
        if p + _ARP_LEN > end:
            self._bad("ARP packet truncated")
            return None
        htype, ptype, hlen, plen, op, sha, spa, tha, tpa = ARP.struct.unpack_from(buf, p)
        if htype != 1 or ptype != ETHERTYPE.IPV4 or hlen != 6 or plen != 4:
            self.ignored += 1  # ARP for other hardware or protocols
            return None
        if op not in (1, 2):
            self._bad(f"ARP operation {op} unknown")
            return None
        self.decoded += 1
        return ArpObservation(ts, op, src_mac or "", self._mac(sha), self._ip(spa), self._mac(tha), self._ip(tpa), vlan)
