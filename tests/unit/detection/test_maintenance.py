"""remote-maintenance: sessions judged against work plans in Asia/Tokyo, with an injected clock."""

from __future__ import annotations

import datetime as dt

import pytest

from mamori.config import settings_from_text
from mamori.config.windows import WindowsSettings
from mamori.detection import Engine
from mamori.detection.windows import WindowsEngine
from mamori.detection.work_plans import window_at, windows_between
from mamori.model import SYN, ConnectionAttempt, VpnEvent, WindowsEvent
from mamori.testing import FakeClock, MemorySessions

SITE = """
site: {name: テスト病院}
vendors:
  - name: 透析装置メーカー
    sources: [10.9.0.0/24]
    accounts: [vendor-dia]
    devices: [10.1.0.20, DIA-SRV01]
    work_plans:
      - {start: 2026-11-10T09:00+09:00, end: 2026-11-10T12:00+09:00, targets: [10.1.0.20, DIA-SRV01], ports: [3389],
         ticket: "作業計画 2026-118"}
      - {every: month, day: 1, time: "00:00", duration: 2h, targets: [10.1.0.20]}
      - {every: month, day: 31, time: "23:00", duration: 2h, targets: [10.1.0.20]}
  - name: 画像装置メーカー
    sources: [10.9.1.0/24]
"""


def tokyo(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone(dt.timedelta(hours=9))).timestamp()


def syn(ts: float, src: str, dst: str, port: int, action: str | None = None) -> ConnectionAttempt:
    return ConnectionAttempt(ts, None, None, src, dst, "tcp", 50000, port, SYN, 40, None, action)


@pytest.fixture
def rig() -> tuple[Engine, MemorySessions, FakeClock]:
    settings = settings_from_text(SITE)
    clock = FakeClock(tokyo("2026-11-01T00:00"))
    sessions = MemorySessions()
    return Engine(settings.site, settings.detection, clock=clock, sessions=sessions), sessions, clock


def alerts(engine: Engine) -> list:
    engine.finish()
    return [a for a in engine.collect_changes() if a.rule == "remote-maintenance"]


def test_a_session_inside_its_plan_gives_no_alert_but_is_recorded(rig) -> None:
    engine, sessions, _ = rig
    start = tokyo("2026-11-10T10:00")
    engine.feed([syn(start + i, "10.9.0.5", "10.1.0.20", 3389) for i in range(30)])
    assert alerts(engine) == []
    (session,) = sessions.all()
    assert session.vendor == "透析装置メーカー"
    assert session.plan == "file:透析装置メーカー:1" and session.ticket == "作業計画 2026-118"
    assert session.differences == () and session.connections == 30 and session.ended
    assert session.targets == ("10.1.0.20",) and session.ports == (3389,) and session.via == ("wire",)


def test_outside_the_window_is_one_alert_per_session(rig) -> None:
    engine, sessions, _ = rig
    start = tokyo("2026-11-10T13:00")
    engine.feed([syn(start + i * 60, "10.9.0.5", "10.1.0.20", 3389) for i in range(20)])
    (alert,) = alerts(engine)
    assert alert.details.differences == ("outside-window",)
    assert alert.count == 20 and alert.src_ip == "10.9.0.5" and alert.dst_ip == "10.1.0.20"
    assert sessions.all()[0].alert_uid == alert.uid


def test_a_target_and_port_the_plan_does_not_list(rig) -> None:
    engine, _, _ = rig
    start = tokyo("2026-11-10T10:00")
    engine.feed([syn(start, "10.9.0.5", "10.1.0.20", 3389), syn(start + 5, "10.9.0.5", "10.1.0.21", 445)])
    (alert,) = alerts(engine)
    assert alert.details.differences == ("target", "port")
    assert alert.details.off_plan == ("target:10.1.0.21", "port:445")
    assert alert.count == 1  # the in-plan connection came before the alert opened


def test_a_vendor_with_no_plan_and_a_denied_line(rig) -> None:
    engine, sessions, _ = rig
    ts = tokyo("2026-11-10T10:00")
    engine.feed([syn(ts, "10.9.1.7", "10.1.0.30", 22, action="deny")])
    assert alerts(engine) == [] and sessions.all() == []  # a denied connection did not get in
    engine.feed([syn(ts + 1, "10.9.1.7", "10.1.0.30", 22, action="allow")])
    (alert,) = alerts(engine)
    assert alert.details.differences == ("no-plan",) and alert.details.via == ("firewall",)


