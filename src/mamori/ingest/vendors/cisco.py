"""Cisco ASA (and FTD) connection and deny messages; Cisco IOS access-list logging.

ASA messages used (Cisco ASA Series Syslog Messages):

    %ASA-4-106023: Deny tcp src outside:10.1.2.3/51000 dst inside:10.1.9.9/3389 by access-group "OUT" [0x0, 0x0]
    %ASA-2-106001: Inbound TCP connection denied from 10.1.2.3/51000 to 10.1.9.9/3389 flags SYN on interface outside
    %ASA-2-106006: Deny inbound UDP from 10.1.2.3/5000 to 10.1.9.9/161 on interface outside
    %ASA-6-106100: access-list OUT denied tcp outside/10.1.2.3(51000) -> inside/10.1.9.9(3389) hit-cnt 1 first hit
    %ASA-6-302013: Built inbound TCP connection 7 for outside:10.1.2.3/51000 (10.1.2.3/51000) to inside:10.1.9.9/3389
        (10.1.9.9/3389)
    %ASA-6-302015: Built outbound UDP connection 8 for outside:8.8.8.8/53 (8.8.8.8/53) to inside:10.1.9.9/5353
        (10.1.9.9/5353)
    %ASA-3-710003: TCP access denied by ACL from 10.1.2.3/51000 to outside:10.1.9.9/22

AnyConnect (remote access) messages become :class:`~mamori.model.VpnEvent`. Their forms in Cisco's guide write
the values in angle brackets, and the ASA logs them so:

    %ASA-6-113039: Group <vendors> User <vendor-dia> IP <198.51.100.7> AnyConnect parent session started.
    %ASA-4-722051: Group <vendors> User <vendor-dia> IP <198.51.100.7> IPv4 Address <10.9.0.21> IPv6 address
        <::> assigned to session
    %ASA-5-722037: Group <vendors> User <vendor-dia> IP <198.51.100.7> SVC closing connection: DPD failure.
    %ASA-4-113019: Group = vendors, Username = vendor-dia, IP = 198.51.100.7, Session disconnected. Session Type:
        SSL, Duration: 0h:35m:12s, Bytes xmt: 123, Bytes rcv: 456, Reason: User Requested

(113039: login; 722051: the address given; 722037 and 113019: logout.) Lines without the brackets are read too.

In 302013/302015 the ``for`` side is the lower-security interface: the initiator of an inbound connection, the
responder of an outbound one. IOS (``access-list ... log``/``log-input``):

    %SEC-6-IPACCESSLOGP: list 101 denied tcp 10.1.2.3(51000) -> 10.1.9.9(3389), 1 packet
    %SEC-6-IPACCESSLOGP: list ACL-IN permitted udp 10.1.2.3(5000) (GigabitEthernet0/1 0011.2233.4455) -> ...
    %IPV6_ACL-6-ACCESSLOGP: list V6-IN/20 denied tcp 2001:DB8::1(51000) (Ethernet0/0) -> 2001:DB8::9(22), 1 packet
"""

from __future__ import annotations

import re

from mamori.ingest.vendors.common import Parsed, attempt, dotted_mac, flag_bits, one, proto_name, vpn_event
from mamori.model import LogRecord

__all__ = ["CiscoAsa", "CiscoIos"]

_ADDR = r"[0-9A-Fa-f.:]+"
_IF = r"[^:\s/]+"
_ASA_ID = re.compile(r"%(?:ASA|FTD)-[0-7]-([0-9]{6}):?\s*")
_ASA = {
    "106023": re.compile(
        rf"Deny (?P<proto>\w+) src (?P<sif>{_IF}):(?P<src>{_ADDR})(?:/(?P<sport>\d+))?"
        rf"(?:\([^)]*\))? dst (?P<dif>{_IF}):(?P<dst>{_ADDR})(?:/(?P<dport>\d+))?"
    ),
    "106001": re.compile(
        rf"Inbound (?P<proto>\w+) connection denied from (?P<src>{_ADDR})/(?P<sport>\d+) to (?P<dst>{_ADDR})/"
        rf"(?P<dport>\d+) flags (?P<flags>[A-Z ]*?) ?on interface (?P<sif>\S+)"
    ),
    "106006": re.compile(
        rf"Deny inbound (?P<proto>\w+) from (?P<src>{_ADDR})/(?P<sport>\d+) to (?P<dst>{_ADDR})/(?P<dport>\d+)"
        rf"(?: on interface (?P<sif>\S+))?"
    ),
    "106100": re.compile(
        rf"access-list \S+ (?P<verdict>denied|permitted|est-allowed) (?P<proto>\w+) (?P<sif>{_IF})/(?P<src>{_ADDR})"
        rf"\((?P<sport>\d+)\)(?:\([^)]*\))? -> (?P<dif>{_IF})/(?P<dst>{_ADDR})\((?P<dport>\d+)\)"
    ),
    "302013": re.compile(
        rf"Built (?P<dir>inbound|outbound) (?P<proto>TCP|UDP) connection \S+ for (?P<if1>{_IF}):(?P<a1>{_ADDR})/"
        rf"(?P<p1>\d+) \([^)]*\)(?: \([^)]*\))? to (?P<if2>{_IF}):(?P<a2>{_ADDR})/(?P<p2>\d+)"
    ),
    "710003": re.compile(
        rf"(?P<proto>\w+) access denied by ACL from (?P<src>{_ADDR})/(?P<sport>\d+) to (?P<dif>{_IF}):"
        rf"(?P<dst>{_ADDR})/(?P<dport>\d+)"
    ),
}
_ASA["106007"] = _ASA["106006"]
_ASA["302015"] = _ASA["302013"]
_WHO = r"Group <?(?P<group>[^<>]*?)>? User <?(?P<user>[^<>]*?)>? IP <?(?P<remote>[0-9A-Fa-f.:]+)>?"
_ASA_VPN = {
    "113039": (re.compile(_WHO + r" AnyConnect parent session started"), "login"),
    "722051": (re.compile(_WHO + r" IPv4 Address <?(?P<assigned>[0-9.]+)>?"), "address"),
    "722037": (re.compile(_WHO + r" SVC closing connection"), "logout"),
    "113019": (
        re.compile(r"Group = (?P<group>[^,]*), Username = (?P<user>[^,]*), IP = (?P<remote>[0-9A-Fa-f.:]+), Session "),
        "logout",
    ),
}
_DENY_IDS = frozenset(("106023", "106001", "106006", "106007", "710003"))


