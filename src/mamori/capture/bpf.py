"""The kernel filter: only the packets a detector needs reach Python (docs/design.md §2).

Let through:
- TCP with SYN or RST set (connection attempts, SYN-ACK answers, resets and closed-port answers);
- TCP without SYN, RST or ACK (FIN, NULL, Xmas and other probes no open connection sends);
- raw pure-ACK probes: ACK only, no options, no payload, window 1024/2048/3072/4096 (nmap -sA);
- empty UDP datagrams (UDP scan probes) and ICMP / ICMPv6 port unreachable (their answers);
- ARP.
Everything again inside one 802.1Q/802.1ad tag, since mirror ports often keep the tags.
IPv6 is matched at fixed offsets (no extension headers), as libpcap's ``tcp[]`` only indexes IPv4.
"""

from __future__ import annotations

__all__ = ["build_filter"]

_TCP4 = (
    "(tcp and (tcp[13] & 0x06 != 0 or tcp[13] & 0x16 == 0"
    " or (tcp[13] & 0x3f == 0x10 and tcp[12] & 0xf0 == 0x50"
    " and ip[2:2] - ((ip[0] & 0x0f) << 2) == 20"
    " and (tcp[14:2] == 1024 or tcp[14:2] == 2048 or tcp[14:2] == 3072 or tcp[14:2] == 4096))))"
)
_TCP6 = (
    "(ip6 and ip6[6] == 6 and (ip6[53] & 0x06 != 0 or ip6[53] & 0x16 == 0"
    " or (ip6[53] & 0x3f == 0x10 and ip6[52] & 0xf0 == 0x50 and ip6[4:2] == 20"
    " and (ip6[54:2] == 1024 or ip6[54:2] == 2048 or ip6[54:2] == 3072 or ip6[54:2] == 4096))))"
)
_UDP4 = "(udp and udp[4:2] == 8)"
_UDP6 = "(ip6 and ip6[6] == 17 and ip6[44:2] == 8)"
_ICMP4 = "(icmp and icmp[0] == 3 and icmp[1] == 3)"
_ICMP6 = "(ip6 and ip6[6] == 58 and ip6[40] == 1 and ip6[41] == 4)"


def build_filter(*, udp: bool = True, arp: bool = True, ipv6: bool = True, vlan: bool = True) -> str:
    """The BPF expression for libpcap. Each flag drops a family of packets when a site does not need it."""
    parts = [_TCP4]
    if ipv6:
        parts.append(_TCP6)
    if udp:
        parts += [_UDP4, _ICMP4]
        if ipv6:
            parts += [_UDP6, _ICMP6]
    if arp:
        parts.append("arp")
    inner = " or ".join(parts)
    if not vlan:
        return inner
    # libpcap's "vlan" shifts every later offset by the tag, so the tagged copy must come last.
    return f"({inner}) or (vlan and ({inner}))"
