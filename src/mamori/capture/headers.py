"""Header layouts as declared tables (docs/design.md §4.7), in the manner of dpkt's ``__hdr__``.

Each header is a sequence of ``(field, struct format)`` in network byte order; :class:`Header` derives the field
offsets, the size and a compiled :class:`struct.Struct` from it, and headers can be concatenated into one layout
so that the common case (Ethernet + IPv4 + TCP) is read with a single ``unpack_from``.

Sources: IEEE 802.3 / 802.1Q, RFC 791 (IPv4), RFC 8200 (IPv6), RFC 9293 (TCP), RFC 768 (UDP), RFC 792 / RFC 4443
(ICMP), RFC 826 (ARP), and the pcap link-type registry (LINKTYPE_LINUX_SLL / _SLL2).
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = [
    "ARP",
    "ETH",
    "ETHERTYPE",
    "ETH_IPV4_TCP",
    "ETH_IPV4_TCP_PROBE",
    "ICMP",
    "IPV4",
    "IPV6",
    "IPV6_EXTENSION_HEADERS",
    "IPV6_FRAGMENT_HEADER",
    "LINKTYPE",
    "SLL",
    "SLL2",
    "TCP",
    "UDP",
    "VLAN",
    "Header",
]


class Header:
    """A fixed-size header declared as ``(name, format)`` pairs."""

    def __init__(self, name: str, fields: tuple[tuple[str, str], ...]) -> None:
        self.name = name
        self.fields = fields
        self.format = "".join(fmt for _, fmt in fields)
        self.struct = struct.Struct("!" + self.format)
        self.size: int = self.struct.size
        self.offset: dict[str, int] = {}
        pos = 0
        for field, fmt in fields:
            if field:
                self.offset[field] = pos
            pos += struct.calcsize("!" + fmt)

    def __add__(self, other: Header) -> Header:
        return Header(f"{self.name}+{other.name}", self.fields + other.fields)

    def keeping(self, *names: str) -> Header:
        """The same layout with only the named fields read; the others become padding (``unpack_from`` is
        cheaper by every field it does not have to turn into a Python object)."""
        fields = tuple(
            (name, fmt) if name in names else ("", f"{struct.calcsize('!' + fmt)}x") for name, fmt in self.fields
        )
        return Header(f"{self.name}[{','.join(names)}]", fields)

    def __repr__(self) -> str:
        return f"Header({self.name!r}, size={self.size})"


ETH: Final = Header("ethernet", (("dst", "6s"), ("src", "6s"), ("type", "H")))
VLAN: Final = Header("802.1q", (("tci", "H"), ("type", "H")))  # after the outer TPID; VID = tci & 0x0FFF
VLAN_VID_MASK: Final = 0x0FFF
SLL: Final = Header(
    "linux-sll", (("pkttype", "H"), ("hatype", "H"), ("addr_len", "H"), ("addr", "8s"), ("protocol", "H"))
)
SLL2: Final = Header(
    "linux-sll2",
    (
        ("protocol", "H"),
        ("", "2x"),
        ("ifindex", "I"),
        ("hatype", "H"),
        ("pkttype", "B"),
        ("addr_len", "B"),
        ("addr", "8s"),
    ),
)
IPV4: Final = Header(
    "ipv4",
    (
        ("ver_ihl", "B"),
        ("", "x"),  # DSCP/ECN
        ("total_len", "H"),
        ("ident", "H"),
        ("frag", "H"),  # 3 flag bits + 13-bit fragment offset
        ("ttl", "B"),
        ("proto", "B"),
        ("", "2x"),  # checksum
        ("src", "4s"),
        ("dst", "4s"),
    ),
)
IPV4_FRAG_OFFSET_MASK: Final = 0x1FFF
IPV6: Final = Header(
    "ipv6",
    (("ver_flow", "I"), ("payload_len", "H"), ("next", "B"), ("hop_limit", "B"), ("src", "16s"), ("dst", "16s")),
)
TCP: Final = Header(
    "tcp",
    (
        ("sport", "H"),
        ("dport", "H"),
        ("seq", "I"),
        ("ack", "I"),
        ("data_offset", "B"),  # high nibble: header length in 32-bit words
        ("flags", "B"),
        ("window", "H"),
        ("", "4x"),  # checksum, urgent pointer
    ),
)
UDP: Final = Header("udp", (("sport", "H"), ("dport", "H"), ("length", "H"), ("", "2x")))
ICMP: Final = Header("icmp", (("type", "B"), ("code", "B"), ("", "2x"), ("", "4x")))  # then the quoted packet
ARP: Final = Header(
    "arp",
    (
        ("htype", "H"),
        ("ptype", "H"),
        ("hlen", "B"),
        ("plen", "B"),
        ("op", "H"),
        ("sha", "6s"),
        ("spa", "4s"),
        ("tha", "6s"),
        ("tpa", "4s"),
    ),
)

# The frames most often seen after the filter: one unpack_from reads all three headers (IPv4 without options).
ETH_IPV4_TCP: Final = ETH + IPV4 + TCP
# ...and only what classifying a TCP probe needs from them: both MACs at once, ethertype, IPv4 version/length,
# fragment, protocol, both addresses at once, ports, data offset, flags and window.
ETH_IPV4_TCP_PROBE: Final = Header(
    "ethernet+ipv4+tcp probe", (("macs", "12s"), ("type", "H"), *IPV4.fields[:8], ("addrs", "8s"), *TCP.fields)
).keeping("macs", "type", "ver_ihl", "frag", "proto", "addrs", "sport", "dport", "data_offset", "flags", "window")


class ETHERTYPE:
    IPV4: Final = 0x0800
    ARP: Final = 0x0806
    IPV6: Final = 0x86DD
    VLAN_TAGS: Final = frozenset({0x8100, 0x88A8, 0x9100})


class PROTO:
    ICMP: Final = 1
    TCP: Final = 6
    UDP: Final = 17
    ICMPV6: Final = 58


class ICMPTYPE:
    V4_UNREACHABLE: Final = 3
    V4_PORT_UNREACHABLE: Final = 3
    V6_UNREACHABLE: Final = 1
    V6_PORT_UNREACHABLE: Final = 4


# Extension headers walked to reach TCP/UDP/ICMPv6: hop-by-hop, routing, destination options (length in 8-octet
# units after the first 8) and fragment (always 8 octets; only the first fragment carries the upper header).
IPV6_EXTENSION_HEADERS: Final = frozenset({0, 43, 60})
IPV6_FRAGMENT_HEADER: Final = 44


class LINKTYPE:
    """pcap link-layer header types (DLT_* values as libpcap reports them)."""

    EN10MB: Final = 1
    RAW: Final = 12  # DLT_RAW on Linux; LINKTYPE_RAW in files is 101
    RAW_FILE: Final = 101
    RAW_IPV4: Final = 228
    RAW_IPV6: Final = 229
    LINUX_SLL: Final = 113
    LINUX_SLL2: Final = 276
