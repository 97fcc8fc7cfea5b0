"""VPN lines of the three gateways (Yamaha RTX, FortiGate, Cisco ASA AnyConnect) -> VpnEvent, in the forms the
parsers' docstrings cite from the vendors' documents, sent as the devices send them (with a PRI, through the syslog
parser). Malformed and garbage lines never raise: a line no parser understands is counted as unknown (the collector
reports it as malformed on the sensor page), and a damaged line is never read as a session."""

from __future__ import annotations

import random

import pytest

from mamori.ingest.syslog_parse import SyslogParser
from mamori.ingest.vendors import load_parsers
from mamori.model import LogRecord, VpnEvent

RECEIVED = 1_795_395_605.0


def record(raw: bytes, sender: str = "192.0.2.1") -> LogRecord:
    return SyslogParser(timezone="Asia/Tokyo").parse(raw, RECEIVED, sender, 514, "udp")


def event(raw: bytes, parser: str) -> VpnEvent:
    found = load_parsers().parse(record(raw))
    assert found is not None, raw
    name, parsed = found
    assert name == parser
    (vpn,) = parsed
    assert isinstance(vpn, VpnEvent) and vpn.ts == RECEIVED
    return vpn


def what(e: VpnEvent) -> tuple[object, ...]:
    return (e.kind, e.protocol, e.user, e.remote_ip, e.assigned_ip, e.tunnel)


# -- Yamaha RTX -------------------------------------------------------------------------------------------------

RTX = [
    (b"<13> [IKE] respond ISAKMP phase to 198.51.100.7", ("peer", "ipsec", None, "198.51.100.7", None, None)),
    (
        b"<13> [IKE] initiate ISAKMP phase to 203.0.113.2 (local address 192.168.1.1)",
        ("peer", "ipsec", None, "203.0.113.2", None, None),
    ),
    (b"<13> [L2TP] TUNNEL[1] connected from 198.51.100.7", ("peer", "l2tp", None, "198.51.100.7", None, "TUNNEL[1]")),
    (
        b"<13> PP[ANONYMOUS01] Call detected from user 'vendor-dia'",
        ("login", "l2tp", "vendor-dia", None, None, "PP[ANONYMOUS01]"),
    ),
    (
        b"<13> PP[ANONYMOUS01] PPP/IPCP up  (Local: 192.168.100.1, Remote: 192.168.100.201)",
        ("address", "l2tp", None, None, "192.168.100.201", "PP[ANONYMOUS01]"),
    ),
    (
        b"<13> PP[ANONYMOUS01] Disconnected, cause [L2TP tunnel disconnected]",
        ("logout", "l2tp", None, None, None, "PP[ANONYMOUS01]"),
    ),
    (b"<13> IP Tunnel[1] Up", ("tunnel-up", "ipsec", None, None, None, "Tunnel[1]")),
    (b"IP Tunnel[12] Down", ("tunnel-down", "ipsec", None, None, None, "Tunnel[12]")),  # relayed without a PRI
]


@pytest.mark.parametrize(("raw", "expected"), RTX)
def test_yamaha_rtx_vpn_lines(raw: bytes, expected: tuple[object, ...]) -> None:
    assert what(event(raw, "yamaha-rtx")) == expected


def test_yamaha_provider_line_is_recognised_but_not_remote_access() -> None:
    parsers = load_parsers()
    for raw in (
        b"<13> PP[01] PPP/IPCP up  (Local: 203.0.113.10, Remote: 203.0.113.1)",
        b"<13> PP[01] Disconnected, cause [PPPoE session was terminated]",
    ):
        assert parsers.parse(record(raw)) == ("yamaha-rtx", ())
    assert parsers.unknown == 0


# -- FortiGate --------------------------------------------------------------------------------------------------

_FGT = (
    'date=2026-11-10 time=09:02:11 devname="FGT60F" devid="FGT60FTK0000000" logid="{logid}" type="event" '
    'subtype="vpn" level="information" vd="root" logdesc="{desc}" action="{action}" tunneltype="{tt}" '
    "tunnelid=1408 remip=198.51.100.7 {extra}"
)


