"""zone-policy: each checksheet item of the HEASNET large and small institution policies, custom tables, and the
detector's episodes (one alert per source, pair of segments and rule), firewall verdicts, answers and bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.detection import Engine
from mamori.detection.zones import EXTERNAL, IGNORED, PolicyTable, SegmentMap
from mamori.model import ACK, SYN, ConnectionAttempt, PortResponse, Severity
from mamori.rules.render import summary
from tests.conftest import make_settings

# One segment per zone, a proxy in the Secure Zone and in the DMZ, the vendor's remote-maintenance line.
SEGMENTS = """\
segments:
  - {name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}
  - {name: バックアップ, cidrs: [10.4.0.0/24], zone: hsz, role: backup}
  - {name: 事務系, cidrs: [10.2.0.0/24, "fd00:2::/64"], zone: sz, proxies: [10.2.0.5]}
  - {name: 公開系, cidrs: [10.3.0.0/24], zone: dmz, proxies: [10.3.0.5]}
  - {name: 医療機器, cidrs: [10.5.0.0/24], zone: medical}
  - {name: 保守回線, cidrs: [10.9.0.0/24], zone: external, role: maintenance}
  - {name: 透析室, cidrs: [10.2.8.0/25], zone: sz}
"""
SMALL = """\
segments:
  - {name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}
  - {name: 事務系, cidrs: [10.2.0.0/24], zone: sz, proxies: [10.2.0.5]}
  - {name: 医療機器, cidrs: [10.5.0.0/24], zone: medical}
  - {name: 保守回線, cidrs: [10.9.0.0/24], zone: external, role: maintenance}
zone_policy: heasnet-small
"""

HSZ, BACKUP, SZ, SZ_PROXY, DMZ, DMZ_PROXY = "10.1.0.10", "10.4.0.10", "10.2.0.20", "10.2.0.5", "10.3.0.30", "10.3.0.5"
MEDICAL, VENDOR, OUTSIDE = "10.5.0.50", "10.9.0.9", "203.0.113.7"


def table(text: str, tmp_path: Path) -> tuple[PolicyTable, SegmentMap]:
    site = make_settings(text, tmp_path).site
    assert site.zone_policy is not None
    return PolicyTable(site.zone_policy, site.segments), SegmentMap(site.segments)


def verdict(text: str, tmp_path: Path, src: str, dst: str, port: int = 3389, proto: str = "tcp") -> tuple[str, str]:
    policy, places = table(text, tmp_path)
    via = src in (SZ_PROXY, DMZ_PROXY) or dst in (SZ_PROXY, DMZ_PROXY)
    found = policy.verdict(places.lookup(src), places.lookup(dst), proto, port, via)
    if found is None:
        return ("allowed", "")
    return (found.rule.ref, found.reason + (f" via {found.proxy.ref}" if found.proxy else ""))


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [
        (OUTSIDE, HSZ, ("3-2-1", "forbidden")),
        (OUTSIDE, SZ, ("3-2-1", "forbidden")),
        (OUTSIDE, DMZ, ("allowed", "")),  # the firewall lets the outside reach the DMZ (§5.3.3)
        (OUTSIDE, MEDICAL, ("4-5-1", "forbidden")),
        (VENDOR, MEDICAL, ("allowed", "")),  # remote maintenance: role maintenance
        (VENDOR, HSZ, ("3-2-1", "forbidden")),  # the maintenance line is still outside for the rest
        (HSZ, OUTSIDE, ("3-3-2", "forbidden")),
        (HSZ, SZ, ("3-3-1", "forbidden")),
        (HSZ, SZ_PROXY, ("3-3-1", "forbidden")),  # the reverse direction is forbidden, proxy or not
        (HSZ, DMZ, ("3-3-1", "forbidden")),
        (HSZ, MEDICAL, ("3-3-1", "forbidden")),  # medical devices are in the Secure Zone (§5.3.1)
        (HSZ, BACKUP, ("allowed", "")),  # two segments of one zone
        (DMZ, HSZ, ("3-5-1", "no-proxy via 3-7-1")),
        (DMZ_PROXY, HSZ, ("allowed", "")),  # 3-7-1: started from the DMZ, through the proxy
        (DMZ, SZ, ("3-4-1", "forbidden")),
        (DMZ_PROXY, SZ, ("3-4-1", "forbidden")),
        (DMZ, MEDICAL, ("3-4-1", "forbidden")),
        (DMZ, OUTSIDE, ("allowed", "")),
        (SZ, HSZ, ("3-6-1", "no-proxy via 3-6-1")),
        (SZ_PROXY, HSZ, ("allowed", "")),
        (SZ, DMZ, ("3-8-1", "no-proxy via 3-8-1")),
        (SZ_PROXY, DMZ, ("allowed", "")),
        (SZ, DMZ_PROXY, ("allowed", "")),  # to the DMZ's proxy: through a proxy
        (SZ, OUTSIDE, ("allowed", "")),  # the proxy's site restriction (3-4-2) is the proxy's job
        (MEDICAL, HSZ, ("3-6-1", "no-proxy via 3-6-1")),
        (MEDICAL, DMZ, ("3-8-1", "no-proxy via 3-8-1")),
        (MEDICAL, SZ, ("allowed", "")),
        (SZ, "10.2.8.20", ("allowed", "")),
    ],
)
def test_large_institution_checksheet(tmp_path: Path, src: str, dst: str, expected: tuple[str, str]) -> None:
    assert verdict(SEGMENTS, tmp_path, src, dst) == expected


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [
        (OUTSIDE, HSZ, ("3-2-1", "forbidden")),
        (OUTSIDE, SZ, ("3-2-1", "forbidden")),
        (OUTSIDE, MEDICAL, ("4-3-1", "forbidden")),
        (VENDOR, MEDICAL, ("allowed", "")),
        (HSZ, OUTSIDE, ("3-3-2", "forbidden")),
        (HSZ, SZ, ("3-3-1", "forbidden")),
        (SZ, HSZ, ("3-5-1", "no-proxy via 3-5-1")),  # the small checksheet's 3-5-1 is the large one's 3-6-1
        (SZ_PROXY, HSZ, ("allowed", "")),
        (MEDICAL, HSZ, ("3-5-1", "no-proxy via 3-5-1")),
        (SZ, OUTSIDE, ("allowed", "")),
    ],
)
def test_small_institution_checksheet(tmp_path: Path, src: str, dst: str, expected: tuple[str, str]) -> None:
    assert verdict(SMALL, tmp_path, src, dst) == expected


CUSTOM = (
    SEGMENTS
    + """\
