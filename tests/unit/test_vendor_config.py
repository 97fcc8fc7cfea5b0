"""Vendors and their work plans in the settings file: every problem reported with its file, line and field, in
Japanese and English, and nothing accepted half-read."""

from __future__ import annotations

import pytest

from mamori.config import settings_from_text
from mamori.errors import ConfigError

GOOD = """\
site: {name: テスト病院, time_zone: Asia/Tokyo}
vendors:
  - name: 透析装置メーカー
    sources: [10.9.0.0/24, 203.0.113.7]
    accounts: [vendor-dia]
    devices: [10.1.0.20, DIA-SRV01]
    work_plans:
      - {start: 2026-11-10T09:00+09:00, end: 2026-11-10T12:00+09:00, targets: [10.1.0.20], ports: [3389]}
      - {every: month, day: 1, time: "10:00", duration: 2h, targets: [10.1.0.20]}
      - {every: week, weekday: tue, time: "13:00", duration: 90m}
"""


def problems(text: str) -> dict[tuple[int, str], str]:
    with pytest.raises(ConfigError) as caught:
        settings_from_text(text, source="site.yaml")
    found = {(p.line, p.field): p.message for p in caught.value.problems}
    assert all(str(p).startswith(f"site.yaml:{p.line}:") for p in caught.value.problems)
    return found


def test_the_issue_form_is_read() -> None:
    (vendor,) = settings_from_text(GOOD).site.vendors
    assert vendor.sources == ("10.9.0.0/24", "203.0.113.7/32") and vendor.devices == ("10.1.0.20", "DIA-SRV01")
    once, monthly, weekly = vendor.work_plans
    assert once.start is not None and once.end is not None and once.end - once.start == 3 * 3600
    assert (monthly.every, monthly.day, monthly.time, monthly.duration) == ("month", 1, "10:00", 7200.0)
    assert (weekly.every, weekly.weekday, weekly.duration) == ("week", 1, 5400.0)


@pytest.mark.parametrize(
    ("line", "replacement", "where", "ja", "en"),
    [
        (4, "    sources: [10.9.0.0/33]", "vendors[0].sources[0]", "接続元は", "write a source as a network"),
        (4, "    sources: [vpn.example.com]", "vendors[0].sources[0]", "接続元は", "not 'vpn.example.com'"),
        (6, "    devices: [DIA SRV01]", "vendors[0].devices[0]", "機器名として使えません", "cannot be a computer name"),
        (
            8,
            "      - {start: 2026-11-10 朝, end: 2026-11-10T12:00+09:00}",
            "vendors[0].work_plans[0].start",
            "は日時ではありません",
            "is not a date and time",
        ),
        (
            8,
            "      - {start: 2026-11-10T12:00+09:00, end: 2026-11-10T09:00+09:00}",
            "vendors[0].work_plans[0].end",
            "end が start より前",
            "end is not after start",
        ),
        (
            8,
            "      - {start: 2026-11-10T09:00+09:00}",
            "vendors[0].work_plans[0]",
            "start と end の両方が必要です",
            "both start and end are needed",
        ),
        (
            8,
            "      - {start: 2026-11-10T09:00+09:00, end: 2026-11-10T12:00+09:00, every: day, duration: 1h}",
            "vendors[0].work_plans[0]",
            "同じ計画に書けません",
            "not both",
        ),
        (
            9,
            '      - {every: month, time: "10:00", duration: 2h}',
            "vendors[0].work_plans[1]",
            "every: month には day が必要です",
            "every: month needs a day",
        ),
        (
            9,
            '      - {every: month, day: 32, time: "10:00", duration: 2h}',
            "vendors[0].work_plans[1].day",
            "",
            "",
        ),
        (
            9,
            '      - {every: month, day: 1, time: "25:00", duration: 2h}',
            "vendors[0].work_plans[1].time",
            "24 時間制",
            "24-hour clock",
        ),
        (
            9,
            '      - {every: month, day: 1, time: "10:00", duration: 8d}',
            "vendors[0].work_plans[1]",
            "7 日まで",
            "at most 7 days",
        ),
        (
            9,
            '      - {every: year, day: 1, time: "10:00", duration: 2h}',
            "vendors[0].work_plans[1].every",
            "",
            "",
        ),
        (
            10,
            '      - {every: week, weekday: 火曜, time: "13:00", duration: 90m}',
            "vendors[0].work_plans[2].weekday",
            "曜日は mon",
            "write the weekday as one of",
        ),
        (
            10,
            '      - {every: week, time: "13:00", duration: 90m}',
            "vendors[0].work_plans[2]",
            "weekday が必要です",
            "every: week needs a weekday",
        ),
        (
            10,
            '      - {every: week, weekday: tue, time: "13:00", duration: 90m, ports: [70000]}',
            "vendors[0].work_plans[2].ports[0]",
            "",
            "",
        ),
        (
            10,
            '      - {every: week, weekday: tue, time: "13:00", duration: 90m, window: all}',
            "vendors[0].work_plans[2].window",
            "",
            "",
        ),
    ],
)
def test_each_problem_has_its_line_field_and_both_languages(
    line: int, replacement: str, where: str, ja: str, en: str
) -> None:
    lines = GOOD.splitlines()
    lines[line - 1] = replacement
    found = problems("\n".join(lines) + "\n")
    assert (line, where) in found, found
    message = found[(line, where)]
    assert ja in message and en in message
    assert " / " in message, message  # the Japanese words, then the English


def test_a_vendor_name_used_twice_and_a_missing_name() -> None:
    text = GOOD + "  - name: 透析装置メーカー\n    sources: [10.9.1.0/24]\n  - {sources: [10.9.2.0/24]}\n"
    found = problems(text)
    assert "は 2 回使われています（vendors[0]）" in found[(11, "vendors[1].name")]
    assert "vendor name '透析装置メーカー' is used twice" in found[(11, "vendors[1].name")]
    assert (13, "vendors[2].name") in found


def test_every_problem_is_reported_at_once() -> None:
    lines = GOOD.splitlines()
    lines[3] = "    sources: [10.9.0.0/33]"
    lines[8] = '      - {every: month, day: 1, time: "7pm", duration: 2h}'
    lines[9] = '      - {every: week, weekday: someday, time: "13:00", duration: 90m}'
    found = problems("\n".join(lines) + "\n")
    assert {k[1] for k in found} == {
        "vendors[0].sources[0]",
        "vendors[0].work_plans[1].time",
        "vendors[0].work_plans[2].weekday",
    }


def test_an_unknown_time_zone_is_named() -> None:
    found = problems(GOOD.replace("Asia/Tokyo", "Asia/Edo"))
    ((line, field),) = found
    assert line == 1 and field.startswith("site.time_zone")
