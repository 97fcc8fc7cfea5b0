"""Segments, zones and the zone policy in the settings file: the issue's form, the HEASNET tables, every problem
reported with its line and field."""

from __future__ import annotations

import pytest

from mamori.config import settings_from_text
from mamori.errors import ConfigError

ISSUE_FORM = """\
segments:
  - {name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}
  - {name: 事務系, cidrs: [10.2.0.0/24], zone: sz, proxies: [10.2.0.5]}
  - {name: DMZ, cidrs: [10.3.0.0/24], zone: dmz}
  - {name: バックアップ, cidrs: [10.4.0.0/24], zone: hsz, role: backup}
zone_policy: heasnet-large     # the default; heasnet-small (HSZ + SZ, no DMZ) ; or a custom flow table
"""


def test_the_issue_form_is_accepted() -> None:
    site = settings_from_text(ISSUE_FORM, source="site.yaml").site
    assert [(s.name, s.cidrs, s.zone, s.proxies, s.role) for s in site.segments] == [
        ("電子カルテ", ("10.1.0.0/24",), "hsz", (), None),
        ("事務系", ("10.2.0.0/24",), "sz", ("10.2.0.5",), None),
        ("DMZ", ("10.3.0.0/24",), "dmz", (), None),
        ("バックアップ", ("10.4.0.0/24",), "hsz", (), "backup"),
    ]
    assert site.zone_policy is not None and site.zone_policy.name == "heasnet-large"
    refs = {r.ref for r in site.zone_policy.rules}
    assert refs == {"3-2-1", "3-3-1", "3-3-2", "3-4-1", "3-5-1", "3-6-1", "3-7-1", "3-8-1", "4-5-1"}
    assert {r.origin for r in site.zone_policy.rules} == {"heasnet-large"}


def test_segments_without_a_policy_get_the_large_institution_checksheet_and_the_default_ports() -> None:
    site = settings_from_text(ISSUE_FORM.replace("zone_policy: heasnet-large", "")).site
    assert site.zone_policy is not None and site.zone_policy.name == "heasnet-large"
    ports = {p.port: p.name for p in site.dangerous_ports}
    expected = {3389, 22, 23, 20, 21, 139, 445, 135, 137, 138, 161, 162, 88, 464, 389, 636, 1433, 1521, 5985, 5986}
    assert set(ports) == expected
    assert (ports[3389], ports[445], ports[5985]) == ("RDP", "SMB", "WinRM")
    assert settings_from_text("systems: []\n").site.zone_policy is None  # no segments, nothing to judge


def test_small_institution_checksheet_numbers_its_items_its_own_way() -> None:
    text = ISSUE_FORM.replace(
        "{name: DMZ, cidrs: [10.3.0.0/24], zone: dmz}", "{name: 病棟, cidrs: 10.3.0.0/24, zone: sz}"
    )
    site = settings_from_text(text.replace("heasnet-large", "heasnet-small")).site
    assert site.zone_policy is not None and site.zone_policy.name == "heasnet-small"
    assert {r.ref for r in site.zone_policy.rules} == {"3-2-1", "3-3-1", "3-3-2", "3-5-1", "4-3-1"}
    assert site.segments[2].cidrs == ("10.3.0.0/24",)  # one network may be written without a list


def test_a_custom_table_comes_before_its_base_and_expands_port_ranges() -> None:
    text = ISSUE_FORM.replace(
        "zone_policy: heasnet-large     # the default; heasnet-small (HSZ + SZ, no DMZ) ; or a custom flow table\n",
        """\
zone_policy:
  base: heasnet-large
  default: deny
  rules:
    - {from: 事務系, to: 電子カルテ, ports: [443, "8443-8445"], proto: tcp, action: allow, ref: 院内規程 4-2}
    - {from: any, to: role:backup, ports: [445], action: deny}
dangerous_ports: [3389, "137-139", {port: 5985, name: WinRM}, {port: 8000, name: 保守ポート}]
""",
    )
    site = settings_from_text(text).site
    policy = site.zone_policy
    assert policy is not None and policy.name == "custom" and policy.default == "deny"
    first, second = policy.rules[:2]
    assert (first.src, first.dst, first.ports, first.proto, first.action, first.ref, first.origin) == (
        "事務系",
        "電子カルテ",
        (443, 8443, 8444, 8445),
        "tcp",
        "allow",
        "院内規程 4-2",
        "custom",
    )
    assert (second.src, second.dst, second.ports) == ("any", "role:backup", (445,))
    assert len(policy.rules) == 2 + 20 and policy.rules[2].origin == "heasnet-large"
    assert [(p.port, p.name) for p in site.dangerous_ports] == [
        (3389, "RDP"),
        (137, "NetBIOS name"),
        (138, "NetBIOS datagram"),
        (139, "NetBIOS session/SMB"),
        (5985, "WinRM"),
        (8000, "保守ポート"),
    ]