zone_policy:
  base: heasnet-large
  rules:
    - {from: 事務系, to: 電子カルテ, ports: [443], proto: tcp, action: allow, ref: 院内規程 4-2}
    - {from: any, to: role:backup, ports: ["445", "139"], action: deny, ref: バックアップ隔離}
    - {from: 透析室, to: 事務系, via_proxy: false, action: deny}
"""
)


@pytest.mark.parametrize(
    ("src", "dst", "port", "proto", "expected"),
    [
        (SZ, HSZ, 443, "tcp", ("allowed", "")),  # the site's own row comes first
        (SZ, HSZ, 443, "udp", ("3-6-1", "no-proxy via 3-6-1")),  # ... for TCP only
        (SZ, HSZ, 3389, "tcp", ("3-6-1", "no-proxy via 3-6-1")),  # ... on 443 only: then the checksheet
        (HSZ, BACKUP, 445, "tcp", ("バックアップ隔離", "forbidden")),
        (HSZ, BACKUP, 22, "tcp", ("allowed", "")),
        ("10.2.8.20", SZ, 80, "tcp", ("", "forbidden")),
        ("10.2.8.20", SZ_PROXY, 80, "tcp", ("allowed", "")),  # via_proxy: false does not match a proxied one
    ],
)
def test_custom_rows(tmp_path: Path, src: str, dst: str, port: int, proto: str, expected: tuple[str, str]) -> None:
    assert verdict(CUSTOM, tmp_path, src, dst, port, proto) == expected


def test_a_deny_by_default_table_forbids_what_no_row_allows(tmp_path: Path) -> None:
    text = SEGMENTS + "zone_policy: {default: deny, rules: [{from: 事務系, to: 公開系, ports: [25], action: allow}]}\n"
    assert verdict(text, tmp_path, SZ, DMZ, 25) == ("allowed", "")
    assert verdict(text, tmp_path, SZ, DMZ, 80) == ("default", "forbidden")
    assert verdict(text, tmp_path, HSZ, BACKUP, 80) == ("default", "forbidden")


def test_addresses_are_placed_by_the_most_specific_network_and_non_hosts_are_ignored(tmp_path: Path) -> None:
    text = SEGMENTS + "  - {name: 事務系サーバ, cidrs: [10.2.0.128/25], zone: hsz}\n"
    _, places = table(text, tmp_path)
    names = [s.name for s in places.segments]
    assert names[places.lookup("10.2.0.200")] == "事務系サーバ"
    assert names[places.lookup("10.2.0.20")] == "事務系"
    assert names[places.lookup("fd00:2::17")] == "事務系"
    assert places.lookup(OUTSIDE) == EXTERNAL
    assert places.lookup("2001:db8::1") == EXTERNAL
    for address in ("224.0.0.251", "255.255.255.255", "127.0.0.1", "169.254.1.1", "ff02::1", "fe80::1", "::1", "x"):
        assert places.lookup(address) == IGNORED, address


# -- the detector -------------------------------------------------------------------------------------------------


def attempt(
    ts: float, src: str, dst: str, port: int = 3389, *, flags: int = SYN, action: str | None = None, sport: int = 40000
) -> ConnectionAttempt:
    device = "rtx1210" if action else None
    return ConnectionAttempt(
        ts, "02:00:00:00:00:01", None, src, dst, "tcp", sport, port, flags, 40, None, action, device
    )


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    settings = make_settings(SEGMENTS, tmp_path)
    return Engine(settings.site, settings.detection)


def test_a_forbidden_flow_is_one_alert_per_source_pair_and_rule_naming_segments_zones_port_and_item(
    engine: Engine,
) -> None:
    engine.feed([attempt(1000.0 + i, DMZ, HSZ, 3389, sport=40000 + i) for i in range(20)])
    engine.feed([attempt(1030.0, DMZ, "10.1.0.11", 445), attempt(1031.0, DMZ, "10.1.0.11", 8080)])
    (alert,) = engine.collect_changes()
    assert (alert.rule, alert.src_ip, alert.dst_ip, alert.dst_port, alert.count) == ("zone-policy", DMZ, HSZ, 3389, 22)
    d = alert.details
    assert (d.policy, d.ref, d.reason, d.proxy_ref) == ("heasnet-large", "3-5-1", "no-proxy", "3-7-1")
    assert (d.src_segment, d.src_zone, d.dst_segment, d.dst_zone) == ("公開系", "dmz", "電子カルテ", "hsz")
    assert d.ports == (3389, 445, 8080) and d.port_names == {"3389": "RDP", "445": "SMB"}
    assert d.dst_ips == (HSZ, "10.1.0.11") and d.actions == {"wire": 22}
    assert alert.severity is Severity.HIGH
    assert summary(alert, "en") == (
        "Connection bypassing the proxy (HEASNET large institution 3-5-1: DMZ → High Secure Zone; allowed only "
        "through a proxy (3-7-1)): 10.3.0.30 in DMZ segment 公開系 to 10.1.0.10 in High Secure Zone segment "
        "電子カルテ, TCP 3389 (RDP), 445 (SMB), 8080 (a path never seen before); 22 times"
    )
    assert summary(alert, "ja").startswith(
        "プロキシを経由しない接続（HEASNET 大規模機関型 3-5-1: DMZ → 高セキュアゾーン"
    )
    # Another destination segment, and the same pair broken by another source: separate alerts.
    engine.feed([attempt(1040.0, DMZ, SZ, 445), attempt(1041.0, "10.3.0.31", HSZ, 3389)])
    changes = {(a.src_ip, a.details.ref) for a in engine.collect_changes()}
    assert changes == {(DMZ, "3-4-1"), ("10.3.0.31", "3-5-1")}


def test_within_a_segment_allowed_flows_and_packets_that_start_nothing_raise_nothing(engine: Engine) -> None:
    engine.feed(
        [
            attempt(1000.0, SZ, "10.2.0.21", 445),  # within one segment
            attempt(1001.0, SZ_PROXY, HSZ, 443),  # through the proxy
            attempt(1002.0, DMZ, HSZ, 3389, flags=SYN | ACK),  # an answer, not a start
            attempt(1003.0, DMZ, HSZ, 3389, flags=ACK),  # the middle of a connection (or an ACK probe)
            attempt(1004.0, HSZ, "224.0.0.252", 5355),  # multicast
            attempt(1005.0, OUTSIDE, "198.51.100.1", 445, action="allow"),  # outside to outside, in a log
        ]
    )
    assert engine.collect_changes() == []


def test_what_the_firewall_did_sets_the_severity_and_the_words(engine: Engine) -> None:
    engine.feed([attempt(1000.0, HSZ, OUTSIDE, 443, flags=ACK | SYN, action="deny")])  # a log: flags do not matter
    (blocked,) = engine.collect_changes()
    assert blocked.severity is Severity.MEDIUM and blocked.details.actions == {"deny": 1}
    assert blocked.details.device == "rtx1210"
    assert summary(blocked, "en").endswith("TCP 443 (blocked by the firewall); 1 times")
    assert "203.0.113.7 outside" in summary(blocked, "en") and "外部の 203.0.113.7" in summary(blocked, "ja")
    engine.feed([attempt(1001.0, HSZ, OUTSIDE, 443, action="allow")])
    (allowed,) = engine.collect_changes()
    assert allowed.uid == blocked.uid and allowed.severity is Severity.HIGH
    assert "allowed by the firewall" in summary(allowed, "en")


def test_an_answered_connection_on_a_dangerous_port_into_the_high_secure_zone_is_critical(engine: Engine) -> None:
    engine.feed([attempt(1000.0, SZ, HSZ, 445, sport=50123)])
    (alert,) = engine.collect_changes()
    assert alert.severity is Severity.HIGH and not alert.details.answered
    engine.feed([PortResponse(1000.001, "synack", "tcp", None, HSZ, 445, SZ, 50123)])
    # (the answer is also a service seen answering: SMB on a host that does not list it is an exposure alert)
    (answered,) = [a for a in engine.collect_changes() if a.rule == "zone-policy"]
    assert answered.uid == alert.uid and answered.details.answered and answered.severity is Severity.CRITICAL
    assert "the connection was answered" in summary(answered, "en")
    engine.feed([PortResponse(1000.002, "synack", "tcp", None, HSZ, 445, SZ, 50123)])  # a retransmission
    assert engine.collect_changes() == []


def test_many_sources_breaking_one_rule_are_gathered_so_a_spoofed_storm_stays_small(tmp_path: Path) -> None:
    settings = make_settings(SEGMENTS + "detection: {zone_policy: {max_sources: 4}}\n", tmp_path)
    engine = Engine(settings.site, settings.detection)
    sources = [f"203.0.{i // 250}.{i % 250 + 1}" for i in range(5000)]
    engine.feed([attempt(1000.0 + i * 0.5, src, HSZ, 445) for i, src in enumerate(sources)])  # not a SYN flood
    alerts = engine.collect_changes()
    assert len(alerts) == 5
    many = next(a for a in alerts if a.src_ip is None)
    assert many.count == 4996 and len(many.details.src_ips) == 64
    assert many.details.ref == "3-2-1"
    assert summary(many, "en") == (
        "Forbidden connection between zones (HEASNET large institution 3-2-1: outside → High Secure Zone): "
        "64+ sources outside to 10.1.0.10 in High Secure Zone segment 電子カルテ, TCP 445 (SMB); 4,996 times"
    )
    assert len(engine.detector("zone-policy").map.cache) <= 65536


def test_an_episode_continues_after_a_restart(tmp_path: Path) -> None:
    settings = make_settings(SEGMENTS, tmp_path)
    first = Engine(settings.site, settings.detection)
    first.feed([attempt(1000.0, DMZ, HSZ, 3389)])
    (alert,) = first.collect_changes()
    second = Engine(settings.site, settings.detection)
    assert second.restore([alert]) == 1
    second.feed([attempt(1100.0, DMZ, HSZ, 445)])
    (continued,) = second.collect_changes()
    assert continued.uid == alert.uid and continued.count == 2 and continued.details.ports == (3389, 445)


def test_without_segments_there_is_no_zone_detector(tmp_path: Path) -> None:
    settings = make_settings("systems: []\n", tmp_path)
    assert Engine(settings.site, settings.detection).detector("zone-policy") is None
    off = make_settings(SEGMENTS + "detection: {zone_policy: {enabled: false}, new_path: {enabled: false}}\n", tmp_path)
    assert Engine(off.site, off.detection).detector("zone-policy") is None
