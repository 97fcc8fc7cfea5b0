"""Sigma rules: parsed by pySigma, matched by mamori; correlations (event_count, value_count, temporal); what is
not supported is reported with the file and the reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mamori.config.windows import WindowsSettings
from mamori.detection.windows import WindowsEngine, load_sigma
from mamori.model import Severity
from mamori.testing.winevents import event, failed_logon

T0 = 1_800_000_000.0
SYSMON = "Microsoft-Windows-Sysmon/Operational"

BASE = """
title: Failed logon of an administrator
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b01
name: failed_admin_logon
status: test
logsource: {product: windows, service: security}
detection:
  selection:
    EventID: 4625
    TargetUserName|endswith: administrator
  condition: selection
level: medium
"""
EVENT_COUNT = """
title: Many failed administrator logons from one address
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b02
correlation:
  type: event_count
  rules: [failed_admin_logon]
  group-by: [IpAddress]
  timespan: 1m
  condition: {gte: 5}
level: high
"""
VALUE_COUNT = """
title: Failed logons to many accounts
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b03
name: any_failed_logon
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
level: low
---
title: Spraying from one address
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b04
correlation:
  type: value_count
  rules: [any_failed_logon]
  group-by: [IpAddress]
  timespan: 1h
  condition: {gte: 3, field: TargetUserName}
level: high
"""
TEMPORAL = """
title: Scanner installed
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b05
name: scanner_installed
logsource: {product: windows, service: application}
detection:
  selection:
    EventID: [11707, 1033]
    Data|contains: 'advanced ip scanner'
  condition: selection
level: medium
---
title: Mimikatz run
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b06
name: mimikatz_run
logsource: {product: windows, category: process_creation}
detection:
  selection_img: {Image|endswith: '\\mimikatz.exe'}
  selection_cmd: {CommandLine|contains|all: ['sekurlsa', 'logonpasswords']}
  filter: {Image|startswith: 'C:\\Program Files\\'}
  condition: 1 of selection_* and not filter
level: critical
---
title: Scanner and Mimikatz on one machine within an hour
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b07
correlation:
  type: temporal
  rules: [scanner_installed, mimikatz_run]
  timespan: 1h
level: critical
"""
MODIFIERS = """
title: Modifiers
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b08
logsource: {product: windows, service: security}
detection:
  sel_re: {EventID: 4624, WorkstationName|re: '^VENDOR-[0-9]+$'}
  sel_cidr: {EventID: 4624, IpAddress|cidr: 172.31.0.0/16}
  sel_num: {EventID: 4624, LogonType: 10}
  condition: all of sel_*
level: high
---
title: Keyword
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b09
logsource: {product: windows, service: system}
detection:
  keywords: ['psexesvc']
  condition: keywords
level: high
"""
UNSUPPORTED = """
title: Linux rule
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b10
logsource: {product: linux, service: auth}
detection:
  selection: {message: 'Failed password'}
  condition: selection
---
title: Field reference
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b11
logsource: {product: windows, service: security}
detection:
  selection: {TargetUserName|fieldref: SubjectUserName}
  condition: selection
---
title: Ordered
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b12
correlation:
  type: temporal_ordered
  rules: [5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b01]
  timespan: 1h
---
title: Fewer than
id: 5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b13
correlation:
  type: event_count
  rules: [5b6a1f8e-0c3e-4a59-9a5d-1f2e3d4c5b01]
  timespan: 1h
  condition: {lt: 3}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run(rules_dir: Path, events: list) -> list:
    rules = load_sigma([rules_dir])
    eng = WindowsEngine(WindowsSettings(), sigma=rules, rules=[])
    eng.feed(events)
    return [a for a in eng.collect_changes() if a.rule == "sigma"]