BROKEN = """\
segments:
  - {name: 電子カルテ, cidrs: [10.1.0.5/24], zone: hsz}
  - {name: 事務系, cidrs: [10.2.0.0/24], zone: office, proxies: [10.9.0.5]}
  - {name: hsz, cidrs: [10.3.0.0/24], zone: dmz, role: boss}
  - {name: 事務系, cidrs: [10.2.0.0/24, nonsense], zone: sz}
zone_policy:
  base: heasnet-small
  rules:
    - {from: 事務系, to: 電子カルテx, ports: [443, "1-2-3"], action: allow}
    - {from: sz, to: hsz, action: permit}
    - {from: sz, to: hsz, action: deny, src: 1}
dangerous_ports: [3389, "x", {port: 99999}]
"""


def test_every_zone_problem_has_its_line_and_field() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_text(BROKEN, source="site.yaml")
    found = {(p.line, p.field): p.message for p in caught.value.problems}
    assert set(found) == {
        (2, "segments[0].cidrs[0]"),
        (3, "segments[1].zone"),
        (3, "segments[1].proxies[0]"),
        (4, "segments[2].name"),
        (4, "segments[2].zone"),
        (4, "segments[2].role"),
        (5, "segments[3].name"),
        (5, "segments[3].cidrs"),
        (5, "segments[3].cidrs[1]"),
        (9, "zone_policy.rules[0].to"),
        (9, "zone_policy.rules[0].ports[1]"),
        (10, "zone_policy.rules[1].action"),
        (11, "zone_policy.rules[2].src"),
        (12, "dangerous_ports[1]"),
        (12, "dangerous_ports[2].port"),
    }
    assert "did you mean 10.1.0.0/24" in found[(2, "segments[0].cidrs[0]")]
    assert "proxy 10.9.0.5 is outside the networks of segment '事務系'" in found[(3, "segments[1].proxies[0]")]
    assert "taken by a zone" in found[(4, "segments[2].name")]
    assert "has no DMZ" in found[(4, "segments[2].zone")]
    assert "used twice" in found[(5, "segments[3].name")]
    assert "10.2.0.0/24 already belongs to segment '事務系'" in found[(5, "segments[3].cidrs")]
    assert "known: hsz, sz, dmz, medical, external, any, role:backup" in found[(9, "zone_policy.rules[0].to")]
    assert "電子カルテ" in found[(9, "zone_policy.rules[0].to")]
    for message in found.values():  # both languages, every time
        assert " / " in message


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("heasnet-medium", "unknown zone policy 'heasnet-medium'; use heasnet-large, heasnet-small"),
        ("{base: heasnet-large, rules: [{from: sz, to: hsz}]}", "required"),
        ("[sz, hsz]", "expected a mapping"),
    ],
)
def test_a_wrong_policy_is_named_at_its_line(policy: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_text(ISSUE_FORM.replace("heasnet-large", policy, 1), source="site.yaml")
    (problem,) = caught.value.problems
    assert problem.line == 6 and problem.field.startswith("zone_policy")
    assert message in problem.message


def test_a_policy_without_segments_warns_that_nothing_is_checked() -> None:
    settings = settings_from_text("systems: []\nzone_policy: heasnet-small\n", source="site.yaml")
    (warning,) = settings.warnings
    assert (warning.line, warning.field) == (2, "zone_policy")
    assert "no segments" in warning.message