class CiscoAsa:
    name = "cisco-asa"

    def parse(self, record: LogRecord) -> Parsed | None:
        text = record.message
        if "%ASA-" not in text and "%FTD-" not in text:
            return None
        head = _ASA_ID.search(text)
        if head is None:
            return None
        vpn = _ASA_VPN.get(head.group(1))
        if vpn is not None:
            found = vpn[0].match(text, head.end())
            if found is None:
                return None  # a session message not in its documented form: an unknown line, counted as such
            return vpn_event(
                record,
                vpn[1],
                "anyconnect",
                user=found["user"],
                remote=found["remote"],
                assigned=found.groupdict().get("assigned"),
                tunnel=found["user"],  # the ASA names a session by its user and address: one per user here
                group=found["group"],
            )
        pattern = _ASA.get(head.group(1))
        if pattern is None:
            return ()  # an ASA message, but not one about a connection
        m = pattern.match(text, head.end())
        if m is None:
            return ()
        groups = m.groupdict()
        proto = proto_name(groups["proto"])
        if proto is None:
            return ()
        if "dir" in groups:  # 302013/302015: a connection the ASA built
            inbound = groups["dir"] == "inbound"
            src, sport, dst, dport = ("a1", "p1", "a2", "p2") if inbound else ("a2", "p2", "a1", "p1")
            iface = groups["if1"] if inbound else groups["if2"]
            return one(attempt(record, proto, m[src], m[sport], m[dst], m[dport], "allow", interface=iface))
        if groups.get("sport") is None or groups.get("dport") is None:
            return ()
        verdict = groups.get("verdict")
        action = "deny" if head.group(1) in _DENY_IDS or verdict == "denied" else "allow"
        flags = flag_bits(groups["flags"]) if groups.get("flags") else None
        return one(
            attempt(
                record,
                proto,
                m["src"],
                m["sport"],
                m["dst"],
                m["dport"],
                action,
                interface=groups.get("sif"),
                flags=flags or None,
            )
        )


_IOS = re.compile(
    rf"%(?P<mnemonic>SEC-6-IPACCESSLOG\w*|IPV6_ACL-6-ACCESSLOG\w*): list (?P<acl>\S+) (?P<verdict>denied|permitted) "
    rf"(?P<proto>\w+) (?P<src>{_ADDR})(?:\((?P<sport>\d+)\))?(?: \((?P<if>[^\s)]+)(?: (?P<mac>[0-9A-Fa-f.:]+))?\))?"
    rf"(?: -> (?P<dst>{_ADDR})(?:\((?P<dport>\d+)\))?)?"
)


class CiscoIos:
    name = "cisco-ios"

    def parse(self, record: LogRecord) -> Parsed | None:
        text = record.message
        if "ACCESSLOG" not in text:
            return None
        m = _IOS.search(text)
        if m is None:
            return () if "-6-IPACCESSLOG" in text or "-6-ACCESSLOG" in text else None
        proto = proto_name(m["proto"])
        if proto is None or m["sport"] is None or m["dport"] is None or m["dst"] is None:
            return ()  # ICMP (IPACCESSLOGDP), standard ACLs (IPACCESSLOGS): no ports
        action = "deny" if m["verdict"] == "denied" else "allow"
        mac = dotted_mac(m["mac"]) if m["mac"] else None
        return one(
            attempt(record, proto, m["src"], m["sport"], m["dst"], m["dport"], action, interface=m["if"], src_mac=mac)
        )
