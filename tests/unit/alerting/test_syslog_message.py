"""The syslog action's RFC 5424 message: header, PRI, structured data and its escaping, hostile values."""

from __future__ import annotations

import re

import pytest

from mamori.alerting.base import Notification
from mamori.alerting.syslog import SD_ID, format_message
from mamori.model import Alert, Severity
from mamori.rules.render import summary


def alert(**changes: object) -> Alert:
    fields: dict[str, object] = {
        "uid": "a-1",
        "rule": "port-scan",
        "key": "k",
        "severity": Severity.MEDIUM,
        "first_seen": 1795400100.0,
        "last_seen": 1795400162.5,
        "count": 12,
        "src_ip": "192.168.10.50",
        "dst_ip": "192.168.10.11",
        "system": "検査システム",
    }
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def message(a: Alert, event: str = "new", facility: int = 4, hostname: str = "sensor-1") -> str:
    raw = format_message(Notification(a, event), facility=facility, app_name="mamori", hostname=hostname, procid=4242)
    return raw.decode("utf-8")


# RFC 5424 §6: HEADER SP STRUCTURED-DATA SP MSG, with SD-PARAMs whose values escape '"', '\' and ']'.
_SYSLOG = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    r"\[(?P<sdid>\S+)(?P<params>(?: [^ =\]\"]+=\"(?:[^\"\\\]]|\\.)*\")*)\] (?P<msg>.*)$",
    re.DOTALL,
)
_PARAM = re.compile(r' ([^ =\]"]+)="((?:[^"\\\]]|\\.)*)"')


def parse(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """A strict parser: header fields and the SD params with their escapes undone."""
    match = _SYSLOG.match(text)
    assert match, text
    params = {name: re.sub(r"\\(.)", r"\1", value) for name, value in _PARAM.findall(match["params"])}
    return match.groupdict(), params


def test_header_and_structured_data() -> None:
    header, params = parse(message(alert()))
    assert header["pri"] == str(4 * 8 + 4)  # security/auth, warning
    assert header["ts"] == "2026-11-23T02:16:02.500000Z"
    assert (header["host"], header["app"], header["procid"], header["msgid"]) == (
        "sensor-1",
        "mamori",
        "4242",
        "port-scan",
    )
    assert header["sdid"] == SD_ID == "mamori@32473"
    a = alert()
    assert header["msg"] == f"\ufeff{summary(a, 'ja')} / {summary(a, 'en')}"  # rendered now, both languages
    assert "ポートスキャン" in header["msg"] and "Port scan" in header["msg"]
    assert params == {
        "uid": "a-1",
        "rule": "port-scan",
        "severity": "medium",
        "event": "new",
        "count": "12",
        "src_ip": "192.168.10.50",
        "dst_ip": "192.168.10.11",
        "system": "検査システム",
        "first_seen": "2026-11-23T02:15:00+00:00",
        "last_seen": "2026-11-23T02:16:02.500000+00:00",
    }  # absent values (src_mac, dst_port) are left out


@pytest.mark.parametrize(
    ("severity", "code"),
    [(Severity.CRITICAL, 2), (Severity.HIGH, 3), (Severity.MEDIUM, 4), (Severity.LOW, 5), (Severity.INFO, 6)],
)
@pytest.mark.parametrize("facility", [0, 4, 16, 23])
def test_pri_is_facility_and_severity(severity: Severity, code: int, facility: int) -> None:
    header, _ = parse(message(alert(severity=severity), facility=facility))
    assert int(header["pri"]) == facility * 8 + code


def test_sd_values_are_escaped() -> None:
    text = message(alert(system='a"b\\c]d'))
    assert 'system="a\\"b\\\\c\\]d"' in text
    assert parse(text)[1]["system"] == 'a"b\\c]d'


HOSTILE = [
    "\n<13>1 2026-01-01T00:00:00Z fake app - - - forged",
    '"] [evil@1 x="y"]',
    "; rm -rf / #",
    "$(touch /tmp/pwned-syslog) `id`",
    "a\\",
    "\r\n\x00\x1b[31m\x85\u2028\u2029\x7f",
    "\udcff lone surrogate",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_cannot_break_the_message(value: str) -> None:
    a = alert(system=value, src_mac=value, rule="port-scan")  # the system name reaches the summary too
    raw = format_message(Notification(a, "new"), facility=4, app_name="mamori", hostname="h", procid=1)
    assert not any(b < 0x20 or b == 0x7F for b in raw)  # no CR, LF, NUL or other control byte
    text = raw.decode("utf-8")
    assert text.startswith("<36>1 ")
    header, params = parse(text)
    assert header["sdid"] == SD_ID and set(params) >= {"uid", "system", "src_mac"}
    cleaned = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", "\ufffd", value).replace("\udcff", "?")
    assert params["system"] == cleaned
    assert header["msg"].count(cleaned) == 2  # in the Japanese and the English summary, cleaned the same way


def test_header_fields_are_printable_ascii() -> None:
    text = message(alert(rule="rule with spaces and 日本語 and a very long tail beyond 32"), hostname="センサー 1")
    header, _ = parse(text)
    assert header["host"] == "_____1"
    assert len(header["msgid"]) == 32 and header["msgid"].isascii() and " " not in header["msgid"]
    assert parse(message(alert(), hostname=""))[0]["host"] == "-"


def test_long_values_are_bounded() -> None:
    text = message(alert(system="x" * 5000))
    _, params = parse(text)
    assert len(params["system"]) == 512 and params["system"].endswith("…")
    assert len(text.encode()) < 4000
