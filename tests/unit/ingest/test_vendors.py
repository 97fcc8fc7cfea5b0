"""Vendor parsers: permit/deny lines of each listed device family -> ConnectionAttempt.

The lines are written from the vendors' public documentation of their log formats (Yamaha's command reference
for IP filter and dynamic-filter logging, Fortinet's FortiOS log reference for traffic logs, Cisco's ASA syslog
message guide and IOS access-list logging, the PAN-OS traffic log field list, AlaxalA's message and log
reference for ACLLOG, and the Linux netfilter LOG target); addresses are from the documentation ranges."""

from __future__ import annotations

from importlib import metadata

import pytest

from mamori.ingest.syslog_parse import SyslogParser
from mamori.ingest.vendors import BUILTIN, load_parsers
from mamori.model import ACK, SYN, ConnectionAttempt, LogRecord

RECEIVED = 1_795_395_605.0


def record(raw: bytes, sender: str = "192.0.2.1") -> LogRecord:
    return SyslogParser(timezone="Asia/Tokyo").parse(raw, RECEIVED, sender, 514, "udp")


def one(raw: bytes, parser: str) -> ConnectionAttempt:
    found = load_parsers().parse(record(raw))
    assert found is not None, raw
    name, attempts = found
    assert name == parser
    assert len(attempts) == 1
    attempt = attempts[0]
    assert attempt.ts == RECEIVED
    return attempt


def fields(a: ConnectionAttempt) -> tuple[object, ...]:
    return (a.action, a.proto, a.src_ip, a.src_port, a.dst_ip, a.dst_port)


# -- Yamaha RTX -------------------------------------------------------------------------------------------------


def test_yamaha_rejected_bare_line() -> None:
    a = one(b"Rejected at IN(2000) filter: TCP 10.1.2.3:51000 > 10.1.9.9:3389", "yamaha-rtx")
    assert fields(a) == ("deny", "tcp", "10.1.2.3", 51000, "10.1.9.9", 3389)
    assert a.flags == SYN
    assert (a.device, a.interface) == ("192.0.2.1", None)  # no header: the sender's address names the device


def test_yamaha_with_interface_and_pri() -> None:
    a = one(b"<134>LAN2 Rejected at IN(200030) filter: UDP 203.0.113.5:48123 > 192.168.100.2:137", "yamaha-rtx")
    assert fields(a) == ("deny", "udp", "203.0.113.5", 48123, "192.168.100.2", 137)
    assert (a.interface, a.flags) == ("LAN2", 0)


def test_yamaha_passed_on_pp_interface() -> None:
    a = one(b"PP[01] Passed at OUT(2000) filter: TCP 192.168.100.2:53000 > 198.51.100.1:443", "yamaha-rtx")
    assert fields(a) == ("allow", "tcp", "192.168.100.2", 53000, "198.51.100.1", 443)
    assert a.interface == "PP[01]"


def test_yamaha_inspect_is_an_allowed_session() -> None:
    raw = b"<13> [INSPECT] LAN2[out][101098] TCP 192.168.100.2:49282 > 203.0.113.1:80 (2026/11/23 10:00:00)"
    a = one(raw, "yamaha-rtx")
    assert fields(a) == ("allow", "tcp", "192.168.100.2", 49282, "203.0.113.1", 80)
    assert a.interface == "LAN2"


def test_yamaha_icmp_is_recognised_but_not_a_connection() -> None:
    found = load_parsers().parse(record(b"Rejected at IN(100) filter: ICMP 10.1.2.3 > 10.1.9.9 : echo request"))
    assert found == ("yamaha-rtx", ())


# -- FortiGate --------------------------------------------------------------------------------------------------

FORTI = (
    b'<189>date=2026-11-23 time=10:00:00 devname="FGT60F" devid="FGT60FTK0000000" eventtime=1795395600000000000 '
    b'tz="+0900" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=10.1.2.3 '
    b'srcport=51000 srcintf="port1" srcintfrole="lan" dstip=10.1.9.9 dstport=3389 dstintf="port2" '
    b'dstintfrole="lan" sessionid=12345 proto=6 action="%s" policyid=%d policytype="policy" service="RDP"'
)


def test_fortigate_deny() -> None:
    a = one(FORTI % (b"deny", 0), "fortigate")
    assert fields(a) == ("deny", "tcp", "10.1.2.3", 51000, "10.1.9.9", 3389)
    assert (a.device, a.interface) == ("FGT60F", "port1")


