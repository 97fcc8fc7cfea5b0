"""Fortinet FortiGate traffic logs: ``key=value`` pairs after the PRI (FortiOS log reference, type ``traffic``).

    date=2026-11-23 time=10:00:00 devname="FGT60F" devid="FGT60FTK0000000" logid="0000000013" type="traffic"
    subtype="forward" level="notice" vd="root" srcip=10.1.2.3 srcport=51000 srcintf="port1" dstip=10.1.9.9
    dstport=3389 dstintf="port2" proto=6 action="deny" policyid=0 service="RDP"

``action`` ``deny`` (and ``block``, ``ip-conn``) is a deny; ``accept``, ``close``, ``timeout``, ``server-rst``,
``client-rst`` and ``start`` are sessions the policy let through.
"""

from __future__ import annotations

from mamori.ingest.vendors.common import Parsed, attempt, field_value, one, proto_name
from mamori.model import LogRecord

__all__ = ["FortiGate"]

_DENY = frozenset(("deny", "block", "blocked", "drop", "dropped", "ip-conn"))


class FortiGate:
    name = "fortigate"

    def parse(self, record: LogRecord) -> Parsed | None:
        text = record.message
        if "type=" not in text or "srcip=" not in text or field_value(text, "type") != "traffic":
            return None
        proto = proto_name(field_value(text, "proto") or "")
        sport = field_value(text, "srcport")
        dport = field_value(text, "dstport")
        if proto is None or sport is None or dport is None:
            return ()
        action = "deny" if (field_value(text, "action") or "").lower() in _DENY else "allow"
        return one(
            attempt(
                record,
                proto,
                field_value(text, "srcip") or "",
                sport,
                field_value(text, "dstip") or "",
                dport,
                action,
                interface=field_value(text, "srcintf"),
                device=field_value(text, "devname"),
            )
        )
