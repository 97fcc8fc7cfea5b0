"""The LAN-threat detectors on frames built byte by byte and decoded by the real decoder (the protocols the
namespace test does not drive: POP3, IMAP, SNMP, LDAP, NTLMv1, telnet; password reuse; the cases that must not
alert)."""

from __future__ import annotations

import base64
import json
import struct
import tempfile
from pathlib import Path

import pytest

from mamori.capture.decode import Decoder
from mamori.config import settings_from_text
from mamori.errors import ConfigError
from mamori.model import ACK, PSH, RST, SYN, Alert, CleartextLogin, PacketData
from mamori.runtime import analyze_captures
from mamori.runtime.lan import capture_plan
from mamori.testing.pcapbuilder import PcapWriter, eth, ipv4, tcp, udp

C_MAC, S_MAC, X_MAC = "02:16:00:00:00:20", "02:16:00:00:00:10", "02:16:00:00:00:66"
CLIENT, SERVER, SERVER2 = "10.16.0.20", "10.16.0.10", "10.16.0.11"
SITE = f"""
systems:
  - name: 検査システム
    servers: [{{ip: {SERVER}, mac: "{S_MAC}"}}]
    ports: [6000]
    terminals: [{{name: pc, mac: "{C_MAC}", ip: {CLIENT}}}]
segments:
  - {{name: lan, cidrs: [10.16.0.0/24], zone: sz, dhcp_servers: [{SERVER}]}}
detection:
  cleartext: {{enabled: true, protocols: [ftp, telnet, http, pop3, imap, snmp, ldap, ntlm]}}
  tcp_reset_injection: {{enabled: true, sample_bits: 0}}
  exposure: {{passive: false}}
"""


class Sink:
    def __init__(self) -> None:
        self.seen: list[CleartextLogin] = []

    def logins(self, logins: list[CleartextLogin]) -> None:
        self.seen.extend(logins)


def frame(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    payload: bytes = b"",
    flags: int = PSH | ACK,
    *,
    seq: int = 1000,
    ack: int = 5000,
    ttl: int = 64,
    ident: int = 0,
    smac: str | None = None,
) -> bytes:
    smac = smac or (C_MAC if src == CLIENT else S_MAC)
    dmac = S_MAC if smac != S_MAC else C_MAC
    segment = tcp(src, dst, sport, dport, flags, seq=seq, ack=ack, payload=payload, options=b"")
    return eth(dmac, smac, 0x0800, ipv4(src, dst, 6, segment, ttl=ttl, ident=ident))


def run(frames: list[bytes], site: str = SITE) -> tuple[list[Alert], Sink]:
    """The frames through libpcap with the sensor's kernel filter for these settings, the decoder and the
    detectors (`mamori analyze`'s path)."""
    settings = settings_from_text(site)
    with tempfile.TemporaryDirectory() as folder:
        pcap = Path(folder) / "lan.pcap"
        with PcapWriter(pcap) as writer:
            for i, f in enumerate(frames):
                writer.write(1_000 + i, f)
        sink = Sink()
        result = analyze_captures(settings, [pcap], salt=b"s" * 16, logins=sink)
    assert result.files[0].matched == len(frames), "the kernel filter let every frame of these tests through"
    return result.alerts, sink


def dialogue(dport: int, *lines: bytes, server: str = SERVER, sport: int = 40000) -> list[bytes]:
    return [frame(CLIENT, server, sport, dport, line) for line in lines]


def cleartext(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.rule == "cleartext-credentials"]


def test_pop3_user_pass_and_imap_login_name_the_account_never_the_password() -> None:
    frames = dialogue(110, b"USER nurse1\r\n", b"PASS pop-secret\r\n")
    frames += dialogue(143, b'a1 LOGIN "dr \\"house\\"" "imap secret"\r\n', sport=40001)
    alerts, sink = run(frames)
    found = {a.details.protocol: a for a in cleartext(alerts)}
    assert found["pop3"].details.accounts == ("nurse1",)
    assert found["imap"].details.accounts == ('dr "house"',)
    text = json.dumps([dict(a.details) for a in alerts] + [a.samples for a in alerts], default=str)
    assert "pop-secret" not in text and "imap secret" not in text
    assert [login.account for login in sink.seen] == ["nurse1", 'dr "house"']
    assert all(login.password_tag and len(login.password_tag) == 6 for login in sink.seen)


def test_sasl_plain_on_the_next_line_and_anonymous_ftp() -> None:
    plain = base64.b64encode(b"\0labuser\0plain-pw")
    frames = dialogue(143, b"a2 AUTHENTICATE PLAIN\r\n", plain + b"\r\n")
    frames += dialogue(21, b"USER anonymous\r\n", b"PASS guest@example\r\n", sport=40002)
    alerts, _ = run(frames)
    assert [(a.details.protocol, a.details.accounts) for a in cleartext(alerts)] == [("imap", ("labuser",))]