@pytest.mark.parametrize("action", [b"accept", b"close", b"timeout", b"server-rst", b"client-rst"])
def test_fortigate_sessions_let_through(action: bytes) -> None:
    assert one(FORTI % (action, 7), "fortigate").action == "allow"


def test_fortigate_event_log_is_not_traffic() -> None:
    raw = b'<189>date=2026-11-23 time=10:00:00 devname="FGT60F" logid="0100032001" type="event" subtype="system"'
    assert load_parsers().parse(record(raw)) is None


# -- Cisco ASA --------------------------------------------------------------------------------------------------


def test_asa_106023_deny_by_access_group() -> None:
    raw = (
        b"<164>Nov 23 2026 10:00:00: %ASA-4-106023: Deny tcp src outside:10.1.2.3/51000 dst inside:10.1.9.9/3389 "
        b'by access-group "OUTSIDE_IN" [0x0, 0x0]'
    )
    a = one(raw, "cisco-asa")
    assert fields(a) == ("deny", "tcp", "10.1.2.3", 51000, "10.1.9.9", 3389)
    assert a.interface == "outside"


def test_asa_106001_inbound_denied_with_flags() -> None:
    raw = (
        b"<162>%ASA-2-106001: Inbound TCP connection denied from 10.1.2.3/51000 to 10.1.9.9/445 flags SYN ACK "
        b"on interface outside"
    )
    a = one(raw, "cisco-asa")
    assert fields(a) == ("deny", "tcp", "10.1.2.3", 51000, "10.1.9.9", 445)
    assert a.flags == SYN | ACK


def test_asa_106006_udp_deny() -> None:
    a = one(
        b"<162>%ASA-2-106006: Deny inbound UDP from 10.1.2.3/5000 to 10.1.9.9/161 on interface outside", "cisco-asa"
    )
    assert fields(a) == ("deny", "udp", "10.1.2.3", 5000, "10.1.9.9", 161)


def test_asa_106100_permitted_and_denied() -> None:
    raw = (
        b"<166>%%ASA-6-106100: access-list OUT %s tcp outside/10.1.2.3(51000) -> inside/10.1.9.9(3389) hit-cnt 1 "
        b"first hit [0x1f2e3d4c, 0x0]"
    )
    assert one(raw % b"denied", "cisco-asa").action == "deny"
    assert fields(one(raw % b"permitted", "cisco-asa")) == ("allow", "tcp", "10.1.2.3", 51000, "10.1.9.9", 3389)


def test_asa_302013_inbound_and_outbound_directions() -> None:
    inbound = (
        b"<166>%ASA-6-302013: Built inbound TCP connection 123 for outside:10.1.2.3/51000 (10.1.2.3/51000) to "
        b"inside:10.1.9.9/3389 (10.1.9.9/3389)"
    )
    assert fields(one(inbound, "cisco-asa")) == ("allow", "tcp", "10.1.2.3", 51000, "10.1.9.9", 3389)
    outbound = (
        b"<166>Nov 23 2026 10:00:01 asa1 : %ASA-6-302015: Built outbound UDP connection 124 for "
        b"outside:198.51.100.53/53 (198.51.100.53/53) to inside:10.1.9.9/53000 (203.0.113.9/53000)"
    )
    a = one(outbound, "cisco-asa")
    assert fields(a) == ("allow", "udp", "10.1.9.9", 53000, "198.51.100.53", 53)
    assert a.interface == "inside"


def test_asa_710003_to_the_box() -> None:
    raw = b"<163>%ASA-3-710003: TCP access denied by ACL from 10.1.2.3/51000 to outside:198.51.100.1/22"
    assert fields(one(raw, "cisco-asa")) == ("deny", "tcp", "10.1.2.3", 51000, "198.51.100.1", 22)


def test_asa_other_message_is_recognised_without_connection() -> None:
    found = load_parsers().parse(record(b"<166>%ASA-6-305011: Built dynamic TCP translation from inside:10.1.9.9/1"))
    assert found == ("cisco-asa", ())


# -- Cisco IOS --------------------------------------------------------------------------------------------------