def fgt(logid: str, desc: str, action: str, tt: str, extra: str) -> bytes:
    return b"<134>" + _FGT.format(logid=logid, desc=desc, action=action, tt=tt, extra=extra).encode()


def test_fortigate_ssl_vpn_up_and_down() -> None:
    up = event(
        fgt(
            "0101039947",
            "SSL VPN tunnel up",
            "tunnel-up",
            "ssl-tunnel",
            'tunnelip=10.212.134.200 user="vendor-dia" '
            'group="vendors" dst_host="N/A" reason="N/A" msg="SSL tunnel established"',
        ),
        "fortigate",
    )
    assert what(up) == ("login", "ssl", "vendor-dia", "198.51.100.7", "10.212.134.200", "1408")
    assert up.device == "FGT60F" and up.group == "vendors"
    down = event(
        fgt(
            "0101039948",
            "SSL VPN tunnel down",
            "tunnel-down",
            "ssl-tunnel",
            'user="vendor-dia" group="vendors" duration=610 sentbyte=1234 rcvdbyte=5678 msg="SSL tunnel shutdown"',
        ),
        "fortigate",
    )
    assert what(down) == ("logout", "ssl", "vendor-dia", "198.51.100.7", None, "1408")


def test_fortigate_ipsec_tunnel_without_a_user_and_dialup_with_one() -> None:
    site = event(
        fgt("0101037138", "IPsec connection status changed", "tunnel-up", "ipsec", 'vpntunnel="to-vendor" user="N/A"'),
        "fortigate",
    )
    assert what(site) == ("tunnel-up", "ipsec", None, "198.51.100.7", None, "1408")
    dialup = event(
        fgt(
            "0101037138",
            "IPsec connection status changed",
            "tunnel-up",
            "ipsec",
            'xauthuser="vendor-img" assignip=10.9.1.20',
        ),
        "fortigate",
    )
    assert what(dialup) == ("login", "ipsec", "vendor-img", "198.51.100.7", "10.9.1.20", "1408")


def test_fortigate_other_vpn_events_are_recognised_and_give_nothing() -> None:
    parsers = load_parsers()
    stats = fgt("0101039949", "SSL VPN statistics", "tunnel-stats", "ssl-tunnel", 'user="vendor-dia"')
    failed = fgt("0101039426", "SSL VPN login fail", "ssl-login-fail", "ssl-web", 'user="guess"')
    assert parsers.parse(record(stats)) == ("fortigate", ())
    assert parsers.parse(record(failed)) == ("fortigate", ())


def test_fortigate_damaged_addresses_become_none_not_garbage() -> None:
    e = event(
        fgt("0101039947", "SSL VPN tunnel up", "tunnel-up", "ssl-tunnel", 'tunnelip=10.212.134.999 user="x"').replace(
            b"remip=198.51.100.7", b"remip=<script>"
        ),
        "fortigate",
    )
    assert (e.remote_ip, e.assigned_ip, e.user) == (None, None, "x")


# -- Cisco ASA AnyConnect ---------------------------------------------------------------------------------------