def test_two_sessions_apart_by_more_than_idle_are_two_alerts(rig) -> None:
    engine, _, _ = rig
    ts = tokyo("2026-11-11T10:00")
    engine.feed([syn(ts, "10.9.0.5", "10.1.0.20", 3389), syn(ts + 3600, "10.9.0.5", "10.1.0.20", 3389)])
    assert len(alerts(engine)) == 2


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        ("2026-12-01T00:30", True),  # 1 December in Tokyo (still 30 November in UTC)
        ("2026-11-30T23:30", False),
        ("2026-12-01T02:00", False),  # the window's end is not in it
        ("2026-11-01T00:30", True),  # 31 October 23:00 + 2h ran into November, and 1 November 00:00 opened
        ("2026-10-31T23:30", True),
        ("2026-11-30T23:59", False),  # November has no 31st
        ("2027-01-01T00:59", True),  # 31 December's window, across the year
    ],
)
def test_recurring_windows_across_a_month_boundary_in_tokyo(rig, when: str, inside: bool) -> None:
    engine, sessions, clock = rig
    clock.set(tokyo(when))
    engine.feed([syn(clock.now(), "10.9.0.5", "10.1.0.20", 3389)])
    engine.tick()
    found = alerts(engine)
    assert (found == []) is inside
    assert len(sessions.all()) == 1


def test_windows_between_lists_a_months_windows_in_the_site_zone() -> None:
    plan = settings_from_text(SITE).site.vendors[0].work_plans[2]  # every month on the 31st, 23:00
    found = list(windows_between(plan, tokyo("2026-10-01T00:00"), tokyo("2027-01-01T00:00"), "Asia/Tokyo"))
    assert [dt.datetime.fromtimestamp(s, dt.timezone(dt.timedelta(hours=9))).date().isoformat() for s, _ in found] == [
        "2026-10-31",
        "2026-12-31",
    ]
    assert window_at(plan, tokyo("2026-12-31T22:59"), "Asia/Tokyo") is None


def test_vpn_sessions_and_the_connections_inside_them(rig) -> None:
    engine, sessions, _ = rig
    ts = tokyo("2026-11-10T09:05")
    engine.feed(
        [
            VpnEvent(ts, "login", "FGT60F", "ssl", "vendor-dia", "198.51.100.7", "10.9.0.21", "1408", "vendors"),
            syn(ts + 10, "10.9.0.21", "10.1.0.20", 3389),
            VpnEvent(ts + 600, "logout", "FGT60F", "ssl", "vendor-dia", "198.51.100.7", None, "1408", "vendors"),
        ]
    )
    assert alerts(engine) == []
    (session,) = sessions.all()
    assert session.via == ("vpn", "wire") and session.accounts == ("vendor-dia",) and session.source == "10.9.0.21"
    assert session.end - session.start == 600


def test_a_vpn_tied_to_no_vendor_with_no_plan_open(rig) -> None:
    engine, _, _ = rig
    ts = tokyo("2026-11-15T03:00")
    engine.feed(
        [
            VpnEvent(ts, "peer", "rtx", "l2tp", None, "203.0.113.66"),
            VpnEvent(ts + 1, "login", "rtx", "l2tp", "someone", None, None, "PP[ANONYMOUS01]"),
            VpnEvent(ts + 2, "address", "rtx", "l2tp", None, None, "192.168.100.201", "PP[ANONYMOUS01]"),
            VpnEvent(ts + 3, "tunnel-up", "rtx", "ipsec", None, None, None, "Tunnel[1]"),  # no peer named: not counted
        ]
    )
    (alert,) = alerts(engine)
    assert alert.details.differences == ("vpn-no-plan",) and alert.details.vendor == ""
    assert alert.details.remote_ip == "203.0.113.66" and alert.details.accounts == ("someone",)


def _logon(ts: float, account: str, ip: str, kind: int = 10) -> WindowsEvent:
    fields = {"TargetUserName": account, "TargetDomainName": "HOSPITAL", "IpAddress": ip, "LogonType": str(kind)}
    return WindowsEvent(
        ts, "DIA-SRV01.hospital.local", "Security", "Microsoft-Windows-Security-Auditing", 4624, 1, fields
    )


def test_windows_logons_from_vendor_addresses_and_accounts() -> None:
    settings = settings_from_text(SITE)
    sessions = MemorySessions()
    engine = WindowsEngine(WindowsSettings(), site=settings.site, sessions=sessions, rules=[])
    ts = tokyo("2026-11-10T10:00")
    engine.feed([_logon(ts, "vendor-dia", "10.9.0.5")])  # within the plan: the computer is listed by name
    engine.feed([_logon(ts + 7200, "vendor-dia", "172.16.5.5")])  # after the window, from elsewhere: its account
    engine.feed([_logon(ts + 60, "administrator", "10.9.0.6")])  # in the window, an account not listed
    engine.feed([_logon(ts, "nurse01", "10.3.0.9")])  # not a vendor
    engine.finish()
    found = {tuple(a.details.differences): a for a in engine.collect_changes() if a.rule == "remote-maintenance"}
    assert set(found) == {("outside-window",), ("account",)}
    assert found[("account",)].details.off_plan == ("account:HOSPITAL\\administrator",)
    assert len(sessions.all()) == 3
