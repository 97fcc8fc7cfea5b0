"""The evidence table speaks words: every field of every rule has a label in both languages, codes are named."""

from __future__ import annotations

import dataclasses

import pytest

from mamori.model import Alert, Severity
from mamori.rules import Rule, Text, catalogue
from mamori.rules.labels import FIELD_WORDS, field_label, has_words
from mamori.rules.render import detail_rows


@pytest.mark.parametrize("rule", [catalogue()[r] for r in catalogue().ids()], ids=lambda r: r.id)
def test_every_field_of_every_rule_has_words_in_both_languages(rule: Rule) -> None:
    own = rule.labels or {}
    for f in dataclasses.fields(rule.details):
        if f.name == "extra" or f.name in rule.details.hidden:
            continue
        assert has_words(f.name) or f.name in own, f"{rule.id}: no words for the field {f.name!r} (rules/labels.py)"
        assert field_label(f.name, "ja", own) != field_label(f.name, "en", own) or f.name in own, f.name


def test_the_vocabulary_has_no_blank_words() -> None:
    for name, (ja, en) in FIELD_WORDS.items():
        assert ja.strip() and en.strip() and "_" not in en, name


def test_detail_rows_name_codes_and_say_yes_or_no_in_the_readers_language() -> None:
    details = {
        "reason": "registered-binding",
        "role": "gateway",
        "name": "core-router",
        "registered_mac": "02:10:00:00:00:01",
        "registered_mac_learned": False,
        "claimed_mac": "02:66:00:00:be:ef",
        "macs": [],
        "gratuitous": 5,
    }
    alert = Alert("u1", "ip-mac-conflict", "k", Severity.CRITICAL, 1.0, 2.0, 5, src_ip="192.168.10.1", details=details)
    ja = dict(detail_rows(alert, "ja"))
    en = dict(detail_rows(alert, "en"))
    assert ja["理由"] == "登録済みの IP を別の MAC が名乗った" and ja["役割"] == "ゲートウェイ"
    assert ja["登録 MAC は学習で得たもの"] == "いいえ" and ja["MAC アドレス"] == "–"
    assert en["Reason"] == "a registered IP claimed by another MAC" and en["Role"] == "gateway"
    assert en["Registered MAC was learned"] == "no" and en["Gratuitous ARPs"] == "5"
    assert not any("_" in label for label in [*ja, *en])


def test_ports_and_event_ids_are_not_shown_as_amounts() -> None:
    alert = Alert(
        "u2", "port-scan", "k", Severity.HIGH, 1.0, 2.0, 3, details={"ports": [3389, 445], "scan_type": "fin"}
    )
    en = dict(detail_rows(alert, "en"))
    assert en["Ports"] == "3389, 445" and en["Scan technique"] == "FIN scan"


def test_a_plugin_rule_may_name_its_own_fields_and_unknown_fields_still_read() -> None:
    own = {"widget_count": Text("部品の数", "Widgets")}
    assert field_label("widget_count", "ja", own) == "部品の数"
    assert field_label("widget_count", "en", own) == "Widgets"
    assert field_label("some_new_field", "en") == "some new field"
