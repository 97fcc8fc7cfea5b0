"""Ethernet ARP frames, built from declared offsets (RFC 826). Used by ARP isolation only."""

from __future__ import annotations

import ipaddress
import struct

__all__ = ["ETH_P_ARP", "OP_REPLY", "OP_REQUEST", "arp_frame", "mac_bytes", "mac_text", "parse_arp"]

ETH_P_ARP = 0x0806
OP_REQUEST = 1
OP_REPLY = 2
_ETH = struct.Struct("!6s6sH")  # destination, source, EtherType
_ARP = struct.Struct("!HHBBH6s4s6s4s")  # htype, ptype, hlen, plen, op, sha, spa, tha, tpa
_ZERO_MAC = b"\0" * 6


def mac_bytes(mac: str) -> bytes:
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def arp_frame(
    op: int, *, eth_dst: str, eth_src: str, sender_mac: str, sender_ip: str, target_mac: str | None, target_ip: str
) -> bytes:
    """One Ethernet II frame carrying an ARP packet for IPv4 over Ethernet."""
    header = _ETH.pack(mac_bytes(eth_dst), mac_bytes(eth_src), ETH_P_ARP)
    body = _ARP.pack(
        1,
        0x0800,
        6,
        4,
        op,
        mac_bytes(sender_mac),
        ipaddress.IPv4Address(sender_ip).packed,
        mac_bytes(target_mac) if target_mac else _ZERO_MAC,
        ipaddress.IPv4Address(target_ip).packed,
    )
    return header + body


def parse_arp(frame: bytes) -> tuple[int, str, str, str, str, str] | None:
    """(op, eth_src, sender_mac, sender_ip, target_mac, target_ip) of an untagged ARP frame, or None."""
    if len(frame) < _ETH.size + _ARP.size:
        return None
    _dst, src, ethertype = _ETH.unpack_from(frame)
    if ethertype != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(frame, _ETH.size)
    if htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4:
        return None
    return (
        op,
        mac_text(src),
        mac_text(sha),
        str(ipaddress.IPv4Address(spa)),
        mac_text(tha),
        str(ipaddress.IPv4Address(tpa)),
    )
