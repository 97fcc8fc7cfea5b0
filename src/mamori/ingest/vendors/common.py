"""What every vendor parser shares: the parser protocol and building a ConnectionAttempt from a log line."""

from __future__ import annotations

import ipaddress
from typing import Protocol

from mamori.model import ACK, FIN, PSH, RST, SYN, URG, ConnectionAttempt, LogRecord, VpnEvent

__all__ = [
    "LogParser",
    "Parsed",
    "attempt",
    "dotted_mac",
    "field_value",
    "flag_bits",
    "normalize_ip",
    "proto_name",
    "vpn_event",
]

Parsed = tuple[ConnectionAttempt | VpnEvent, ...]
"""What a parser makes of a line it recognises: the connections it reports (none for, say, an ICMP deny), or a
VPN gateway's session or tunnel event."""


class LogParser(Protocol):
    """Turns the permit/deny lines of one family of devices into connection attempts.

    ``parse`` returns None for a line that is not this parser's, and a (possibly empty) tuple for one that is.
    It must be cheap on lines that are not its own: check a marker with ``in`` before any regular expression.
    """

    name: str

    def parse(self, record: LogRecord) -> Parsed | None: ...


_PROTO_NUMBERS = {"6": "tcp", "17": "udp", "tcp": "tcp", "udp": "udp", "TCP": "tcp", "UDP": "udp"}
_FLAG_WORDS = {"SYN": SYN, "ACK": ACK, "FIN": FIN, "RST": RST, "PSH": PSH, "URG": URG}
_ip_cache: dict[str, str | None] = {}


def proto_name(text: str) -> str | None:
    """``6``/``tcp``/``TCP`` -> ``tcp``; ``17``/``udp`` -> ``udp``; anything else (ICMP, ESP...) -> None."""
    return _PROTO_NUMBERS.get(text) or _PROTO_NUMBERS.get(text.lower())


def normalize_ip(text: str) -> str | None:
    """The canonical text of an IPv4/IPv6 address (IPv6 compressed, lower case), or None. Cached."""
    cached = _ip_cache.get(text)
    if cached is not None:
        return cached
    try:
        value: str | None = str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        value = None
    if len(_ip_cache) > 65536:
        _ip_cache.clear()
    _ip_cache[text] = value
    return value


def flag_bits(words: str) -> int:
    """``"SYN ACK"`` -> SYN|ACK (names as iptables and the ASA print them)."""
    bits = 0
    for word in words.replace(",", " ").split():
        bits |= _FLAG_WORDS.get(word.upper(), 0)
    return bits


def dotted_mac(text: str) -> str | None:
    """``0011.2233.4455`` or ``00:11:22:33:44:55`` -> ``00:11:22:33:44:55``; anything else -> None."""
    digits = text.replace(".", "").replace(":", "").replace("-", "").lower()
    if len(digits) != 12 or any(c not in "0123456789abcdef" for c in digits):
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def attempt(
    record: LogRecord,
    proto: str,
    src: str,
    sport: int | str,
    dst: str,
    dport: int | str,
    action: str,
    *,
    interface: str | None = None,
    device: str | None = None,
    src_mac: str | None = None,
    flags: int | None = None,
    vlan: int | None = None,
) -> ConnectionAttempt | None:
    """One attempt reported by a device, timed when mamori received the line (device clocks drift; RFC 3164
    times have no year or zone). TCP attempts count as SYNs unless the line names the flags."""
    src_ip = normalize_ip(src)
    dst_ip = normalize_ip(dst)
    if src_ip is None or dst_ip is None:
        return None
    try:
        sport_n = int(sport)
        dport_n = int(dport)
    except ValueError:
        return None
    if not (0 <= sport_n <= 65535 and 0 <= dport_n <= 65535):
        return None
    if flags is None:
        flags = SYN if proto == "tcp" else 0
    return ConnectionAttempt(
        record.received_at,
        src_mac,
        None,
        src_ip,
        dst_ip,
        proto,
        sport_n,
        dport_n,
        flags,
        0,
        vlan,
        action,
        device or record.hostname or record.sender,
        interface,
    )


def field_value(text: str, key: str) -> str | None:
    """The value of ``key=`` in a line of space-separated ``key=value`` pairs (a value may be "quoted"), found
    with ``str.find`` — several times faster than a regular expression over the whole line."""
    start = text.find(" " + key + "=")
    if start < 0:
        if not text.startswith(key + "="):
            return None
        start = len(key) + 1
    else:
        start += len(key) + 2
    if text[start : start + 1] == '"':
        end = text.find('"', start + 1)
        return text[start + 1 : end] if end >= 0 else text[start + 1 :]
    end = text.find(" ", start)
    return text[start:end] if end >= 0 else text[start:]


def vpn_event(
    record: LogRecord,
    kind: str,
    protocol: str,
    *,
    user: str | None = None,
    remote: str | None = None,
    assigned: str | None = None,
    tunnel: str | None = None,
    group: str | None = None,
    device: str | None = None,
) -> Parsed:
    """A VPN event reported by a gateway, timed when mamori received the line. Placeholders (``N/A``, ``-``,
    empty) and addresses that do not parse become None; a user name is kept as written (it is hostile text: every
    output escapes it)."""

    def text(value: str | None) -> str | None:
        value = value.strip() if value else None
        return None if not value or value in ("N/A", "-", "(null)") else value[:256]

    return (
        VpnEvent(
            record.received_at,
            kind,
            device or record.hostname or record.sender,
            protocol,
            text(user),
            normalize_ip(remote) if text(remote) else None,  # type: ignore[arg-type]
            normalize_ip(assigned) if text(assigned) else None,  # type: ignore[arg-type]
            text(tunnel),
            text(group),
        ),
    )


def one(value: ConnectionAttempt | None) -> Parsed:
    return (value,) if value is not None else ()
