"""Every built-in action type is in the registry and built from its settings; a wrong ca_file is a clear failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mamori.alerting import Notification, build_action
from mamori.alerting.base import DeliveryError
from mamori.alerting.registry import BUILTIN
from mamori.config import EmailAction, SyslogAction, WebhookAction
from mamori.model import Alert, Severity


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (SyslogAction, {"type": "syslog", "target": "udp://127.0.0.1:514"}),
        (EmailAction, {"type": "email", "smtp": "smtps://mx.example", "to": ["soc@example.org"]}),
        (WebhookAction, {"type": "webhook", "url": "https://hooks.example/x", "format": "teams"}),
    ],
)
def test_builds_each_type(model: Any, values: dict[str, Any]) -> None:
    action = build_action(model.model_validate({"name": "a", **values}))
    assert (action.name, action.type) == ("a", values["type"])
    assert BUILTIN[values["type"]].options is model
    action.tick(0.0)
    action.close()


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (SyslogAction, {"type": "syslog", "target": "tls://127.0.0.1:6514"}),
        (EmailAction, {"type": "email", "smtp": "smtps://127.0.0.1:465", "to": ["soc@example.org"]}),
        (WebhookAction, {"type": "webhook", "url": "https://127.0.0.1:1/x"}),
    ],
)
def test_a_missing_ca_file_is_a_clear_failed_attempt(model: Any, values: dict[str, Any], tmp_path: Path) -> None:
    action = build_action(model.model_validate({"name": "a", "ca_file": str(tmp_path / "no-ca.pem"), **values}))
    alert = Alert("u", "port-scan", "k", Severity.LOW, 1.0, 2.0, 1)
    with pytest.raises(DeliveryError, match=r"cannot load the CA certificates of ca_file .*no-ca\.pem"):
        action.deliver(Notification(alert, "new"))
