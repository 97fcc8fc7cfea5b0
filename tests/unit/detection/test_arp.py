"""ip-mac-conflict: ARP claims against the registered bindings, and flip-flops."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.detection import Engine
from mamori.model import Severity
from mamori.rules.render import summary
from tests.conftest import make_settings
from tests.unit.detection.helpers import ROUTER, SERVER, SERVER_MAC, SITE, STRANGER, TERMINAL, arp_claim


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    settings = make_settings(SITE, tmp_path)
    return Engine(settings.site, settings.detection)


def test_correct_bindings_raise_nothing(engine: Engine) -> None:
    engine.feed([arp_claim(1.0, SERVER_MAC, SERVER), arp_claim(2.0, *TERMINAL), arp_claim(3.0, *ROUTER)])
    assert engine.collect_changes() == []


def test_someone_claiming_the_server_ip_is_critical(engine: Engine) -> None:
    engine.feed([arp_claim(1.0 + i, STRANGER[0], SERVER, op=1, gratuitous=True) for i in range(3)])
    (alert,) = engine.collect_changes()
    assert alert.rule == "ip-mac-conflict"
    assert alert.severity is Severity.CRITICAL
    assert (alert.src_mac, alert.src_ip, alert.count) == (STRANGER[0], SERVER, 3)
    assert alert.details["registered_mac"] == SERVER_MAC
    assert alert.details["gratuitous"] == 3
    assert alert.system == "透析システム"
    assert "ARP 詐称" in summary(alert, "ja")


def test_claiming_a_terminal_ip_is_high_and_the_gateway_critical(engine: Engine) -> None:
    engine.feed([arp_claim(1.0, STRANGER[0], TERMINAL[1]), arp_claim(2.0, STRANGER[0], ROUTER[1])])
    alerts = {a.details["role"]: a for a in engine.collect_changes()}
    assert alerts["terminal"].severity is Severity.HIGH
    assert alerts["gateway"].severity is Severity.CRITICAL


def test_unregistered_ip_is_learned_first_and_a_flip_flop_is_reported(engine: Engine) -> None:
    a, b = "02:00:00:00:00:aa", "02:00:00:00:00:bb"
    engine.feed([arp_claim(1.0, a, "10.77.0.50"), arp_claim(2.0, a, "10.77.0.50")])
    assert engine.collect_changes() == []
    engine.feed([arp_claim(3.0, b, "10.77.0.50")])  # a change alone may be a replaced PC or a new DHCP lease
    assert engine.collect_changes() == []
    engine.feed([arp_claim(4.0, a, "10.77.0.50")])  # and back: two hosts fighting over one address
    (alert,) = engine.collect_changes()
    assert alert.details["reason"] == "flip-flop"
    assert alert.severity is Severity.MEDIUM
    assert set(alert.details["macs"]) == {a, b}


def test_server_without_registered_mac_is_protected_by_its_first_binding(tmp_path: Path) -> None:
    settings = make_settings(SITE, tmp_path)  # 10.77.0.21 (検査システム) has no MAC in the site file
    engine = Engine(settings.site, settings.detection)
    engine.feed([arp_claim(1.0, "02:42:00:00:00:21", "10.77.0.21"), arp_claim(2.0, STRANGER[0], "10.77.0.21")])
    (alert,) = engine.collect_changes()
    assert alert.severity is Severity.CRITICAL
    assert alert.details["registered_mac_learned"] is True


def test_arp_probes_claim_nothing(engine: Engine) -> None:
    engine.feed([arp_claim(1.0, STRANGER[0], "0.0.0.0")])
    assert engine.collect_changes() == []


def test_learned_bindings_are_bounded(tmp_path: Path) -> None:
    settings = make_settings(SITE + "\ndetection: {ip_mac_conflict: {max_learned: 500}}\n", tmp_path)
    engine = Engine(settings.site, settings.detection)
    engine.feed(arp_claim(1.0, STRANGER[0], f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}") for i in range(20_000))
    assert engine.detector("ip-mac-conflict") is not None
    assert len(engine.detector("ip-mac-conflict")._learned) <= 500