def test_snmp_community_ldap_simple_bind_and_ntlmv1() -> None:
    community = b"public-i16"
    pdu = bytes.fromhex("a019020101020100020100300e300c06082b060102010101000500")
    snmp = b"\x30" + bytes([3 + 2 + len(community) + len(pdu)]) + b"\x02\x01\x01\x04" + bytes([len(community)])
    snmp += community + pdu
    dn, pw = b"cn=admin,dc=hospital", b"ldap-pw"
    bind = b"\x02\x01\x03\x04" + bytes([len(dn)]) + dn + b"\x80" + bytes([len(pw)]) + pw
    ldap = b"\x30" + bytes([3 + 2 + len(bind)]) + b"\x02\x01\x01\x60" + bytes([len(bind)]) + bind
    user, domain = "nurse2".encode("utf-16-le"), "WARD".encode("utf-16-le")
    body_at = 64
    lm, nt = b"\x11" * 24, b"\x22" * 24
    fields = b""
    offset = body_at
    for blob in (lm, nt, domain, user, b""):
        fields += struct.pack("<HHI", len(blob), len(blob), offset)
        offset += len(blob)
    session_key = struct.pack("<HHI", 0, 0, offset)
    ntlm = b"NTLMSSP\x00\x03\x00\x00\x00" + fields + session_key + struct.pack("<I", 0x1)  # flags: Unicode
    ntlm = ntlm.ljust(body_at, b"\0") + lm + nt + domain + user
    smb2 = b"\xfeSMB" + struct.pack("<HHIH", 64, 0, 0, 1)  # SMB2 header, command 1: SESSION_SETUP
    setup = smb2.ljust(64, b"\0") + struct.pack("<HBBIIHHQ", 25, 0, 1, 0, 0, 88, len(ntlm), 0) + ntlm
    smb = struct.pack("!I", len(setup)) + setup
    frames = [
        eth(S_MAC, C_MAC, 0x0800, ipv4(CLIENT, SERVER, 17, udp(CLIENT, SERVER, 50000, 161, snmp))),
        frame(CLIENT, SERVER, 40003, 389, ldap),
        frame(CLIENT, SERVER, 40004, 445, smb),
    ]
    alerts, _ = run(frames)
    found = {a.details.protocol: a for a in cleartext(alerts)}
    assert sorted(found) == ["ldap", "ntlmv1", "snmp-v2c"]
    assert found["ldap"].details.accounts == ("cn=admin,dc=hospital",)
    assert found["ntlmv1"].details.accounts == ("WARD\\nurse2",)
    assert found["ntlmv1"].details.password_tags == ()
    assert len(found["snmp-v2c"].details.password_tags) == 1


def test_telnet_login_dialogue_with_option_negotiation_and_a_character_per_packet() -> None:
    frames = [frame(SERVER, CLIENT, 23, 40005, b"\xff\xfd\x18\xff\xfb\x01Debian\r\nhost login: ")]
    frames += [frame(CLIENT, SERVER, 40005, 23, bytes([c])) for c in b"opx\x7ferator\r\x00"]
    frames += [frame(SERVER, CLIENT, 23, 40005, b"operator\r\nPassword: ")]
    frames += [frame(CLIENT, SERVER, 40005, 23, bytes([c])) for c in b"tel-pw\r\n"]
    alerts, _ = run(frames)
    (alert,) = cleartext(alerts)
    assert alert.details.protocol == "telnet"
    assert alert.details.accounts == ("operator",)


def test_one_password_on_two_servers_is_reuse_on_both_alerts() -> None:
    basic = b"Authorization: Basic " + base64.b64encode(b"admin:same-pw") + b"\r\n"
    frames = dialogue(80, b"GET / HTTP/1.1\r\nHost: a\r\n" + basic + b"\r\n")
    frames += dialogue(21, b"USER admin\r\n", b"PASS same-pw\r\n", server=SERVER2, sport=40006)
    alerts, _ = run(frames)
    reuse = {a.dst_ip: a.details.reused_on for a in cleartext(alerts)}
    assert reuse == {SERVER: (SERVER2,), SERVER2: (SERVER,)}
    tags = {a.details.password_tags for a in cleartext(alerts)}
    assert len(tags) == 1


def test_many_logins_of_one_terminal_to_one_server_are_one_alert() -> None:
    frames: list[bytes] = []
    for n in range(30):
        frames += dialogue(21, b"USER clerk\r\n", f"PASS pw-{n}\r\n".encode(), sport=41000 + n)
    (alert,) = cleartext(run(frames)[0])
    assert alert.count == 30 and alert.details.logins == 30
    assert len(alert.details.password_tags) == 10  # bounded