ASA = [
    (
        b"<166>%ASA-6-113039: Group <vendors> User <vendor-lab> IP <198.51.100.9> AnyConnect parent session started.",
        ("login", "anyconnect", "vendor-lab", "198.51.100.9", None, "vendor-lab"),
    ),
    (
        b"<164>%ASA-4-722051: Group <vendors> User <vendor-lab> IP <198.51.100.9> IPv4 Address <10.9.2.30> IPv6 "
        b"address <::> assigned to session",
        ("address", "anyconnect", "vendor-lab", "198.51.100.9", "10.9.2.30", "vendor-lab"),
    ),
    (
        b"<165>%ASA-5-722037: Group <vendors> User <vendor-lab> IP <198.51.100.9> SVC closing connection: DPD failure.",
        ("logout", "anyconnect", "vendor-lab", "198.51.100.9", None, "vendor-lab"),
    ),
    (
        b"<164>%ASA-4-113019: Group = vendors, Username = vendor-lab, IP = 198.51.100.9, Session disconnected. "
        b"Session Type: SSL, Duration: 0h:35m:12s, Bytes xmt: 123, Bytes rcv: 456, Reason: User Requested",
        ("logout", "anyconnect", "vendor-lab", "198.51.100.9", None, "vendor-lab"),
    ),
    (  # without the angle brackets, as some versions write it
        b"<166>%ASA-6-113039: Group vendors User vendor-lab IP 198.51.100.9 AnyConnect parent session started.",
        ("login", "anyconnect", "vendor-lab", "198.51.100.9", None, "vendor-lab"),
    ),
    (  # with the device's own timestamp and host name (RFC 3164), as a relay keeps it
        b"<166>Nov 10 09:02:11 asa01 %ASA-6-113039: Group <vendors> User <vendor-lab> IP <198.51.100.9> AnyConnect "
        b"parent session started.",
        ("login", "anyconnect", "vendor-lab", "198.51.100.9", None, "vendor-lab"),
    ),
]


@pytest.mark.parametrize(("raw", "expected"), ASA)
def test_cisco_asa_anyconnect_lines(raw: bytes, expected: tuple[object, ...]) -> None:
    assert what(event(raw, "cisco-asa")) == expected


# -- malformed and garbage --------------------------------------------------------------------------------------

MALFORMED = [
    b"<13> PP[ANONYMOUS01] Call detected from user vendor-dia",  # the quotes missing
    b"<13> [IKE] respond ISAKMP phase to",  # no peer
    b"<13> [L2TP] TUNNEL[x] connected from 198.51.100.7",
    b"<166>%ASA-6-113039: Group <vendors> AnyConnect parent session started.",  # no user, no IP
    b"<164>%ASA-4-722051: garbage",
    b"<166>%ASA-6-113039:",
    b"\x00\xff\xfe<13>\x1b[31m PP[ANONYMOUS",
    b"",
    b"date= time= type= subtype=",
]


def test_malformed_vpn_lines_are_counted_as_unknown_never_sessions() -> None:
    parsers = load_parsers()
    results = [parsers.parse(record(raw)) for raw in MALFORMED]
    assert all(r is None for r in results), results
    assert parsers.unknown == len(MALFORMED) and parsers.failed == 0


def test_damaged_real_lines_never_raise_and_never_invent_addresses() -> None:
    """Every real line above with bytes cut, swapped or replaced (a fixed seed): each is a session event with only
    addresses that parse, recognised with nothing, or counted as unknown; no parser raises."""
    rng = random.Random(12)
    lines = [raw for raw, _ in RTX + ASA] + [
        fgt("0101039947", "SSL VPN tunnel up", "tunnel-up", "ssl-tunnel", 'tunnelip=10.212.134.200 user="v"')
    ]
    parsers = load_parsers()
    total = 0
    for raw in lines:
        for _ in range(150):
            data = bytearray(raw)
            for _ in range(rng.randint(1, 6)):
                at = rng.randrange(len(data))
                choice = rng.random()
                if choice < 0.4:
                    data[at] = rng.randrange(256)
                elif choice < 0.7:
                    del data[at : at + rng.randint(1, 8)]
                else:
                    data[at:at] = rng.choice([b"<", b">", b"'", b"=", b'"', b"\n", b"\x00", b"[", b"]"])
            total += 1
            found = parsers.parse(record(bytes(data)))
            if found is None:
                continue
            for item in found[1]:
                if isinstance(item, VpnEvent):
                    import ipaddress

                    for address in (item.remote_ip, item.assigned_ip):
                        if address is not None:
                            ipaddress.ip_address(address)
    assert parsers.failed == 0
    assert parsers.unknown + sum(parsers.recognised.values()) == total
    assert parsers.unknown > 0
