"""unregistered-terminal: who may connect to a department server's service port."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.detection import Engine
from mamori.model import ACK, SYN, Severity
from mamori.rules.render import summary
from tests.conftest import make_settings
from tests.unit.detection.helpers import ROUTER, SERVER, SITE, STRANGER, TERMINAL, syn


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    settings = make_settings(SITE, tmp_path)
    return Engine(settings.site, settings.detection)


def test_registered_terminal_raises_nothing(engine: Engine) -> None:
    engine.feed([syn(1000.0 + i, TERMINAL, sport=40000 + i) for i in range(50)])
    assert engine.collect_changes() == []


def test_terminal_registered_without_ip_may_use_any_ip(engine: Engine) -> None:
    engine.feed([syn(1000.0, ("02:42:00:00:00:03", "10.77.0.150"))])
    assert engine.collect_changes() == []


def test_stranger_is_one_alert_per_source_and_system_with_its_count(engine: Engine) -> None:
    engine.feed([syn(1000.0 + i, STRANGER, sport=50000 + i) for i in range(7)])
    (alert,) = engine.collect_changes()
    assert alert.rule == "unregistered-terminal"
    assert (alert.src_mac, alert.src_ip, alert.dst_ip, alert.dst_port) == (*STRANGER, SERVER, 6000)
    assert alert.system == "透析システム"
    assert alert.count == 7
    assert (alert.first_seen, alert.last_seen) == (1000.0, 1006.0)
    assert alert.severity is Severity.HIGH
    assert alert.details["reason"] == "unregistered-mac"
    assert len(alert.samples) == 7
    assert "未登録端末" in summary(alert, "ja")
    assert "Unregistered terminal" in summary(alert, "en")
    # It goes on: the same alert is updated, not a new one per packet.
    engine.feed([syn(1100.0, STRANGER, sport=51000)])
    (update,) = engine.collect_changes()
    assert (update.uid, update.count, update.last_seen) == (alert.uid, 8, 1100.0)


def test_registered_mac_with_another_ip_is_a_mismatch(engine: Engine) -> None:
    engine.feed([syn(1000.0, (TERMINAL[0], "10.77.0.77"))])
    (alert,) = engine.collect_changes()
    assert alert.details["reason"] == "ip-mismatch"
    assert alert.details["registered_ip"] == TERMINAL[1]
    assert alert.details["terminal"] == "dialysis-pc-1"


def test_through_the_router_the_registered_ip_decides_and_the_alert_says_so(engine: Engine) -> None:
    engine.feed([syn(1000.0, (ROUTER[0], "10.20.0.5"))])  # vpn-admin's registered IP, behind the router
    assert engine.collect_changes() == []
    engine.feed([syn(1001.0, (ROUTER[0], "10.20.0.66")), syn(1002.0, (ROUTER[0], "10.20.0.66"))])
    (alert,) = engine.collect_changes()
    assert alert.details["via_gateway"] is True
    assert alert.details["gateway"] == "core-router"
    # The router's MAC is not the source's: a blocking script must never be handed it.
    assert alert.src_mac is None
    assert alert.details["gateway_mac"] == ROUTER[0]
    assert alert.count == 2
    assert "ルータ" in summary(alert, "ja")


def test_log_lines_without_mac_are_checked_by_ip(engine: Engine) -> None:
    engine.feed([syn(1000.0, (None, "10.77.0.12"), action="allow"), syn(1000.0, (None, "10.9.9.9"), action="deny")])
    (alert,) = engine.collect_changes()
    assert alert.src_ip == "10.9.9.9"
    assert alert.details["checked_by"] == "ip"
    assert alert.details["via_gateway"] is False


def test_other_ports_other_hosts_and_answers_are_not_connection_attempts(engine: Engine) -> None:
    engine.feed(
        [
            syn(1000.0, STRANGER, dport=22),  # not a protected port
            syn(1000.0, STRANGER, dst="10.77.0.99"),  # not a protected server
            syn(1000.0, STRANGER, flags=SYN | ACK),  # an answer, not an attempt
            syn(1000.0, STRANGER, flags=ACK, hlen=20),
        ]
    )
    assert [a.rule for a in engine.collect_changes()] == []


def test_a_second_system_is_a_second_alert(engine: Engine) -> None:
    engine.feed([syn(1000.0, STRANGER), syn(1001.0, STRANGER, dport=443, dst="10.77.0.21")])
    alerts = engine.collect_changes()
    assert sorted(a.system for a in alerts if a.system) == ["検査システム", "透析システム"]


def test_after_the_quiet_period_a_returning_stranger_is_a_new_alert(engine: Engine) -> None:
    engine.feed([syn(1000.0, STRANGER)])
    (first,) = engine.collect_changes()
    engine.feed([syn(1000.0 + 3601, STRANGER)])
    (second,) = engine.collect_changes()
    assert second.uid != first.uid
    assert second.count == 1


def test_open_alerts_are_bounded(tmp_path: Path) -> None:
    settings = make_settings(SITE + "\ndetection: {max_open_alerts: 100}\n", tmp_path)
    engine = Engine(settings.site, settings.detection)
    engine.feed(syn(1000.0 + i, (f"02:77:00:00:{i >> 8:02x}:{i & 255:02x}", "10.77.0.200")) for i in range(5000))
    assert len(engine.book) <= 100
    assert engine.book.evicted == 4900
    assert len(engine.collect_changes()) == 5000  # evicted alerts are still handed out, not lost


def test_a_terminal_registered_while_running_is_accepted_from_then_on(engine: Engine) -> None:
    import dataclasses

    from mamori.model import Terminal

    engine.feed([syn(1000.0, STRANGER)])
    (alert,) = engine.collect_changes()
    site = engine.index.site
    dialysis = site.systems[0]
    registered = dataclasses.replace(dialysis, terminals=(*dialysis.terminals, Terminal("laptop", *STRANGER)))
    engine.update_site(dataclasses.replace(site, systems=(registered, *site.systems[1:])))
    engine.feed([syn(1001.0, STRANGER), syn(1002.0, STRANGER)])
    assert engine.collect_changes() == []  # no new alert and no growth of the old one
    engine.feed([syn(1003.0, ("02:66:00:00:00:99", "10.77.0.201"))])  # strangers are still strangers
    assert [a.src_mac for a in engine.collect_changes()] == ["02:66:00:00:00:99"]
    assert alert.count == 1
