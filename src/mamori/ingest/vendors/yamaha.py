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

VPN lines (remote access by L2TP/IPsec or PPTP, and IPsec tunnels) become :class:`~mamori.model.VpnEvent`. The
forms are those of Yamaha's VPN troubleshooting pages (network.yamaha.com, "VPN 接続ができない"), as quoted by
projects that parse RTX logs:

    [IKE] respond ISAKMP phase to 198.51.100.7                       -> peer 198.51.100.7
    [IKE] initiate ISAKMP phase to 203.0.113.2 (local address 192.168.1.1)
    [L2TP] TUNNEL[1] connected from 198.51.100.7                      -> peer 198.51.100.7
    PP[ANONYMOUS01] Call detected from user 'vendor-dia'              -> login of vendor-dia
    PP[ANONYMOUS01] PPP/IPCP up  (Local: 192.168.100.1, Remote: 192.168.100.201)   -> address 192.168.100.201
    PP[ANONYMOUS01] Disconnected, cause [...]                         -> logout
    IP Tunnel[1] Up / IP Tunnel[1] Down                               -> tunnel up / down

Only ``PP[ANONYMOUSnn]`` (the remote-access PP interfaces) are VPN sessions: ``PP[01]`` is usually the provider's
PPPoE line, whose ``IPCP up`` and ``Disconnected`` lines are recognised and give nothing. Not confirmed from a
document and therefore not parsed: the PPTP-specific lines, and the ``Disconnected`` line's cause for a remote
user (the ``PPPOE[01] Disconnected, cause [...]`` form is documented; the anonymous PP's is assumed the same).
"""

from __future__ import annotations

import re

from mamori.ingest.vendors.common import Parsed, attempt, one, proto_name, vpn_event
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


_PP = r"(?P<pp>PP\[(?P<anon>ANONYMOUS)?[0-9]+\])"
_VPN = (
    (re.compile(r"\[IKE\] (?:respond|initiate) ISAKMP phase to (?P<remote>[0-9.]+)"), "peer", "ipsec"),
    (re.compile(r"\[L2TP\] (?P<tunnel>TUNNEL\[[0-9]+\]) connected from (?P<remote>[0-9.]+)"), "peer", "l2tp"),
    (re.compile(_PP + r" Call detected from user '(?P<user>[^']*)'"), "login", "l2tp"),
    (re.compile(_PP + r" PPP/IPCP up\s*(?:\(Local: \S+, Remote: (?P<assigned>[0-9.]+)\))?"), "address", "l2tp"),
    (re.compile(_PP + r" Disconnected"), "logout", "l2tp"),
    (re.compile(r"IP (?P<tunnel>Tunnel\[[0-9]+\]) Up"), "tunnel-up", "ipsec"),
    (re.compile(r"IP (?P<tunnel>Tunnel\[[0-9]+\]) Down"), "tunnel-down", "ipsec"),
)
_VPN_MARKS = ("[IKE]", "[L2TP]", "PP[", "IP Tunnel[")


def _vpn(record: LogRecord, text: str) -> Parsed | None:
    for pattern, kind, protocol in _VPN:
        match = pattern.search(text)
        if match is None:
            continue
        groups = match.groupdict()
        if "pp" in groups and not groups.get("anon"):
            return ()  # PP[01]: the provider's line, not remote access
        return vpn_event(
            record,
            kind,
            protocol,
            user=groups.get("user"),
            remote=groups.get("remote"),
            assigned=groups.get("assigned"),
            tunnel=groups.get("pp") or groups.get("tunnel"),
        )
    return None


class YamahaRtx:
    name = "yamaha-rtx"

    def parse(self, record: LogRecord) -> Parsed | None:
        text = record.message
        if any(mark in text for mark in _VPN_MARKS) and " filter:" not in text:
            return _vpn(record, text)
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