def test_ios_access_list_log_denied() -> None:
    raw = (
        b"<189>123: *Nov 23 10:00:00.123: %SEC-6-IPACCESSLOGP: list 101 denied tcp 10.1.2.3(51000) -> "
        b"10.1.9.9(3389), 1 packet"
    )
    assert fields(one(raw, "cisco-ios")) == ("deny", "tcp", "10.1.2.3", 51000, "10.1.9.9", 3389)


def test_ios_log_input_gives_interface_and_mac() -> None:
    raw = (
        b"<190>45: router1: Nov 23 10:00:00 JST: %SEC-6-IPACCESSLOGP: list ACL-IN permitted udp 10.1.2.3(5000) "
        b"(GigabitEthernet0/1 0011.2233.4455) -> 10.1.9.9(53), 5 packets"
    )
    a = one(raw, "cisco-ios")
    assert fields(a) == ("allow", "udp", "10.1.2.3", 5000, "10.1.9.9", 53)
    assert (a.interface, a.src_mac) == ("GigabitEthernet0/1", "00:11:22:33:44:55")


def test_ios_ipv6_acl() -> None:
    raw = (
        b"<190>%IPV6_ACL-6-ACCESSLOGP: list V6-IN/20 denied tcp 2001:DB8::1(51000) (Ethernet0/0) -> "
        b"2001:DB8::9(22), 1 packet"
    )
    a = one(raw, "cisco-ios")
    assert fields(a) == ("deny", "tcp", "2001:db8::1", 51000, "2001:db8::9", 22)


def test_ios_icmp_and_standard_acl_have_no_ports() -> None:
    icmp = b"<190>%SEC-6-IPACCESSLOGDP: list 101 denied icmp 10.1.2.3 -> 10.1.9.9 (8/0), 1 packet"
    assert load_parsers().parse(record(icmp)) == ("cisco-ios", ())
    standard = b"<190>%SEC-6-IPACCESSLOGS: list 10 denied 10.1.2.3 1 packet"
    assert load_parsers().parse(record(standard)) == ("cisco-ios", ())


# -- Palo Alto --------------------------------------------------------------------------------------------------

PAN = (
    b"<14>Nov 23 10:00:00 PA-220 1,2026/11/23 10:00:00,012801012345,TRAFFIC,%s,2561,2026/11/23 10:00:00,"
    b"10.1.2.3,10.1.9.9,0.0.0.0,0.0.0.0,rule-%s,,,not-applicable,vsys1,trust,servers,ethernet1/2,ethernet1/3,"
    b"Forward,2026/11/23 10:00:00,0,1,51000,3389,0,0,0x0,tcp,%s,60,60,0,1,2026/11/23 10:00:00,0,any,0,1234,0x0,"
    b"10.0.0.0-10.255.255.255,10.0.0.0-10.255.255.255,0,1,0,policy-deny"
)


def test_paloalto_drop_and_allow() -> None:
    a = one(PAN % (b"drop", b"x", b"deny"), "paloalto")
    assert fields(a) == ("deny", "tcp", "10.1.2.3", 51000, "10.1.9.9", 3389)
    assert (a.device, a.interface) == ("PA-220", "ethernet1/2")
    assert one(PAN % (b"end", b"y", b"allow"), "paloalto").action == "allow"
    assert one(PAN % (b"deny", b"z", b"reset-both"), "paloalto").action == "deny"


def test_paloalto_quoted_field_with_comma() -> None:
    raw = PAN.replace(b"rule-%s", b'"rule, with comma"') % (b"end", b"allow")
    assert one(raw, "paloalto").action == "allow"


def test_paloalto_line_break_in_a_field_is_not_a_traffic_line() -> None:
    """Found by the mutation fuzz test: the csv module raised on a carriage return inside an unquoted field."""
    raw = PAN.replace(b"rule-%s", b'"rule, with comma"').replace(b"vsys1", b"vs\rys1") % (b"end", b"allow")
    parsers = load_parsers()
    assert parsers.parse(record(raw)) is None
    assert (parsers.failed, parsers.unknown) == (0, 1)


# -- AlaxalA ----------------------------------------------------------------------------------------------------


def test_alaxala_acl_log_with_vlan_port_and_interface() -> None:
    a = one(b"<190>Nov 23 10:00:00 ax3650 denied:(10)6 10.1.2.3(51000)(1/0/5) -> 10.1.9.9(3389), 1 packets", "alaxala")
    assert fields(a) == ("deny", "tcp", "10.1.2.3", 51000, "10.1.9.9", 3389)
    assert (a.vlan, a.interface, a.device) == (10, "1/0/5", "ax3650")


