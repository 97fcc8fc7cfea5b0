"""Linux netfilter ``LOG`` target lines (iptables ``-j LOG``, nftables ``log``), as the kernel writes them:

    DROP-IN: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:ab:cd:ef:08:00 SRC=10.1.2.3 DST=10.1.9.9 LEN=60 TOS=0x00
    PREC=0x00 TTL=64 ID=54321 DF PROTO=TCP SPT=51000 DPT=3389 WINDOW=64240 RES=0x00 SYN URGP=0

The log prefix chosen by the administrator tells the verdict: one naming ACCEPT/ALLOW/PERMIT/PASS is an allowed
connection, anything else (DROP, REJECT, DENY, BLOCK, or no prefix) a deny — LOG rules sit in front of drops.
``MAC=`` is destination, source and EtherType: the source MAC is bytes 7-12.
"""

from __future__ import annotations

from mamori.ingest.vendors.common import Parsed, attempt, field_value, flag_bits, one, proto_name
from mamori.model import LogRecord

__all__ = ["Netfilter"]

_ALLOW_WORDS = ("ACCEPT", "ALLOW", "PERMIT", "PASS")
_FLAGS = ("SYN", "ACK", "FIN", "RST", "PSH", "URG")


class Netfilter:
    name = "netfilter"

    def parse(self, record: LogRecord) -> Parsed | None:
        text = record.message
        start = text.find("IN=")
        if start < 0 or " SRC=" not in text or " PROTO=" not in text:
            return None
        proto = proto_name(field_value(text, "PROTO") or "")
        sport = field_value(text, "SPT")
        dport = field_value(text, "DPT")
        if proto is None or sport is None or dport is None:
            return ()
        prefix = text[:start].upper()
        action = "allow" if any(word in prefix for word in _ALLOW_WORDS) else "deny"
        mac = None
        mac_field = field_value(text, "MAC") or ""
        if mac_field.count(":") >= 11:
            mac = mac_field[18:35].lower()
        flags = 0
        if proto == "tcp":
            tail = text[text.find(" DPT=") :] + " "
            flags = flag_bits(" ".join(word for word in _FLAGS if f" {word} " in tail))
        return one(
            attempt(
                record,
                proto,
                field_value(text, "SRC") or "",
                sport,
                field_value(text, "DST") or "",
                dport,
                action,
                interface=field_value(text, "IN") or field_value(text, "OUT") or None,
                src_mac=mac,
                flags=flags,
            )
        )
