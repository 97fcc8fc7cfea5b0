"""The Zabbix 6.0 template: its shape, stable UUIDs, and triggers that match the values the action sends."""

from __future__ import annotations

import dataclasses
import functools
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from mamori.alerting.zabbix import zabbix_value
from mamori.alerting.zabbix_template import build_template, template_data
from mamori.model import Alert, Severity
from mamori.rules import catalogue

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C one when PyYAML has it: much faster
_FIND = re.compile(r'^find\(/(?P<template>[^/]+)/(?P<key>[^,]+),,"regexp","(?P<pattern>[^"]+)"\)=1$')


@functools.cache
def _default_text() -> str:
    return build_template()


def _template(text: str | None = None) -> dict:
    data = yaml.load(text if text is not None else _default_text(), Loader=_LOADER)  # noqa: S506 - a safe loader
    export = data["zabbix_export"]
    assert export["version"] == "6.0"
    assert len(export["templates"]) == 1
    return export["templates"][0]


def _items(template: dict) -> dict[str, dict]:
    return {item["key"]: item for item in template["items"]}


def _uuids(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "uuid"] + [u for v in node.values() for u in _uuids(v)]
    if isinstance(node, list):
        return [u for v in node for u in _uuids(v)]
    return []


def test_one_text_trapper_item_per_rule_and_a_heartbeat() -> None:
    template = _template()
    assert template["template"] == "mamori"
    assert template["groups"] == [{"name": "Templates/Security"}]
    items = _items(template)
    assert set(items) == {f"mamori.alert[{rule}]" for rule in catalogue().ids()} | {"mamori.heartbeat"}
    for rule in catalogue().ids():
        item = items[f"mamori.alert[{rule}]"]
        assert (item["type"], item["value_type"], item["trends"]) == ("TRAP", "TEXT", "0")
        assert " / " in item["name"] and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", item["name"]), item["name"]
        assert {"tag": "rule", "value": rule} in item["tags"]
    heartbeat = items["mamori.heartbeat"]
    assert (heartbeat["type"], heartbeat["value_type"], heartbeat["units"]) == ("TRAP", "UNSIGNED", "unixtime")


def test_triggers_per_rule_follow_mamori_severity() -> None:
    items = _items(_template())
    for rule in catalogue().ids():
        triggers = items[f"mamori.alert[{rule}]"]["triggers"]
        assert [t["priority"] for t in triggers] == ["DISASTER", "HIGH", "AVERAGE", "WARNING"]
        for trigger in triggers:
            match = _FIND.match(trigger["expression"])
            assert match, trigger["expression"]
            assert (match["template"], match["key"]) == ("mamori", f"mamori.alert[{rule}]")
            assert "\\" not in trigger["expression"]  # nothing that Zabbix's string escaping could change
            assert (trigger["type"], trigger["recovery_mode"], trigger["manual_close"]) == ("MULTIPLE", "NONE", "YES")
            assert {"tag": "source", "value": "mamori"} in trigger["tags"]
            assert {"tag": "rule", "value": rule} in trigger["tags"]
            assert "{ITEM.VALUE}" in trigger["event_name"]


def test_silent_sensor_trigger() -> None:
    template = _template()
    [trigger] = _items(template)["mamori.heartbeat"]["triggers"]
    assert trigger["expression"] == "nodata(/mamori/mamori.heartbeat,{$MAMORI.SILENT})=1"
    assert "センサー応答なし" in trigger["name"] and "sensor silent" in trigger["name"]
    assert {k: template["macros"][0][k] for k in ("macro", "value")} == {"macro": "{$MAMORI.SILENT}", "value": "5m"}


@functools.cache
def _parsed_items() -> dict[str, dict]:
    return _items(_template())


def _alert(severity: Severity, rule: str = "port-scan") -> Alert:
    return Alert("u1", rule, "k", severity, 0.0, 1.0, 3, src_ip="10.0.0.9")


@pytest.mark.parametrize("rule", catalogue().ids())
@pytest.mark.parametrize("severity", list(Severity))
def test_exactly_one_trigger_fires_on_a_new_or_escalated_value(rule: str, severity: Severity) -> None:
    """Zabbix's regexp is PCRE; these patterns use nothing that Python's re reads differently."""
    triggers = _parsed_items()[f"mamori.alert[{rule}]"]["triggers"]
    patterns = [_FIND.match(t["expression"])["pattern"] for t in triggers]  # type: ignore[index]
    expected = {"critical": "DISASTER", "high": "HIGH", "medium": "AVERAGE", "low": "WARNING", "info": "WARNING"}
    for event in ("new", "escalated"):
        value = zabbix_value(_alert(severity, rule), event)
        fired = [t["priority"] for t, p in zip(triggers, patterns, strict=True) if re.search(p, value)]
        assert fired == [expected[severity.label]], (value, fired)
    update = zabbix_value(_alert(severity, rule), "update")
    assert not any(re.search(p, update) for p in patterns)


