"""Palo Alto Networks PAN-OS traffic logs: comma-separated fields after the syslog header (PAN-OS syslog field
descriptions, "Traffic Log Fields").

    1,2026/11/23 10:00:00,012801012345,TRAFFIC,drop,2561,2026/11/23 10:00:00,10.1.2.3,10.1.9.9,0.0.0.0,0.0.0.0,
    deny-rdp,,,not-applicable,vsys1,trust,servers,ethernet1/2,,Forward,2026/11/23 10:00:00,0,1,51000,3389,0,0,0x0,
    tcp,deny,...

Field positions (0-based): 3 type, 4 subtype (start/end/drop/deny), 7 source, 8 destination, 18 inbound interface,
24 source port, 25 destination port, 29 protocol, 30 action (allow, deny, drop, drop ICMP, reset client/server/both).
"""

from __future__ import annotations

import csv

from mamori.ingest.vendors.common import Parsed, attempt, one, proto_name
from mamori.model import LogRecord

__all__ = ["PaloAlto"]

_MIN_FIELDS = 31


class PaloAlto:
    name = "paloalto"

    def parse(self, record: LogRecord) -> Parsed | None:
        text = record.message
        if ",TRAFFIC," not in text:
            return None
        if '"' in text:
            try:
                fields = next(csv.reader([text]))
            except csv.Error:  # a line break inside a field: not a line PAN-OS writes
                return None
        else:
            fields = text.split(",")
        if len(fields) < _MIN_FIELDS or fields[3] != "TRAFFIC":
            return None
        proto = proto_name(fields[29])
        if proto is None:
            return ()
        action = "allow" if fields[30] == "allow" and fields[4] != "deny" else "deny"
        return one(
            attempt(
                record,
                proto,
                fields[7],
                fields[24],
                fields[8],
                fields[25],
                action,
                interface=fields[18] or None,
            )
        )
