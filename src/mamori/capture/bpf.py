"""The kernel filter: only the packets a detector needs reach Python (docs/design.md §2).

Let through:
- TCP with SYN or RST set (connection attempts, SYN-ACK answers, resets and closed-port answers);
- TCP without SYN, RST or ACK (FIN, NULL, Xmas and other probes no open connection sends);
- raw pure-ACK probes: ACK only, no options, no payload, window 1024/2048/3072/4096 (nmap -sA);
- empty UDP datagrams (UDP scan probes) and ICMP / ICMPv6 port unreachable (their answers);
- ARP;
- only when the site asks (docs/design.md §10, "LAN threats"): TCP segments with a payload on the ports of the
  cleartext login protocols, UDP to SNMP and from DHCP servers, ICMPv6 router advertisements, and a sample of the
  established segments of department servers' connections (see :func:`payload_clauses`).
Everything again inside one 802.1Q/802.1ad tag, since mirror ports often keep the tags.
IPv6 is matched at fixed offsets (no extension headers), as libpcap's ``tcp[]`` only indexes IPv4.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["build_filter", "payload_clauses"]

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


# A TCP segment that carries data: IPv4 total length minus both header lengths; IPv6 (no extension header) payload
# length minus the TCP header length.
_HAS_DATA = (
    "((ip and ip[2:2] - ((ip[0] & 0x0f) << 2) - ((tcp[12] & 0xf0) >> 2) > 0)"
    " or (ip6 and ip6[6] == 6 and ip6[4:2] - ((ip6[52] & 0xf0) >> 2) > 0))"
)


# The first bytes of the TCP payload, IPv4 and IPv6 (no extension header).
_DATA4 = "tcp[((tcp[12] & 0xf0) >> 2):4]"
_DATA6 = "ip6[40 + ((ip6[52] & 0xf0) >> 2):4]"
# An HTTP request's first segment starts with its method (RFC 9110 §9): where the Authorization header is.
_HTTP_METHODS = (b"GET ", b"POST", b"PUT ", b"HEAD", b"DELE", b"OPTI", b"PATC")
# An SMB2 message (RFC 1001 length, then 0xFE 'SMB'); its SESSION_SETUP (command 1) carries NTLM.
_SMB2_SESSION_SETUP4 = (
    "(tcp[((tcp[12] & 0xf0) >> 2) + 4:4] = 0xfe534d42 and tcp[((tcp[12] & 0xf0) >> 2) + 16:2] = 0x0100)"
)
_SMB2_SESSION_SETUP6 = (
    "(ip6[44 + ((ip6[52] & 0xf0) >> 2):4] = 0xfe534d42 and ip6[56 + ((ip6[52] & 0xf0) >> 2):2] = 0x0100)"
)


def _starts_with(words: Sequence[bytes]) -> str:
    """TCP data starting with one of ``words`` (4 bytes each), IPv4 or IPv6."""
    values = [f"0x{w.hex()}" for w in words]
    four = " or ".join(f"{_DATA4} = {v}" for v in values)
    six = " or ".join(f"{_DATA6} = {v}" for v in values)
    return f"((ip and ({four})) or (ip6 and ip6[6] == 6 and ({six})))"


def _ports(kind: str, ports: Iterable[int]) -> str:
    return "(" + " or ".join(f"{kind} {int(p)}" for p in sorted(set(ports))) + ")"


def payload_clauses(
    *,
    both_ways: Sequence[int] = (),
    to_server: Sequence[int] = (),
    http: Sequence[int] = (),
    smb: Sequence[int] = (),
    udp_to_server: Sequence[int] = (),
    udp_from_server: Sequence[int] = (),
    router_adverts: bool = False,
    followed: Sequence[int] = (),
    sample_bits: int = 3,
    networks: Sequence[str] = (),
) -> list[str]:
    """Extra parts of the filter for the detectors that read packets' contents; each one only when asked for.

    ``both_ways``: TCP data to and from these ports (login dialogues: FTP, telnet, POP3, IMAP, LDAP);
    ``to_server``: TCP data to these ports only;
    ``http``: HTTP requests' first segments to these ports (the data starts with a method: the request head, where
    ``Authorization`` is; the bodies and answers stay in the kernel); ``smb``: SMB2 SESSION_SETUP requests
    (NTLM);
    ``udp_to_server``/``udp_from_server``: UDP datagrams (SNMP requests; DHCP servers' answers);
    ``router_adverts``: ICMPv6 type 134 (fixed offset: router advertisements carry no extension header);
    ``followed``: the established segments of connections on these ports, one in ``2**sample_bits`` by the IPv4
    identification field (Linux and Windows count it up per packet), for the reset detector;
    ``networks``: the login clauses only for servers in these networks."""
    parts: list[str] = []
    where = f" and ({' or '.join(f'net {n}' for n in networks)})" if networks else ""
    if both_ways:
        parts.append(f"(tcp and {_ports('port', both_ways)} and {_HAS_DATA}{where})")
    if to_server:
        parts.append(f"(tcp and {_ports('dst port', to_server)} and {_HAS_DATA}{where})")
    if http:
        parts.append(f"(tcp and {_ports('dst port', http)} and {_HAS_DATA} and {_starts_with(_HTTP_METHODS)}{where})")
    if smb:
        session = f"((ip and {_SMB2_SESSION_SETUP4}) or (ip6 and ip6[6] == 6 and {_SMB2_SESSION_SETUP6}))"
        parts.append(f"(tcp and {_ports('dst port', smb)} and {_HAS_DATA} and {session}{where})")
    if udp_to_server:
        parts.append(f"(udp and {_ports('dst port', udp_to_server)}{where})")
    if udp_from_server:
        parts.append(f"(udp and {_ports('src port', udp_from_server)})")
    if router_adverts:
        parts.append("(ip6 and ip6[6] == 58 and ip6[40] == 134)")
    if followed:
        mask = (1 << sample_bits) - 1
        sampled = f"ip[5] & {mask} == 0" if mask else "ip[5] & 0 == 0"
        parts.append(f"(ip and tcp and {_ports('port', followed)} and tcp[13] & 0x17 == 0x10 and {sampled})")
    return parts


def build_filter(
    *, udp: bool = True, arp: bool = True, ipv6: bool = True, vlan: bool = True, extra: Sequence[str] = ()
) -> str:
    """The BPF expression for libpcap. Each flag drops a family of packets when a site does not need it; ``extra``
    adds parts (:func:`payload_clauses`)."""
    parts = [_TCP4]
    if ipv6:
        parts.append(_TCP6)
    if udp:
        parts += [_UDP4, _ICMP4]
        if ipv6:
            parts += [_UDP6, _ICMP6]
    if arp:
        parts.append("arp")
    parts.extend(extra)
    inner = " or ".join(parts)
    if not vlan:
        return inner
    # libpcap's "vlan" shifts every later offset by the tag, so the tagged copy must come last.
    return f"({inner}) or (vlan and ({inner}))"
