"""Yamaha RTX/NVR routers: IP filter logs and dynamic-filter inspection (``[INSPECT]``) logs.

RTX routers send syslog lines with a PRI and no timestamp or host name (``<13> [INSPECT] ...``), or, relayed,
with none of it. The lines (from Yamaha's command reference for ``ip filter`` with logging and ``syslog``):

    LAN2 Rejected at IN(200030) filter: TCP 203.0.113.5:48123 > 192.168.100.2:445
    Rejected at IN(2000) filter: TCP 10.1.2.3:51000 > 10.1.9.9:3389
    PP[01] Passed at OUT(2000) filter: UDP 192.168.100.2:53000 > 198.51.100.1:53
    Rejected at IN(100) filter: ICMP 10.1.2.3 > 10.1.9.9 : echo request
    [INSPECT] LAN2[out][101098] TCP 192.168.100.2:49282 > 203.0.113.1:80 (2016/10/31 10:00:00)

``Rejected`` is a deny, ``Passed`` and an inspected session are allowed. IPv4 only (the form Yamaha documents).
A relay that rewrites the line into RFC 5424 may take ``Rejected`` for the program name; the verdict is read back
from there.
"""

from __future__ import annotations

import re

from mamori.ingest.vendors.common import Parsed, attempt, one, proto_name
from mamori.model import LogRecord

__all__ = ["YamahaRtx"]

_FILTER = re.compile(
    r"(?:(?P<iface>[A-Za-z]+[0-9]*(?:\[[0-9]+\])?(?:\.[0-9]+)?)\s+)?"
    r"(?P<verdict>Rejected|Passed) at (?P<dir>IN|OUT)\((?P<filter>[0-9]+)\) filter:\s+(?P<proto>[A-Za-z0-9-]+)\s+"
    r"(?P<src>[0-9.]+)(?::(?P<sport>[0-9]+))?\s+>\s+(?P<dst>[0-9.]+)(?::(?P<dport>[0-9]+))?"
)
_INSPECT = re.compile(
    r"\[INSPECT\]\s+(?P<iface>[^\[\s]+(?:\[[0-9]+\])?)\[(?P<dir>in|out)\]\[(?P<filter>[0-9]+)\]\s+"
    r"(?P<proto>[A-Za-z0-9-]+)\s+(?P<src>[0-9.]+)(?::(?P<sport>[0-9]+))?\s+>\s+(?P<dst>[0-9.]+)(?::(?P<dport>[0-9]+))?"
)


class YamahaRtx:
    name = "yamaha-rtx"

    def parse(self, record: LogRecord) -> Parsed | None:
        text = record.message
        if record.app in ("Rejected", "Passed"):
            text = (
                f"{record.app} {text.lstrip()}"  # relayed by a syslog server that took the verdict for a program name
            )
        if " filter:" in text:
            match = _FILTER.search(text)
            action = "deny" if match is not None and match["verdict"] == "Rejected" else "allow"
        elif "[INSPECT]" in text:
            match = _INSPECT.search(text)
            action = "allow"
        else:
            return None
        if match is None:
            return None
        proto = proto_name(match["proto"])
        if proto is None or match["sport"] is None or match["dport"] is None:
            return ()  # ICMP and other protocols without ports: recognised, not a connection
        return one(
            attempt(
                record,
                proto,
                match["src"],
                match["sport"],
                match["dst"],
                match["dport"],
                action,
                interface=match["iface"],
            )
        )
