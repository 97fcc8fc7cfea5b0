"""new-path: learned during the learning period, reported after it, remembered across a restart, bounded; a path the
policy forbids is a zone-policy alert at once and not a second alert."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.detection import Engine
from mamori.detection.paths import KnownPaths
from mamori.model import SYN, ConnectionAttempt, KnownPath, Severity
from mamori.rules.render import summary
from mamori.testing import MemoryPaths
from tests.conftest import make_settings

SITE = """\
segments:
  - {name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}
  - {name: バックアップ, cidrs: [10.4.0.0/24], zone: hsz, role: backup}
  - {name: 事務系, cidrs: [10.2.0.0/24], zone: sz, proxies: [10.2.0.5]}
  - {name: 病棟, cidrs: [10.6.0.0/24], zone: sz}
  - {name: 公開系, cidrs: [10.3.0.0/24], zone: dmz}
detection: {new_path: {learning_period: 1d}}
"""
DAY = 86400.0
T0 = 1_800_000_000.0


def attempt(ts: float, src: str, dst: str, port: int, *, action: str | None = None) -> ConnectionAttempt:
    return ConnectionAttempt(ts, "02:00:00:00:00:01", None, src, dst, "tcp", 40000, port, SYN, 40, None, action)


@pytest.fixture
def memory() -> MemoryPaths:
    return MemoryPaths()


def engine(tmp_path: Path, memory: MemoryPaths | None = None) -> Engine:
    settings = make_settings(SITE, tmp_path)
    return Engine(settings.site, settings.detection, known_paths=memory)


def test_paths_are_learned_during_the_learning_period_and_new_ones_reported_after(tmp_path: Path) -> None:
    e = engine(tmp_path)
    e.feed([attempt(T0, "10.1.0.10", "10.4.0.10", 445), attempt(T0 + 3600, "10.2.0.20", "10.6.0.9", 3389)])
    assert e.collect_changes() == []  # learning
    e.feed(
        [
            attempt(T0 + DAY + 1, "10.1.0.11", "10.4.0.12", 445),  # known (another pair of hosts, the same path)
            attempt(T0 + DAY + 2, "10.2.0.20", "10.6.0.9", 80),  # not a dangerous port
            attempt(T0 + DAY + 3, "10.2.0.20", "10.2.0.21", 22),  # within one segment
            attempt(T0 + DAY + 4, "10.6.0.9", "10.2.0.20", 3389, action="deny"),  # blocked: no path
        ]
    )
    assert e.collect_changes() == []
    e.feed(
        [attempt(T0 + DAY + 10, "10.6.0.9", "10.2.0.20", 3389), attempt(T0 + DAY + 20, "10.6.0.8", "10.2.0.21", 3389)]
    )
    (alert,) = e.collect_changes()
    assert (alert.rule, alert.src_ip, alert.dst_ip, alert.dst_port, alert.count) == (
        "new-path",
        "10.6.0.9",
        "10.2.0.20",
        3389,
        2,
    )
    d = alert.details
    assert (d.src_segment, d.dst_segment, d.src_zone, d.dst_zone, d.proto, d.port, d.port_name) == (
        "病棟",
        "事務系",
        "sz",
        "sz",
        "tcp",
        3389,
        "RDP",
    )
    assert d.learning_started == T0 and d.src_ips == ("10.6.0.9", "10.6.0.8")
    assert alert.severity is Severity.MEDIUM
    assert summary(alert, "en") == (
        "New path: from Secure Zone segment 病棟 to Secure Zone segment 事務系 on TCP 3389 (RDP) "
        "(first 10.6.0.9 → 10.2.0.20); 2 connections"
    )
    assert summary(alert, "ja").startswith(
        "初めての経路: セキュアゾーン「病棟」から セキュアゾーン「事務系」へ TCP 3389 (RDP)"
    )


def test_a_forbidden_new_path_is_a_zone_policy_alert_at_once_and_not_a_second_alert(tmp_path: Path) -> None:
    e = engine(tmp_path)
    e.feed([attempt(T0, "10.3.0.30", "10.1.0.10", 3389)])  # during learning
    (alert,) = e.collect_changes()
    assert alert.rule == "zone-policy" and alert.details.new_path
    e.feed([attempt(T0 + DAY + 1, "10.3.0.30", "10.4.0.10", 445)])  # after learning
    (after,) = e.collect_changes()
    assert after.rule == "zone-policy" and after.details.new_path and after.details.dst_segment == "バックアップ"
    e.feed([attempt(T0 + DAY + 7200, "10.3.0.31", "10.4.0.10", 445)])  # the path is known now
    (again,) = e.collect_changes()
    assert again.rule == "zone-policy" and not again.details.new_path


def test_known_paths_and_the_learning_start_survive_a_restart(tmp_path: Path, memory: MemoryPaths) -> None:
    first = engine(tmp_path, memory)
    first.feed([attempt(T0, "10.1.0.10", "10.4.0.10", 445)])
    first.tick(T0 + 1)
    assert memory.learning_started == T0
    (path,) = memory.paths.values()
    assert (path.src_segment, path.dst_segment, path.proto, path.port, path.src_ip, path.dst_ip) == (
        "電子カルテ",
        "バックアップ",
        "tcp",
        445,
        "10.1.0.10",
        "10.4.0.10",
    )
    second = engine(tmp_path, memory)  # the sensor restarted
    second.feed([attempt(T0 + 2 * DAY, "10.1.0.12", "10.4.0.11", 445)])
    assert second.collect_changes() == []  # known before the restart, known after
    second.feed([attempt(T0 + 2 * DAY + 5, "10.4.0.11", "10.1.0.12", 445)])  # the reverse direction is another path
    (alert,) = second.collect_changes()
    assert alert.rule == "new-path" and alert.details.learning_started == T0
    assert alert.severity is Severity.HIGH  # into the High Secure Zone
    second.finish()
    assert len(memory.paths) == 2
    assert memory.paths[("電子カルテ", "バックアップ", "tcp", 445)].last_seen == T0 + 2 * DAY


def test_without_learning_every_new_path_is_reported(tmp_path: Path) -> None:
    settings = make_settings(SITE.replace("learning_period: 1d", "learning_period: 0"), tmp_path)
    zero = Engine(settings.site, settings.detection)
    zero.feed([attempt(T0, "10.2.0.20", "10.6.0.9", 22)])
    (alert,) = zero.collect_changes()
    assert alert.rule == "new-path" and alert.details.port_name == "SSH"


def test_the_table_is_bounded_and_forgets_the_paths_unseen_for_longest() -> None:
    paths = KnownPaths(max_paths=1000)
    ids = [paths.segment_id(f"s{i}") for i in range(40)]
    for n in range(1000):
        paths.add(KnownPaths.key(ids[n % 40], ids[n // 40], "tcp", 445), 1000 + n, 1000 + n)
    assert len(paths) == 1000
    forgotten = paths.add(KnownPaths.key(ids[0], ids[0], "udp", 161), 5000, 5000)
    assert len(forgotten) == 10 and len(paths) == 991
    assert [paths.describe(k) for k in forgotten[:2]] == [("s0", "s0", "tcp", 445), ("s1", "s0", "tcp", 445)]
    assert paths.record(KnownPaths.key(ids[0], ids[0], "udp", 161)).port == 161


def test_a_lowered_bound_keeps_the_paths_seen_most_recently(tmp_path: Path, memory: MemoryPaths) -> None:
    memory.save(T0, [KnownPath("電子カルテ", "", "tcp", port, T0, T0 + port) for port in range(1, 501)])
    settings = make_settings(SITE.replace("learning_period: 1d", "learning_period: 1d, max_paths: 100"), tmp_path)
    e = Engine(settings.site, settings.detection, known_paths=memory)
    zones = e.detector("zone-policy")
    assert zones is not None and zones.paths is not None
    table = zones.paths.paths
    assert len(table) == 100
    assert sorted(table.describe(k)[3] for k in table.table) == list(range(401, 501))