def test_the_endpoint_s_own_reset_is_not_an_injection_but_a_foreign_ttl_is() -> None:
    handshake = [
        frame(CLIENT, SERVER, 40100, 6000, flags=SYN, seq=100, ack=0),
        frame(SERVER, CLIENT, 6000, 40100, flags=SYN | ACK, seq=900, ack=101),
        frame(CLIENT, SERVER, 40100, 6000, b"x" * 50, seq=101, ack=901),
    ]
    own = frame(CLIENT, SERVER, 40100, 6000, flags=RST | ACK, seq=151, ack=901)
    alerts, _ = run([*handshake, own])
    assert [a for a in alerts if a.rule == "tcp-reset-injection"] == []
    forged = frame(CLIENT, SERVER, 40100, 6000, flags=RST | ACK, seq=151, ack=901, ttl=128)
    (alert,) = [a for a in run([*handshake, forged])[0] if a.rule == "tcp-reset-injection"]
    assert alert.details.reasons == ("ttl-mismatch",)
    assert alert.details.expected_ttl == 64 and alert.details.seen_ttls == (128,)


def test_a_reset_with_the_endpoint_s_mac_and_ttl_but_a_guessed_sequence_number() -> None:
    isn, wrap = 4_294_900_000, 1 << 32
    later = (isn + 1 + 100 + 200_000) % wrap  # the sequence numbers wrapped past 2**32 meanwhile
    frames = [
        frame(CLIENT, SERVER, 40200, 6000, flags=SYN, seq=isn, ack=0),
        frame(SERVER, CLIENT, 6000, 40200, flags=SYN | ACK, seq=77, ack=isn + 1),
        frame(CLIENT, SERVER, 40200, 6000, b"y" * 100, seq=isn + 1, ack=78),
        frame(CLIENT, SERVER, 40200, 6000, b"w" * 10, seq=later, ack=78),
        frame(CLIENT, SERVER, 40200, 6000, flags=RST, seq=later + 10),  # its own: fine
        frame(CLIENT, SERVER, 40200, 6000, flags=RST, seq=123_456_789),  # a guess
        frame(CLIENT, SERVER, 40200, 6000, flags=RST, seq=(later - 200_000) % wrap),  # far behind
    ]
    (alert,) = [a for a in run(frames)[0] if a.rule == "tcp-reset-injection"]
    assert alert.details.reasons == ("seq-out-of-window",)
    assert alert.count == 2


def test_the_registered_dhcp_server_is_not_rogue_and_a_rogue_naming_it_as_server_id_is() -> None:
    reply = bytearray(300)
    reply[0] = 2
    reply[16:20] = bytes([10, 16, 0, 100])
    reply[236:240] = b"\x63\x82\x53\x63"
    reply[240:249] = b"\x35\x01\x02\x36\x04" + bytes([10, 16, 0, 10])
    reply[249] = 255
    legit = eth(C_MAC, S_MAC, 0x0800, ipv4(SERVER, "10.16.0.100", 17, udp(SERVER, "10.16.0.100", 67, 68, bytes(reply))))
    rogue = eth(
        C_MAC, X_MAC, 0x0800, ipv4("10.16.0.66", "10.16.0.100", 17, udp("10.16.0.66", CLIENT, 67, 68, bytes(reply)))
    )
    alerts, _ = run([legit])
    assert alerts == []
    (alert,) = run([legit, rogue])[0]
    assert alert.rule == "rogue-dhcp" and alert.src_mac == X_MAC


def test_the_decoder_without_a_watch_makes_no_packet_data_and_the_same_header_observations() -> None:
    frames = [*dialogue(21, b"USER a\r\n", b"PASS b\r\n"), frame(CLIENT, SERVER, 40100, 6000, flags=SYN)]
    buf = b"".join(frames)
    records, off = [], 0
    for f in frames:
        records.append((1, 0, off, len(f)))
        off += len(f)
    plain, _ = Decoder(1).decode_batch(buf, records)
    watch = capture_plan(settings_from_text(SITE)).watch
    watched, _ = Decoder(1, watch).decode_batch(buf, records)
    assert not any(isinstance(o, PacketData) for o in plain)
    assert [o for o in watched if not isinstance(o, PacketData)] == plain
    assert sum(isinstance(o, PacketData) for o in watched) == 2  # two FTP lines; a followed SYN is not read


def test_a_bad_dhcp_server_or_router_entry_names_its_line_and_field() -> None:
    text = """\
segments:
  - {name: a, cidrs: [10.1.0.0/24], zone: sz, dhcp_servers: [10.1.0.1, nope]}
  - {name: b, cidrs: [10.2.0.0/24], zone: sz, routers_v6: ["fe80::1", "02:00:00:00:00:01", 7.7]}
detection: {cleartext: {protocols: [ftp, gopher]}}
"""
    with pytest.raises(ConfigError) as caught:
        settings_from_text(text, source="site.yaml")
    found = {(p.line, p.field): p.message for p in caught.value.problems}
    assert set(found) == {
        (2, "segments[0].dhcp_servers[1]"),
        (3, "segments[1].routers_v6[2]"),
        (4, "detection.cleartext.protocols[1]"),
    }
    assert "neither an IP address nor a MAC address" in found[(2, "segments[0].dhcp_servers[1]")]
