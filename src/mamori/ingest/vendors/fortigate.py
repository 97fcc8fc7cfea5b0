"""Fortinet FortiGate traffic logs: ``key=value`` pairs after the PRI (FortiOS log reference, type ``traffic``).

    date=2026-11-23 time=10:00:00 devname="FGT60F" devid="FGT60FTK0000000" logid="0000000013" type="traffic"
    subtype="forward" level="notice" vd="root" srcip=10.1.2.3 srcport=51000 srcintf="port1" dstip=10.1.9.9
    dstport=3389 dstintf="port2" proto=6 action="deny" policyid=0 service="RDP"

``action`` ``deny`` (and ``block``, ``ip-conn``) is a deny; ``accept``, ``close``, ``timeout``, ``server-rst``,
``client-rst`` and ``start`` are sessions the policy let through.

VPN events (``type="event" subtype="vpn"``; FortiOS Log Message Reference, e.g. 39947/39948 SSL VPN session
tunnel up/down, 39424/39425 SSL VPN user tunnel up/down, 37138 IPsec connection status changed) carry ``action``
(``tunnel-up``, ``tunnel-down``), ``tunneltype`` (``ssl-tunnel``, ``ssl-web``, ``ipsec``...), ``tunnelid``,
``remip`` (the peer's address), ``user``, ``group``, and for IPsec ``vpntunnel`` (the phase-1 name):

    date=2026-11-10 time=09:02:11 devname="FGT60F" devid="FGT60FTK0000000" logid="0101039947" type="event"
    subtype="vpn" level="information" vd="root" logdesc="SSL VPN tunnel up" action="tunnel-up"
    tunneltype="ssl-tunnel" tunnelid=1408 remip=198.51.100.7 tunnelip=10.212.134.200 user="vendor-dia"
    group="vendors" dst_host="N/A" reason="N/A" msg="SSL tunnel established"

A user's tunnel is a login (``tunnel-up``) and a logout (``tunnel-down``); an IPsec tunnel without a user is a
tunnel up/down. The address given inside the SSL VPN is read from ``tunnelip`` (named in FortiGate's SSL VPN
logs, though not in every version's field table; ``assignip`` is read for IPsec dial-up). Other VPN events
(statistics ``tunnel-stats``, ``ssl-login-fail``, phase-1 negotiation) are recognised and give nothing.
"""

from __future__ import annotations

from mamori.ingest.vendors.common import Parsed, attempt, field_value, one, proto_name, vpn_event
from mamori.model import LogRecord

__all__ = ["FortiGate"]

_DENY = frozenset(("deny", "block", "blocked", "drop", "dropped", "ip-conn"))


class FortiGate:
    name = "fortigate"

    def parse(self, record: LogRecord) -> Parsed | None:
        text = record.message
        if "subtype=" in text and "type=" in text and field_value(text, "subtype") == "vpn":
            return _vpn(record, text) if field_value(text, "type") == "event" else None
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


def _vpn(record: LogRecord, text: str) -> Parsed:
    action = (field_value(text, "action") or "").lower()
    if action not in ("tunnel-up", "tunnel-down"):
        return ()
    kind = (field_value(text, "tunneltype") or "").lower()
    protocol = "ssl" if kind.startswith("ssl") else "ipsec" if "ipsec" in kind or "vpntunnel=" in text else kind
    user = field_value(text, "user") or field_value(text, "xauthuser")
    if user in ("N/A", ""):
        user = None
    up = action == "tunnel-up"
    event = ("login" if up else "logout") if user else ("tunnel-up" if up else "tunnel-down")
    tunnel = field_value(text, "tunnelid") or field_value(text, "vpntunnel")
    return vpn_event(
        record,
        event,
        protocol or "vpn",
        user=user,
        remote=field_value(text, "remip"),
        assigned=field_value(text, "tunnelip") or field_value(text, "assignip"),
        tunnel=tunnel,
        group=field_value(text, "group"),
        device=field_value(text, "devname"),
    )