def test_alaxala_without_vlan_and_udp_by_number() -> None:
    a = one(b"denied:17 10.1.2.3(5000) -> 10.1.9.9(161), 3 packets", "alaxala")
    assert fields(a) == ("deny", "udp", "10.1.2.3", 5000, "10.1.9.9", 161)
    assert a.vlan is None


def test_alaxala_protocol_without_ports() -> None:
    assert load_parsers().parse(record(b"denied:1 10.1.2.3 -> 10.1.9.9, 1 packets")) == ("alaxala", ())


# -- netfilter --------------------------------------------------------------------------------------------------

NF = (
    b"<4>Nov 23 10:00:00 fw kernel: [12345.678901] %s IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:ab:cd:ef:08:00 "
    b"SRC=10.1.2.3 DST=10.1.9.9 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=54321 DF PROTO=TCP SPT=51000 DPT=3389 "
    b"WINDOW=64240 RES=0x00 SYN URGP=0"
)


def test_netfilter_drop_with_mac_and_flags() -> None:
    a = one(NF % b"DROP-IN:", "netfilter")
    assert fields(a) == ("deny", "tcp", "10.1.2.3", 51000, "10.1.9.9", 3389)
    assert (a.src_mac, a.interface, a.flags, a.device) == ("52:54:00:ab:cd:ef", "eth0", SYN, "fw")


def test_netfilter_accept_prefix_and_udp() -> None:
    raw = b"nft ACCEPT: IN=ens3 OUT= SRC=10.1.2.3 DST=10.1.9.9 LEN=40 PROTO=UDP SPT=5353 DPT=53 LEN=20"
    a = one(raw, "netfilter")
    assert fields(a) == ("allow", "udp", "10.1.2.3", 5353, "10.1.9.9", 53)


# -- the registry -----------------------------------------------------------------------------------------------


def test_unknown_lines_are_counted_not_dropped() -> None:
    parsers = load_parsers()
    assert parsers.parse(record(b"<13>Nov 23 10:00:00 host sshd[1]: Accepted publickey for root")) is None
    assert parsers.unknown == 1


def test_unknown_parser_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown log parser.*known: yamaha-rtx"):
        load_parsers(["no-such-device"])


def test_choose_parsers_by_name() -> None:
    parsers = load_parsers(["fortigate"])
    assert parsers.names == ["fortigate"]
    assert parsers.parse(record(b"Rejected at IN(1) filter: TCP 10.1.2.3:1 > 10.1.9.9:2")) is None


class _PluginParser:
    name = "my-firewall"

    def parse(self, rec: LogRecord) -> tuple[ConnectionAttempt, ...] | None:
        if "MYFW" not in rec.message:
            return None
        return (ConnectionAttempt(rec.received_at, None, None, "10.9.9.9", "10.1.1.1", "tcp", 1, 22, action="deny"),)


def test_plugin_parsers_load_through_entry_points() -> None:
    ep = metadata.EntryPoint(name="my-firewall", value=f"{__name__}:_PluginParser", group="mamori.log_parsers")
    clash = metadata.EntryPoint(name="fortigate", value=f"{__name__}:_PluginParser", group="mamori.log_parsers")
    parsers = load_parsers(entry_points=lambda: [ep, clash])
    assert parsers.names == [*BUILTIN, "my-firewall"]  # a plugin never replaces a built-in
    found = parsers.parse(record(b"<13>MYFW drop"))
    assert found is not None and found[0] == "my-firewall" and found[1][0].dst_port == 22


class _BrokenParser:
    name = "broken"

    def parse(self, rec: LogRecord) -> None:
        raise RuntimeError("bug")


def test_a_failing_plugin_does_not_stop_parsing() -> None:
    ep = metadata.EntryPoint(name="broken", value=f"{__name__}:_BrokenParser", group="mamori.log_parsers")
    parsers = load_parsers(["broken", "yamaha-rtx"], entry_points=lambda: [ep])
    found = parsers.parse(record(b"Rejected at IN(1) filter: TCP 10.1.2.3:1 > 10.1.9.9:2"))
    assert found is not None and found[0] == "yamaha-rtx"
    assert parsers.failed == 1
