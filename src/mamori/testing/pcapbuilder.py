"""Build real, well-formed frames and classic pcap files: for tests, benchmarks and the demo captures.

The frames have correct IPv4 header, TCP, UDP and ICMP checksums, so tcpdump and Wireshark read them as they
would read a capture from the wire.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from mamori.model import ACK, SYN

__all__ = [
    "PcapWriter",
    "PcapngWriter",
    "arp",
    "eth",
    "icmp_port_unreachable",
    "ipv4",
    "ipv6",
    "mac_bytes",
    "tcp",
    "udp",
]

PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", "").replace("-", ""))


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def eth(dst: str, src: str, ethertype: int, payload: bytes, *, vlan: int | None = None) -> bytes:
    head = mac_bytes(dst) + mac_bytes(src)
    if vlan is not None:
        head += struct.pack("!HH", 0x8100, vlan & 0x0FFF)
    return head + struct.pack("!H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ttl: int = 64, ident: int = 0) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        ident,
        0x4000,  # don't fragment
        ttl,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    csum = _checksum(header)
    return header[:10] + struct.pack("!H", csum) + header[12:] + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes, *, hop_limit: int = 64) -> bytes:
    return (
        struct.pack("!IHBB", 0x60000000, len(payload), next_header, hop_limit)
        + socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + payload
    )


def _pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    if ":" in src:
        return (
            socket.inet_pton(socket.AF_INET6, src)
            + socket.inet_pton(socket.AF_INET6, dst)
            + struct.pack("!IxxxB", length, proto)
        )
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!xBH", proto, length)


def tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    flags: int = SYN,
    *,
    seq: int = 0,
    ack: int = 0,
    window: int = 64240,
    options: bytes | None = None,
    payload: bytes = b"",
) -> bytes:
    """A TCP segment (header + payload) with its checksum; wrap it with :func:`ipv4` or :func:`ipv6`.

    By default a SYN carries the options a Linux connect() sends (MSS, SACK, timestamps, window scale: 40 bytes);
    pass ``options=b"\\x02\\x04\\x05\\xb4"`` for a raw scanner's SYN (MSS only, 24 bytes).
    """
    if options is None:
        if flags & SYN and not flags & ACK:
            options = bytes.fromhex("020405b4 0402 080a 00000001 00000000 01 030307".replace(" ", ""))
        else:
            options = b""
    if len(options) % 4:
        options += b"\x01" * (4 - len(options) % 4)  # NOP padding
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, window, 0, 0) + options
    csum = _checksum(_pseudo_header(src, dst, 6, len(header) + len(payload)) + header + payload)
    return header[:16] + struct.pack("!H", csum) + header[18:] + payload


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"") -> bytes:
    length = 8 + len(payload)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    csum = _checksum(_pseudo_header(src, dst, 17, length) + header + payload) or 0xFFFF
    return header[:6] + struct.pack("!H", csum) + payload


def icmp_port_unreachable(quoted_ip_packet: bytes) -> bytes:
    """ICMPv4 type 3 code 3, quoting the offending packet's IP header and the first 8 bytes after it."""
    body = struct.pack("!BBHI", 3, 3, 0, 0) + quoted_ip_packet[:28]
    return body[:2] + struct.pack("!H", _checksum(body)) + body[4:]


def arp(op: int, sender_mac: str, sender_ip: str, target_mac: str, target_ip: str) -> bytes:
    return (
        struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
        + mac_bytes(sender_mac)
        + socket.inet_aton(sender_ip)
        + mac_bytes(target_mac)
        + socket.inet_aton(target_ip)
    )


class PcapWriter:
    """Writes a classic (microsecond) pcap file."""

    def __init__(self, path: str | Path, *, linktype: int = LINKTYPE_ETHERNET, snaplen: int = 65535) -> None:
        self.path = Path(path)
        self._f: BinaryIO = self.path.open("wb")
        self._f.write(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, linktype))
        self._pack = struct.Struct("<IIII").pack
        self.count = 0

    def write(self, ts: float, frame: bytes, *, orig_len: int | None = None) -> None:
        sec = int(ts)
        usec = round((ts - sec) * 1_000_000)
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        self._f.write(self._pack(sec, usec, len(frame), orig_len or len(frame)))
        self._f.write(frame)
        self.count += 1

    def write_raw(self, record: bytes) -> None:
        """Append an already packed record (header + frame); the benchmark generator uses this for speed."""
        self._f.write(record)
        self.count += 1

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class PcapngWriter:
    """Writes a pcapng file (section header, one Ethernet interface, enhanced packet blocks; microseconds)."""

    def __init__(self, path: str | Path, *, linktype: int = LINKTYPE_ETHERNET, snaplen: int = 65535) -> None:
        self.path = Path(path)
        self._f: BinaryIO = self.path.open("wb")
        self.count = 0
        shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        self._block(0x0A0D0D0A, shb_body)
        self._block(0x00000001, struct.pack("<HHI", linktype, 0, snaplen))

    def _block(self, block_type: int, body: bytes) -> None:
        pad = (-len(body)) % 4
        total = 12 + len(body) + pad
        self._f.write(struct.pack("<II", block_type, total) + body + b"\0" * pad + struct.pack("<I", total))

    def write(self, ts: float, frame: bytes) -> None:
        stamp = round(ts * 1_000_000)
        body = struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(frame), len(frame)) + frame
        self._block(0x00000006, body)
        self.count += 1

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> PcapngWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
