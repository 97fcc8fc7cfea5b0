"""The e-mail action's message (subject, headers, bilingual body) and its password-file rule."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest

from mamori.alerting import build_action
from mamori.alerting.base import DeliveryError, Notification
from mamori.alerting.email import build_message, read_password
from mamori.config import EmailAction
from mamori.model import Alert, Severity

JST = dt.timezone(dt.timedelta(hours=9), "JST")


def settings(**more: object) -> EmailAction:
    values: dict[str, object] = {
        "name": "mail",
        "type": "email",
        "smtp": "smtp://mx.example:587",
        "to": ["a@b.example"],
    }
    values.update(more)
    return EmailAction.model_validate(values)


def alert(**changes: object) -> Alert:
    fields: dict[str, object] = {
        "uid": "a-1",
        "rule": "ip-mac-conflict",
        "key": "k",
        "severity": Severity.CRITICAL,
        "first_seen": 1795400100.0,
        "last_seen": 1795400162.5,
        "count": 3,
        "src_mac": "02:00:00:00:0e:01",
        "dst_ip": "192.168.10.11",
        "system": "透析システム",
        "src_ip": "192.168.10.11",
        "details": {
            "reason": "registered-binding",
            "role": "server",
            "name": "dialysis-srv",
            "registered_mac": "02:10:00:00:01:11",
            "claimed_mac": "02:00:00:00:0e:01",
        },
        "samples": tuple(
            {
                "ts": 1795400100.0 + i,
                "kind": "arp-reply",
                "sender_ip": "192.168.10.11",
                "sender_mac": "02:00:00:00:0e:01",
                "target_ip": "192.168.10.1",
                "gratuitous": False,
            }
            for i in range(8)
        ),
    }
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def roundtrip(message: email.message.EmailMessage) -> email.message.EmailMessage:
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)


def test_subject_headers_and_body() -> None:
    msg = roundtrip(build_message(Notification(alert(), "new"), settings(), sender="s@h.example", hostname="h", tz=JST))
    assert msg["Subject"] == (
        "[mamori] [critical] ip-mac-conflict: ARP 詐称の疑い: 登録済みサーバ dialysis-srv の IP 192.168.10.11"
        "（正規 MAC 02:10:00:00:01:11）を MAC 02:00:00:00:0e:01 が名乗っています。3 回"
    )
    assert (msg["From"], msg["To"], msg["Auto-Submitted"]) == ("s@h.example", "a@b.example", "auto-generated")
    assert msg["Message-ID"].endswith("@h>")
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    body = msg.get_content().replace("\r\n", "\n")  # text parts travel with CRLF line ends
    ja = body.index("mamori がアラートを検知しました（新規）")
    en = body.index("mamori raised an alert (new).")
    assert ja < en
    assert "最初: 2026-11-23 11:15:00 JST (2026-11-23T02:15:00+00:00)" in body
    assert "Last seen: 2026-11-23 11:16:02 JST (2026-11-23T02:16:02.500000+00:00)" in body
    assert "送信元: 02:00:00:00:0e:01 / 192.168.10.11\n" in body and "Target: 192.168.10.11\n" in body
    # the details in words, in each language, never a field name or a JSON value
    assert "名乗った MAC: 02:00:00:00:0e:01\n" in body and "Claiming MAC: 02:00:00:00:0e:01\n" in body
    assert "claimed_mac" not in body and '"02:00:00:00:0e:01"' not in body
    # what the alert means and what to do, from the rule catalogue, in each language
    assert "【ARP 詐称・IP-MAC の不一致】" in body and "対応: 名乗った側の MAC の機器を特定して" in body
    assert "[ARP spoofing / IP-MAC conflict]" in body and "What to do: Find and isolate the device" in body
    assert "観測の見本（最初の 5 件）:" in body and "Sample observations (first 5):" in body
    assert body.count("192.168.10.11 は 02:00:00:00:0e:01 にあると主張") == 5  # the samples in words
    assert body.count("claims 192.168.10.11 is at 02:00:00:00:0e:01") == 5
    assert "  - 2026-11-23 11:15:00 JST ARP 応答" in body


def test_subject_prefix_and_update() -> None:
    msg = build_message(
        Notification(alert(), "update"), settings(subject_prefix="【院内】"), sender="s@h", hostname="h"
    )
    assert roundtrip(msg)["Subject"].startswith("【院内】 [critical] ip-mac-conflict: ")
    assert "（更新）" in roundtrip(msg).get_content()


@pytest.mark.parametrize("value", ["\r\nBcc: victim@example.org", "x\nSubject: forged", "\x00\x1b\u2028\x85"])
def test_subject_cannot_carry_a_line_break(value: str) -> None:
    msg = build_message(
        Notification(alert(details={"reason": "registered-binding", "role": "server", "name": value}), "new"),
        settings(),
        sender="s@h",
        hostname="h",
    )
    raw = msg.as_bytes()
    parsed = roundtrip(msg)
    assert parsed.get_all("Bcc") is None and len(parsed.get_all("Subject") or []) == 1
    assert "\ufffd" in parsed["Subject"]
    assert b"\r\nBcc:" not in raw and b"\nSubject: forged" not in raw


def test_long_subject_is_cut() -> None:
    msg = build_message(
        Notification(alert(details={"reason": "registered-binding", "role": "server", "name": "長" * 500}), "new"),
        settings(),
        sender="s@h",
        hostname="h",
    )
    assert len(roundtrip(msg)["Subject"]) == 200


def test_default_sender_is_mamori_at_hostname() -> None:
    action = build_action(settings())
    assert action._sender == f"mamori@{action._hostname}"  # type: ignore[attr-defined]
    assert build_action(settings(**{"from": "ids@hospital.example"}))._sender == "ids@hospital.example"  # type: ignore[attr-defined]


def test_password_file_must_be_private(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2\nsecond line ignored\n")
    secret.chmod(0o600)
    assert read_password(secret) == "hunter2"
    secret.chmod(0o640)
    with pytest.raises(DeliveryError, match=r"may be read by other users \(mode 0640\); not used: run  chmod 600"):
        read_password(secret)
    with pytest.raises(DeliveryError, match=r"cannot read password_file .*No such file"):
        read_password(tmp_path / "missing")


def test_login_settings_are_checked_before_connecting(tmp_path: Path) -> None:
    note = Notification(alert(), "new")
    with pytest.raises(DeliveryError, match="username and password_file go together"):
        build_action(settings(username="alerts")).deliver(note)
    secret = tmp_path / "pw"
    secret.write_text("x")
    secret.chmod(0o600)
    plain = settings(smtp="smtp+plain://127.0.0.1:1", username="alerts", password_file=str(secret))
    with pytest.raises(DeliveryError, match="never sent without TLS"):
        build_action(plain).deliver(note)
