"""Write Packet Police CSV log lines (the format of SoftEther's パケット警察 for Windows), for tests and demos."""

from __future__ import annotations

import datetime as dt

from mamori.model import flags_text

__all__ = ["packet_police_line"]

_NAMES = {"S": "SYN", "A": "ACK", "F": "FIN", "R": "RST", "P": "PSH", "U": "URG", "E": "ECE", "C": "CWR"}
_SERVICES = {80: "http", 443: "https", 22: "ssh", 445: "microsoft-ds"}


def packet_police_line(
    ts: float,
    zone: dt.tzinfo,
    src_mac: str,
    dst_mac: str,
    src_ip: str,
    src_port: int,
    dst_ip: str,
    dst_port: int,
    flags: int,
    *,
    size: int = 66,
    details: str = "WindowSize=64240",
) -> str:
    """One log line, as Packet Police writes it for a TCP packet (local time with milliseconds)."""
    stamp = dt.datetime.fromtimestamp(ts, tz=zone)
    letters = flags_text(flags)
    names = "+".join(_NAMES[c] for c in letters) if letters != "-" else "-"
    kind = "TCP_CONNECTv4" if flags & 0x02 else "TCP_DATAv4"
    port = f"{_SERVICES[dst_port]}({dst_port})" if dst_port in _SERVICES else str(dst_port)
    mac_a = src_mac.replace(":", "").upper()
    mac_b = dst_mac.replace(":", "").upper()
    return (
        f"{stamp:%Y-%m-%d},{stamp:%H:%M:%S}.{stamp.microsecond // 1000:03d},-,-,{mac_a},{mac_b},0x0800,{size},"
        f"{kind},{names},{src_ip},{src_port},{dst_ip},{port},1000,0,{details}"
    )
