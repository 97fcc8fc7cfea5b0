"""AlaxalA AX switches and routers: access-list logging (message type ACLLOG, e.g. ids 2d000004/2d000005).

The message text as the AlaxalA message and log reference gives it:

    denied:[(<tag vlan id>)]<protocol no.> <source ip address>[[(<source port>)][(<received interface>)]]
        -> <destination ip address>[(<destination port>)], <packets>

for example ``denied:(10)6 10.1.2.3(51000)(1/0/5) -> 10.1.9.9(3389), 1 packets``. The protocol may be a number
or a name; ``permitted:`` lines (flows a filter let through with logging) are read the same way.
"""

from __future__ import annotations

import re

from mamori.ingest.vendors.common import Parsed, attempt, one, proto_name
from mamori.model import LogRecord

__all__ = ["Alaxala"]

_ACL = re.compile(
    r"(?P<verdict>denied|permitted):(?:\((?P<vlan>\d+)\))?(?P<proto>[A-Za-z0-9-]+) (?P<src>[0-9A-Fa-f.:]+)"
    r"(?P<groups>(?:\([^)]*\))*) -> (?P<dst>[0-9A-Fa-f.:]+)(?:\((?P<dport>\d+)\))?, (?P<packets>\d+)"
)
_GROUP = re.compile(r"\(([^)]*)\)")


class Alaxala:
    name = "alaxala"

    def parse(self, record: LogRecord) -> Parsed | None:
        text = record.message
        if "->" not in text or ("denied:" not in text and "permitted:" not in text):
            return None
        m = _ACL.search(text)
        if m is None:
            return None
        proto = proto_name(m["proto"])
        sport: str | None = None
        interface: str | None = None
        for value in _GROUP.findall(m["groups"]):
            if value.isdigit() and sport is None and proto is not None:
                sport = value
            else:
                interface = value
        if proto is None or sport is None or m["dport"] is None:
            return ()
        action = "deny" if m["verdict"] == "denied" else "allow"
        vlan = int(m["vlan"]) if m["vlan"] else None
        return one(
            attempt(record, proto, m["src"], sport, m["dst"], m["dport"], action, interface=interface, vlan=vlan)
        )
