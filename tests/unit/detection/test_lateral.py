"""lateral-movement from connection attempts: one source reaching many hosts on remote-administration ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.detection import Engine
from mamori.detection.lateral import LateralMovementDetector
from mamori.errors import ConfigError
from mamori.model import ACK, SYN, Severity
from mamori.rules.render import summary
from tests.conftest import make_settings
from tests.unit.detection.helpers import syn

ATTACKER = ("02:66:00:00:00:66", "10.2.0.66")
ADMIN = ("02:66:00:00:00:10", "10.2.0.10")
BACKUP = ("02:66:00:00:00:40", "10.4.0.40")
T0 = 1_800_000_000.0

SITE = """
segments:
  - {name: 事務系, cidrs: [10.2.0.0/24], zone: sz}
  - {name: サーバ, cidrs: [10.3.0.0/24], zone: sz}
  - {name: バックアップ, cidrs: [10.4.0.0/24], zone: sz, role: backup}
exempt_hosts:
  - {name: 情シス管理端末, role: admin, ips: [10.2.0.10]}
"""


def engine(tmp_path: Path, extra: str = "") -> Engine:
    settings = make_settings(SITE + extra, tmp_path)
    return Engine(settings.site, settings.detection)


def host(n: int) -> str:
    return f"10.3.0.{n}"


def lateral(eng: Engine) -> list:
    return [a for a in eng.collect_changes() if a.rule == "lateral-movement"]


def test_five_hosts_in_ten_minutes_is_one_medium_alert_that_becomes_high_at_ten(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    eng.feed([syn(T0 + i * 30, ATTACKER, 445, host(i + 1)) for i in range(4)])  # 4 hosts in 2 minutes: not yet
    assert lateral(eng) == []
    eng.feed([syn(T0 + 150, ATTACKER, 3389, host(5))])
    [alert] = lateral(eng)
    assert alert.severity == Severity.MEDIUM and alert.src_ip == ATTACKER[1]
    assert alert.details.targets == tuple(host(i) for i in range(1, 6)) and alert.details.targets_count == 5
    assert alert.details.peak_hosts == 5 and alert.details.evidence == "packets"
    assert alert.count == 5 and alert.first_seen == T0
    assert dict(alert.details.port_names) == {"445": "SMB", "3389": "RDP"}
    eng.feed([syn(T0 + 200 + i, ATTACKER, 445, host(6 + i)) for i in range(5)])  # the 10th host
    [same] = lateral(eng)
    assert same.uid == alert.uid and same.severity == Severity.HIGH
    assert same.details.targets_count == 10 and same.details.peak_hosts == 10 and same.count == 10
    text = summary(same, "en")
    assert text.startswith("Lateral movement suspected: 10.2.0.66 reached 10 hosts within 10 min")
    assert "SMB 445, RDP 3389" in text and "(packets; 10 hosts in all: 10.3.0.1, 10.3.0.2" in text
    assert "水平展開の疑い: 10.2.0.66 が 10 分以内に 10 台" in summary(same, "ja")


def test_hosts_spread_over_more_than_the_window_do_not_add_up(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    eng.feed([syn(T0 + i * 200, ATTACKER, 445, host(i + 1)) for i in range(12)])  # one host every 200 s
    assert lateral(eng) == []  # at most 4 within any 10 minutes


def test_the_same_host_again_and_other_ports_do_not_count(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    eng.feed([syn(T0 + i, ATTACKER, 445, host(1)) for i in range(50)])
    eng.feed([syn(T0 + 60 + i, ATTACKER, 443, host(i + 1)) for i in range(20)])  # HTTPS: not an admin port
    eng.feed([syn(T0 + 90 + i, ATTACKER, 445, host(i + 2), flags=SYN | ACK) for i in range(10)])  # answers
    assert lateral(eng) == []


def test_exempt_admin_host_and_backup_segment_raise_nothing(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    eng.feed([syn(T0 + i, ADMIN, 3389, host(i + 1)) for i in range(12)])
    eng.feed([syn(T0 + i, BACKUP, 445, host(i + 1)) for i in range(12)])
    assert lateral(eng) == []
    assert eng.detector("lateral-movement").exempted == 24


def test_firewall_lines_are_their_own_evidence_and_say_what_was_denied(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    eng.feed([syn(T0 + i, ATTACKER, 445, host(i + 1), action="deny") for i in range(6)])
    [alert] = lateral(eng)
    assert alert.details.evidence == "firewall" and dict(alert.details.actions) == {"deny": 6}
    assert "firewall log, all denied" in summary(alert, "en")
    eng.feed([syn(T0 + 10 + i, ATTACKER, 445, host(i + 1)) for i in range(6)])  # the wire: another alert
    [wire] = lateral(eng)
    assert wire.uid != alert.uid and wire.details.evidence == "packets"


def test_ports_and_thresholds_are_settings(tmp_path: Path) -> None:
    eng = engine(tmp_path, "detection: {lateral_movement: {ports: [1433], medium_hosts: 3, high_hosts: 3}}\n")
    eng.feed([syn(T0 + i, ATTACKER, 445, host(i + 1)) for i in range(5)])
    assert lateral(eng) == []
    eng.feed([syn(T0 + i, ATTACKER, 1433, host(i + 1)) for i in range(3)])
    [alert] = lateral(eng)
    assert alert.severity == Severity.HIGH and dict(alert.details.port_names) == {"1433": "SQL Server"}


def test_a_spoofed_storm_keeps_the_table_bounded(tmp_path: Path) -> None:
    eng = engine(tmp_path, "detection: {lateral_movement: {max_sources: 1000}}\n")
    storm = [
        syn(T0 + i / 1000, (None, f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"), 445, host(1 + i % 20))
        for i in range(50_000)
    ]
    eng.feed(storm)
    detector: LateralMovementDetector = eng.detector("lateral-movement")
    assert len(detector._sources) == 1000 and detector.evicted == 49_000
    assert lateral(eng) == []
    eng.feed([syn(T0 + 60 + i, ATTACKER, 445, host(i + 1)) for i in range(5)])  # still seen after the storm
    assert len(lateral(eng)) == 1


def test_exempt_hosts_are_checked_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        make_settings("exempt_hosts:\n  - {name: x, role: scanner, ips: [10.1.0.1]}\n  - {name: y, role: admin}\n")
    text = str(err.value)
    assert "test.yaml:2:" in text and "exempt_hosts[0].role" in text
    assert "test.yaml:3:" in text and "ips・computers・accounts" in text