def test_event_count_correlation_groups_by_field_and_hides_its_base_rule(tmp_path: Path) -> None:
    write(tmp_path, "base.yml", BASE)
    write(tmp_path, "count.yml", EVENT_COUNT)
    events = [failed_logon(T0 + i, user="Administrator", ip="10.0.0.9") for i in range(6)]
    events += [failed_logon(T0 + i, user="Administrator", ip="10.0.0.8") for i in range(3)]  # below the count
    [alert] = run(tmp_path, events)
    assert alert.details["sigma_title"] == "Many failed administrator logons from one address"
    assert alert.details["group"][1] == "10.0.0.9"
    assert alert.severity == Severity.HIGH
    assert alert.count == 6  # the five that met the condition, then one more


def test_value_count_correlation_counts_distinct_values(tmp_path: Path) -> None:
    write(tmp_path, "spray.yml", VALUE_COUNT)
    events = [failed_logon(T0 + i, user=f"user{i}", ip="10.0.0.9") for i in range(3)]
    [alert] = run(tmp_path, events)
    assert alert.details["correlation"] == "value_count"


def test_temporal_correlation_and_conditions_with_selectors(tmp_path: Path) -> None:
    write(tmp_path, "chain.yml", TEMPORAL)
    scanner = event(
        T0,
        11707,
        {"Data": "Product: Advanced IP Scanner 2.5.1 -- Installation completed successfully."},
        channel="Application",
        provider="MsiInstaller",
    )
    mimikatz = event(T0 + 600, 1, {"Image": "C:\\Users\\a\\mimikatz.exe", "CommandLine": "x"}, channel=SYSMON)
    legit = event(T0 + 700, 1, {"Image": "C:\\Program Files\\mimikatz.exe", "CommandLine": "x"}, channel=SYSMON)
    alerts = run(tmp_path, [scanner, legit])
    assert alerts == []  # the filter removed the second; the temporal needs both
    alerts = run(tmp_path, [scanner, mimikatz])
    assert [a.details["sigma_title"] for a in alerts] == ["Scanner and Mimikatz on one machine within an hour"]


def test_regex_cidr_numbers_and_keywords(tmp_path: Path) -> None:
    write(tmp_path, "mods.yml", MODIFIERS)
    hit = event(T0, 4624, {"WorkstationName": "VENDOR-01", "IpAddress": "172.31.8.20", "LogonType": "10"})
    miss = event(T0, 4624, {"WorkstationName": "VENDOR-01", "IpAddress": "10.0.0.1", "LogonType": "10"})
    service = event(T0, 7045, {"ServiceName": "PSEXESVC", "ImagePath": "%SystemRoot%\\PSEXESVC.exe"}, channel="System")
    titles = sorted(a.details["sigma_title"] for a in run(tmp_path, [hit, miss, service]))
    assert titles == ["Keyword", "Modifiers"]


def test_unsupported_rules_are_reported_with_file_and_reason(tmp_path: Path) -> None:
    write(tmp_path, "base.yml", BASE)
    path = write(tmp_path, "odd.yml", UNSUPPORTED)
    (tmp_path / "broken.yml").write_text("title: [unclosed\n", encoding="utf-8")
    rules = load_sigma([tmp_path])
    reasons = {p.rule: p.reason for p in rules.problems if p.file == str(path)}
    assert "not Windows" in reasons["Linux rule"]
    assert "SigmaFieldReference" in reasons["Field reference"]
    assert "temporal_ordered" in reasons["Ordered"]
    assert "lt" in reasons["Fewer than"]
    assert any(p.file.endswith("broken.yml") for p in rules.problems)
    assert [b.title for b in rules.bases] == ["Failed logon of an administrator"]


def test_rules_that_pin_event_ids_keep_the_reader_filter(tmp_path: Path) -> None:
    write(tmp_path, "base.yml", BASE)
    rules = load_sigma([tmp_path])
    assert rules.event_ids() == frozenset({4625})
    write(tmp_path, "mods.yml", MODIFIERS)  # the keyword rule can match any id
    assert load_sigma([tmp_path]).event_ids() is None
