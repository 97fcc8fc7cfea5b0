"""The syslog line parser: RFC 5424, RFC 3164 (BSD), bare lines, UTF-8 and Shift_JIS.

Example lines follow RFC 5424 §6.5 and RFC 3164 §5.4, and the forms devices actually send (rsyslog's forwarding
format with an RFC 3339 time, a Yamaha RTX router's PRI without header, Cisco's sequence numbers)."""

from __future__ import annotations

import datetime as dt

import pytest

from mamori.ingest.syslog_parse import SyslogParser, decode, parse_structured_data

TOKYO = dt.timezone(dt.timedelta(hours=9))
RECEIVED = dt.datetime(2026, 11, 23, 10, 0, 5, tzinfo=TOKYO).timestamp()


@pytest.fixture
def parser() -> SyslogParser:
    return SyslogParser(timezone="Asia/Tokyo")


def parse(parser: SyslogParser, raw: bytes):
    return parser.parse(raw, RECEIVED, "192.0.2.10", 51514, "udp")


def test_rfc5424_with_structured_data_and_bom(parser: SyslogParser) -> None:
    raw = (
        b'<165>1 2026-11-23T10:00:00.003+09:00 mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
        b'eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] '
        b"\xef\xbb\xbfAn application event"
    )
    rec = parse(parser, raw)
    assert rec.format == "rfc5424"
    assert (rec.facility, rec.severity) == (20, 5)
    assert rec.timestamp == pytest.approx(dt.datetime(2026, 11, 23, 10, 0, 0, 3000, tzinfo=TOKYO).timestamp())
    assert (rec.hostname, rec.app, rec.procid, rec.msgid) == ("mymachine.example.com", "evntslog", None, "ID47")
    assert rec.structured_data == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "examplePriority@32473": {"class": "high"},
    }
    assert rec.message == "An application event"
    assert (rec.sender, rec.sender_port, rec.transport, rec.raw) == ("192.0.2.10", 51514, "udp", raw)


def test_rfc5424_nil_values_and_escaped_parameters(parser: SyslogParser) -> None:
    rec = parse(parser, b'<34>1 - - - - - [x@1 a="say \\"hi\\" \\] \\\\"]')
    assert rec.format == "rfc5424"
    assert (rec.timestamp, rec.hostname, rec.app, rec.msgid) == (None, None, None, None)
    assert rec.structured_data == {"x@1": {"a": 'say "hi" ] \\'}}
    assert rec.message == ""


def test_structured_data_that_is_not_is_kept_as_text() -> None:
    assert parse_structured_data("[broken no equals] text") == (None, "[broken no equals] text")
    assert parse_structured_data("- msg") == (None, "msg")


def test_rfc3164_with_host_and_tag(parser: SyslogParser) -> None:
    rec = parse(parser, b"<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8\n")
    assert rec.format == "rfc3164"
    assert (rec.facility, rec.severity) == (4, 2)
    assert (rec.hostname, rec.app, rec.procid) == ("mymachine", "su", "230")
    assert rec.message == "'su root' failed for lonvick on /dev/pts/8"
    # no year in RFC 3164: the one nearest the receive time (October 2026 is before November 2026)
    assert dt.datetime.fromtimestamp(rec.timestamp, TOKYO) == dt.datetime(2026, 10, 11, 22, 14, 15, tzinfo=TOKYO)


def test_rfc3164_year_boundary(parser: SyslogParser) -> None:
    new_year = dt.datetime(2027, 1, 1, 0, 0, 3, tzinfo=TOKYO).timestamp()
    rec = parser.parse(b"<13>Dec 31 23:59:59 host app: late", new_year, "192.0.2.1", 514, "udp")
    assert dt.datetime.fromtimestamp(rec.timestamp, TOKYO).year == 2026


def test_rfc3164_with_rfc3339_time_as_rsyslog_forwards(parser: SyslogParser) -> None:
    rec = parse(parser, b"<30>2026-11-23T10:00:00.123456+09:00 web01 nginx[77]: GET /")
    assert rec.format == "rfc3164"
    assert rec.timestamp == pytest.approx(dt.datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=TOKYO).timestamp())
    assert (rec.hostname, rec.app, rec.procid, rec.message) == ("web01", "nginx", "77", "GET /")


def test_cisco_asa_timestamp_with_year(parser: SyslogParser) -> None:
    rec = parse(parser, b"<166>Nov 23 2026 09:59:58: %ASA-6-302013: Built inbound TCP connection 1")
    assert rec.timestamp == dt.datetime(2026, 11, 23, 9, 59, 58, tzinfo=TOKYO).timestamp()
    assert rec.hostname is None
    assert rec.message.startswith("%ASA-6-302013")


def test_cisco_sequence_number_is_not_a_tag(parser: SyslogParser) -> None:
    rec = parse(parser, b"<189>123: *Nov 23 10:00:00.123: %SEC-6-IPACCESSLOGP: list 101 denied tcp")
    assert rec.app is None
    assert "%SEC-6-IPACCESSLOGP" in rec.message


def test_pri_without_header_as_yamaha_rtx_sends(parser: SyslogParser) -> None:
    rec = parse(parser, b"<13> [INSPECT] LAN2[out][200102] TCP 192.168.100.2:40980 > 203.0.113.1:80")
    assert rec.format == "rfc3164"
    assert (rec.facility, rec.severity, rec.timestamp, rec.hostname) == (1, 5, None, None)
    assert rec.message.startswith("[INSPECT] LAN2[out]")


def test_bare_line_without_any_header(parser: SyslogParser) -> None:
    rec = parse(parser, b"Rejected at IN(2000) filter: TCP 10.1.2.3:51000 > 10.1.9.9:3389")
    assert rec.format == "bare"
    assert (rec.facility, rec.severity, rec.timestamp, rec.hostname, rec.app) == (None, None, None, None, None)
    assert rec.message == "Rejected at IN(2000) filter: TCP 10.1.2.3:51000 > 10.1.9.9:3389"


def test_shift_jis_and_utf8_japanese(parser: SyslogParser) -> None:
    sjis = parse(parser, "<13>Nov 23 10:00:00 rtx1 ログインに失敗しました: admin".encode("cp932"))
    assert sjis.encoding == "shift_jis"
    assert sjis.message == "ログインに失敗しました: admin"
    utf8 = parse(parser, "<13>Nov 23 10:00:00 srv1 app: 電子カルテ接続".encode())
    assert utf8.encoding == "utf-8"
    assert utf8.message == "電子カルテ接続"


def test_undecodable_bytes_fall_back_without_raising() -> None:
    text, encoding = decode(b"\x81\x7f\xff bad", "latin-1")
    assert encoding == "latin-1"
    assert text.endswith(" bad")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"<",
        b"<999>x",
        b"<13>",
        b"<13>1 ",
        b"<13>1 2026-13-45T99:99:99Z h a p m -",
        b"\x00\x00",
        b"<13>Nov 99 99:99",
        "<1³4>LAN2 Rejected".encode(),  # found by the mutation fuzz test: "³".isdigit() but int("³") fails
        "<164>Nov 23 ²026 10:00:00: %ASA-4-106023: Deny".encode(),
    ],
)
def test_malformed_lines_never_raise(parser: SyslogParser, raw: bytes) -> None:
    rec = parse(parser, raw)
    assert rec.raw == raw
