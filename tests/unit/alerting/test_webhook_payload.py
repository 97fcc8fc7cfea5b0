"""The webhook action's documents: plain JSON, a Teams Adaptive Card, a Slack message; hostile values."""

from __future__ import annotations

import json

import pytest

from mamori.alerting.base import Notification
from mamori.alerting.webhook import payload
from mamori.model import Alert, Severity
from mamori.rules.render import alert_to_dict
from mamori.rules.render import summary as render


def alert(**changes: object) -> Alert:
    fields: dict[str, object] = {
        "uid": "a-1",
        "rule": "syn-flood",
        "key": "k",
        "severity": Severity.HIGH,
        "first_seen": 1795400100.0,
        "last_seen": 1795400162.5,
        "count": 50000,
        "dst_ip": "192.168.10.11",
        "dst_port": 443,
        "details": {"peak_rate": 9000, "extra_fact": True},
    }
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def test_json_is_the_alert_dict_with_the_event() -> None:
    a = alert()
    doc = payload(Notification(a, "update"), "json")
    assert doc == {"event": "update", **alert_to_dict(a)}
    assert doc["peak_rate"] == 9000 and doc["details"]["peak_rate"] == 9000
    assert doc["details"]["extra_fact"] is True  # a fact the rule does not declare is kept, not dropped


def test_teams_adaptive_card() -> None:
    doc = payload(Notification(alert(), "new"), "teams")
    content = doc["attachments"][0]["content"]
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.4"
    title, ja, en, facts = content["body"]
    assert title["text"] == r"mamori \[high\] syn-flood \(新規 / new\)" and title["color"] == "Attention"
    assert ja["text"].startswith("SYN フラッド: 192.168.10.11 に SYN が 50,000 件")
    assert en["text"].startswith("SYN flood: 50,000 SYNs to 192.168.10.11")
    values = {f["title"]: f["value"] for f in facts["facts"]}
    assert values["宛先 / Target"] == "192.168.10.11:443"
    assert values["送信元 / Source"] == r"\-"  # a lone "-" would be an empty list item
    assert values["最後 / Last seen"] == "2026-11-23T02:16:02.500000+00:00"
    low = payload(Notification(alert(severity=Severity.LOW), "new"), "teams")
    assert low["attachments"][0]["content"]["body"][0]["color"] == "Default"


def test_slack_message() -> None:
    doc = payload(Notification(alert(), "new"), "slack")
    assert doc["text"] == "mamori [high] syn-flood (新規 / new)"  # the fallback: mamori's own words only
    header, summary, fields = doc["blocks"]
    assert header["type"] == "header"
    a = alert()
    assert summary["text"] == {"type": "plain_text", "text": f"{render(a, 'ja')}\n{render(a, 'en')}", "emoji": False}
    assert len(fields["fields"]) <= 10
    assert {"type": "plain_text", "text": "件数 / Count: 50000", "emoji": False} in fields["fields"]


@pytest.mark.parametrize("value", ["<!channel> please", "<https://evil.example|見て>", "a & b", "\n*bold*\r\n"])
def test_hostile_values_in_chat_formats(value: str) -> None:
    a = alert(system=value)
    slack = json.dumps(payload(Notification(a, "new"), "slack"), ensure_ascii=False)
    assert "<!channel>" not in slack and "<https://" not in slack
    teams = payload(Notification(a, "new"), "teams")
    shown = [b.get("text", "") for b in teams["attachments"][0]["content"]["body"]]
    assert all("\n" not in s and "\r" not in s for s in shown)
    plain = payload(Notification(a, "new"), "json")
    assert plain["system"] == value  # the JSON format keeps values verbatim; JSON encoding makes them data
    assert json.loads(json.dumps(plain))["system"] == value
