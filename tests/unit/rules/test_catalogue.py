"""The rule catalogue: every rule declared once and complete; details typed, stored and read back; words rendered
in either language at the edge; docs/rules.md generated from it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from mamori.model import Alert, Severity
from mamori.rules import SCHEMA_KEY, Catalogue, Details, RawDetails, Rule, Summary, Text, UnknownRuleError, catalogue
from mamori.rules.docs import rules_markdown
from mamori.rules.render import alert_to_dict, describe_sample, summary

REPO = Path(__file__).resolve().parents[3]
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _alert(rule: str, **details: object) -> Alert:
    return Alert(
        uid="u1",
        rule=rule,
        key="k",
        severity=Severity.HIGH,
        first_seen=1_800_000_000.0,
        last_seen=1_800_000_060.0,
        count=1234,
        src_mac="02:00:00:00:0a:01",
        src_ip="10.0.0.66",
        dst_ip="10.0.0.2",
        dst_port=6000,
        system="透析システム",
        details=details,
    )


@pytest.mark.parametrize("rule", list(catalogue().values()), ids=lambda r: r.id)
def test_every_rule_is_complete_in_both_languages(rule: Rule) -> None:
    for text in (rule.title, rule.short, rule.meaning, rule.response):
        assert JAPANESE.search(text.ja), (rule.id, text.ja)
        assert text.en and not JAPANESE.search(text.en.replace("透析", "")), (rule.id, text.en)
    empty = rule.details()  # every field has a default (an old row may lack any of them)
    assert empty.to_json()[SCHEMA_KEY] == rule.details.schema
    for variant in rule.summaries:  # every template renders with nothing known, in both languages
        for lang in ("ja", "en"):
            alert = _alert(rule.id)
            text = summary(dataclasses.replace(alert, details=empty), lang)
            assert text and "{" not in text, (rule.id, lang, text)
            assert variant.template(lang)


def test_rule_ids_are_unique_and_lookups_name_the_known_ones() -> None:
    known = catalogue()
    assert len(set(known)) == len(known)
    with pytest.raises(UnknownRuleError, match=r"unknown rule 'nosuchrule'; known: unregistered-terminal, port-scan"):
        known.rule("nosuchrule")
    with pytest.raises(ValueError, match="declared twice"):
        Catalogue([known["port-scan"], known["port-scan"]])


def test_a_declaration_with_a_field_without_default_is_refused() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Bad(Details):
        needed: str

    with pytest.raises(ValueError, match="needs a default"):
        Rule(
            "bad",
            "network",
            Severity.LOW,
            Text("a", "a"),
            Text("a", "a"),
            Text("a", "a"),
            Text("a", "a"),
            Bad,
            (Summary("x", "x"),),
        )


def test_details_round_trip_and_old_rows() -> None:
    kind = catalogue()["port-scan"].details
    facts = {"direction": "vertical", "scan_types": {"syn": 900, "fin": 100}, "ports": {80, 22}, "hosts": {"h"}}
    typed = kind.from_facts({**facts, "odd": {3, 1}})
    assert typed.ports == (22, 80) and typed.hosts == ("h",) and typed.extra == {"odd": [1, 3]}
    assert kind.from_json(typed.to_json()) == typed
    old = kind.from_json({"direction": "horizontal", "ports": [445], "hosts": ["a", "b"], "scan_type": "syn"})
    assert old.direction == "horizontal" and old.ports == (445,) and old.scan_types == {}
    assert dict(old)["ports"] == [445]  # the mapping view is the JSON form


def test_summaries_are_rendered_in_the_readers_language() -> None:
    scan = _alert(
        "port-scan", scan_types={"syn": 1001, "fin": 1000, "xmas": 998}, ports=list(range(1, 1001)), hosts=["10.0.0.2"]
    )
    assert summary(scan, "ja") == (
        "ポートスキャン（SYN スキャン、FIN スキャン、Xmas スキャン）: 10.0.0.66 が 10.0.0.2 の 1000 ポートを"
        "調べています。1,234 回（対象システム: 透析システム）"
    )
    assert summary(scan, "en") == (
        "Port scan (SYN scan, FIN scan, Xmas scan): 10.0.0.66 probed 1000 ports on 10.0.0.2; 1,234 probes "
        "(system: 透析システム)"
    )
    doc = alert_to_dict(scan)
    assert (doc["summary_ja"], doc["summary_en"]) == (summary(scan, "ja"), summary(scan, "en"))
    assert doc["scan_types"] == {"syn": 1001, "fin": 1000, "xmas": 998} and doc["details"]["ports"][:2] == [1, 2]


def test_templates_only_name_plain_values() -> None:
    """A template is data (a plugin's too): attribute or index access is refused, not evaluated."""
    with pytest.raises(ValueError, match=r"plain values only, not 'src_ip\.__class__'"):
        Rule(
            "probe",
            "network",
            Severity.LOW,
            *(Text("あ", "a"),) * 4,
            details=Details,
            summaries=(Summary("{src_ip.__class__}", "{src_ip[0]}"),),
        )


def test_unknown_rules_keep_their_stored_words() -> None:
    alert = dataclasses.replace(
        _alert("gone"), details=RawDetails(extra={"x": 1}, summary_ja="保存された要約", summary_en="stored summary")
    )
    assert (summary(alert, "ja"), summary(alert, "en")) == ("保存された要約", "stored summary")
    assert alert_to_dict(alert)["details"] == {"x": 1}


def test_evidence_in_words() -> None:
    arp = {
        "kind": "arp-reply",
        "sender_ip": "192.168.10.1",
        "sender_mac": "02:bb:00:00:00:01",
        "target_ip": "192.168.10.1",
        "gratuitous": True,
    }
    assert describe_sample(arp, "en") == (
        "ARP reply, gratuitous (announcing its own IP), claims 192.168.10.1 is at 02:bb:00:00:00:01"
    )
    assert describe_sample(arp, "ja").startswith("ARP 応答、gratuitous")
    syn = {
        "kind": "attempt",
        "proto": "tcp",
        "src_ip": "10.0.0.66",
        "src_port": 40000,
        "src_mac": "02:00:00:00:0a:01",
        "dst_ip": "10.0.0.2",
        "dst_port": 6000,
        "flags": "FPU",
    }
    assert describe_sample(syn, "en") == (
        "connection attempt TCP, 10.0.0.66:40000 (02:00:00:00:0a:01) → 10.0.0.2:6000, FIN+PSH+URG (Xmas scan)"
    )
    denied = {
        "kind": "attempt",
        "proto": "tcp",
        "src_ip": "10.9.0.5",
        "dst_ip": "10.0.0.2",
        "dst_port": 3389,
        "action": "deny",
        "device": "rtx1210",
    }
    assert describe_sample(denied, "ja").endswith("rtx1210 が拒否")
    event = {
        "kind": "windows-event",
        "event_id": 4625,
        "channel": "Security",
        "computer": "PC01",
        "fields": {"TargetUserName": "admin", "IpAddress": "10.9.0.5", "LogonType": "3", "Empty": "-"},
    }
    assert describe_sample(event, "en") == (
        "event 4625 (Security, PC01): TargetUserName=admin, IpAddress=10.9.0.5, LogonType=3"
    )
    for sample in (arp, syn, denied, event):  # never a Python repr
        for lang in ("ja", "en"):
            text = describe_sample(sample, lang)
            assert "True" not in text and "{'" not in text and "None" not in text


def test_docs_rules_md_is_generated_from_the_catalogue() -> None:
    """docs/rules.md is `mamori rules --markdown`: regenerate it when a rule changes."""
    current = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert current == rules_markdown(catalogue()), (
        "docs/rules.md is out of date: mamori rules --markdown > docs/rules.md"
    )