def test_uuids_are_stable_unique_and_shaped_as_zabbix_wants() -> None:
    first, second = build_template(), build_template()
    assert first == second
    ids = _uuids(yaml.safe_load(first))
    assert (
        len(ids) == len(set(ids)) == 1 + 1 + len(catalogue().ids()) * 5 + 2
    )  # group, template, items+triggers, heartbeat
    for value in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", value)
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)  # Zabbix rejects anything but UUIDv4's shape
    # Pinned: changing how UUIDs are derived would make Zabbix duplicate the template on the next import.
    assert _template(first)["uuid"] == "5650ce169fee4e178db86337bb47fb89"


def test_prefix_and_name_change_keys_expressions_and_ids() -> None:
    default = _template()
    other = _template(build_template(name="mamori-ward2", prefix="ward2"))
    items = _items(other)
    assert "ward2.alert[port-scan]" in items and "ward2.heartbeat" in items
    expression = items["ward2.alert[port-scan]"]["triggers"][0]["expression"]
    assert expression.startswith("find(/mamori-ward2/ward2.alert[port-scan],")
    assert set(_uuids(default)).isdisjoint(_uuids(other))


@pytest.mark.parametrize(("name", "prefix"), [("a/b", "mamori"), ("", "mamori"), ("mamori", "bad prefix")])
def test_bad_names_are_refused(name: str, prefix: str) -> None:
    with pytest.raises(ValueError, match=r"name|prefix"):
        template_data(name, prefix)


def test_cli_prints_the_template() -> None:
    mamori = str(Path(sys.executable).with_name("mamori"))
    args = [mamori, "zabbix-template", "--prefix", "ward2", "--name", "mamori-ward2"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout == build_template(name="mamori-ward2", prefix="ward2")
    bad = subprocess.run([mamori, "zabbix-template", "--name", "a/b"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "template name" in bad.stderr


def test_the_device_blocked_item_and_its_triggers_match_the_values_blocking_sends() -> None:
    """Blocks reach Zabbix (issue 15): the generated template has the device-blocked item, its triggers raise a
    problem for a block made (medium) and for a release that failed (high: the port stays shut), and a release
    that worked is only in the item's history (an update of the same alert)."""
    from mamori.blocking import BlockEvent, BlockRecord
    from mamori.runtime.blocking import block_alert

    item = _items(_template())["mamori.alert[device-blocked]"]
    assert item["name"] == "mamori 機器の遮断 / Device blocked"
    assert (item["type"], item["value_type"]) == ("TRAP", "TEXT")
    patterns = {}
    for trigger in item["triggers"]:
        found = _FIND.match(trigger["expression"])
        assert found is not None and found["key"] == "mamori.alert[device-blocked]", trigger["expression"]
        assert "機器の遮断" in trigger["name"] and "Device blocked" in trigger["name"]
        patterns[trigger["priority"]] = re.compile(found["pattern"])

    record = BlockRecord(id="b1", method="snmp-port", action="shut-port", alert_uid="u1", rule="unregistered-terminal",
                         mac="02:4b:00:00:00:66", ip="10.75.0.66", state="active", created_at=1_800_000_000.0,
                         place="floor2-access Gi1/0/5 (ifIndex 5)", port_name="Gi1/0/5",
                         port_descr="2F exam room 3")  # fmt: skip

    def raised(event: BlockEvent, sent: str) -> set[str]:
        alert = block_alert(event, 1_800_000_060.0)
        assert alert is not None and alert.rule == "device-blocked"
        value = zabbix_value(alert, sent)
        assert value.split("|")[2] == "device-blocked" and "Gi1/0/5" in value
        return {priority for priority, pattern in patterns.items() if pattern.search(value)}

    assert raised(BlockEvent(record, "blocked"), "new") == {"AVERAGE"}
    failed = dataclasses.replace(record, detail="release failed: switch gone")
    assert raised(BlockEvent(failed, "release-failed"), "escalated") == {"HIGH"}
    released = dataclasses.replace(record, state="released", released_at=1_800_000_050.0, released_by="auto")
    assert raised(BlockEvent(released, "released"), "update") == set()
