"""The zabbix action's value line, its PSK file, and what it refuses at start (sending is tested against a real
Zabbix server in tests/integration/test_zabbix.py)."""

from __future__ import annotations

import logging
import ssl
import sys
from pathlib import Path

import pytest

from mamori.alerting import build_action
from mamori.alerting.zabbix import ZabbixAction, psk_support, read_psk, zabbix_value
from mamori.config import ZabbixAction as ZabbixSettings
from mamori.model import Alert, Severity

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def _alert(**changes: object) -> Alert:
    values: dict = {
        "uid": "a1b2c3",
        "rule": "unregistered-terminal",
        "key": "k",
        "severity": Severity.HIGH,
        "first_seen": 0.0,
        "last_seen": 1.0,
        "count": 3,
        "src_mac": "02:00:00:00:0a:01",
        "src_ip": "10.0.0.66",
        "dst_ip": "10.0.0.2",
        "dst_port": 6000,
        "system": "透析システム",
    }
    values.update(changes)
    return Alert(**values)


def _settings(**changes: object) -> ZabbixSettings:
    values: dict = {"type": "zabbix", "name": "zbx", "server": "127.0.0.1", "host": "mamori-sensor", "heartbeat": 0}
    values.update(changes)
    return ZabbixSettings.model_validate(values)


def test_value_line() -> None:
    assert zabbix_value(_alert(), "new") == (
        "high|new|unregistered-terminal|a1b2c3|count=3|src_mac=02:00:00:00:0a:01|src_ip=10.0.0.66|"
        "dst=10.0.0.2:6000|system=透析システム|未登録端末 10.0.0.66 (02:00:00:00:0a:01) が 透析システム "
        "(10.0.0.2:6000) に接続しようとしました。3 回 / Unregistered terminal 10.0.0.66 (02:00:00:00:0a:01) tried to "
        "connect to 透析システム (10.0.0.2:6000); 3 times"
    )


def test_absent_fields_are_left_out_and_ipv6_is_bracketed() -> None:
    value = zabbix_value(_alert(src_mac=None, system=None, dst_ip="fd00::2"), "update")
    assert value.startswith("high|update|unregistered-terminal|a1b2c3|count=3|src_ip=10.0.0.66|dst=[fd00::2]:6000|")
    assert "src_mac=" not in value and "system=" not in value
    assert "|dst=10.0.0.2|" in zabbix_value(_alert(dst_port=None), "new")
    assert "|dst_port=445|" in zabbix_value(_alert(dst_ip=None, dst_port=445), "new")


def test_packet_data_cannot_break_the_line_or_its_fields() -> None:
    value = zabbix_value(_alert(system="A|B\nC", uid="u|1"), "escalated")
    assert "\n" not in value and "\r" not in value and "\x00" not in value
    fields = value.split("|")
    assert fields[:4] == ["high", "escalated", "unregistered-terminal", "u¦1"]
    assert "system=A¦B C" in fields
    assert "A¦B C (10.0.0.2:6000)" in fields[-1]  # the system, in the summary too, cannot add a field


def test_long_values_are_cut() -> None:
    value = zabbix_value(_alert(system="x" * 10_000), "new")
    assert len(value) == 4000 and value.endswith("…")


def test_psk_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "zabbix.psk"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    assert read_psk(path) == bytes.fromhex(KEY)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        read_psk(path)
    assert "chmod 600" in caplog.text
    for bad in ("abc", KEY[:31], KEY + "0", "zz" * 16, ""):
        path.write_text(bad)
        with pytest.raises(ValueError, match="32 to 512 hex digits"):
            read_psk(path)
    with pytest.raises(ValueError, match="cannot read"):
        read_psk(tmp_path / "missing.psk")


def test_actions_refuse_what_cannot_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="IPv4"):
        build_action(_settings(server="fd00::1"))
    missing = tmp_path / "missing.psk"
    with pytest.raises(ValueError, match=r"action 'zbx'.*(cannot read|TLS-PSK needs)"):
        build_action(_settings(tls_psk_identity="sensor-1", tls_psk_file=str(missing)))


def _psk_settings(tmp_path: Path) -> ZabbixSettings:
    path = tmp_path / "zabbix.psk"
    path.write_text(KEY)
    path.chmod(0o600)
    return _settings(tls_psk_identity="sensor-1", tls_psk_file=str(path))


def test_psk_with_python_313_or_sslpsk3(tmp_path: Path) -> None:
    context_class, how = psk_support()
    if context_class is None:
        pytest.skip(how)
    action = build_action(_psk_settings(tmp_path))
    assert isinstance(action, ZabbixAction) and action.encrypted, how


def test_psk_without_support_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if hasattr(ssl.SSLContext, "set_psk_client_callback"):
        pytest.skip("n/a: Python 3.13 or later: the ssl module does TLS-PSK itself")
    monkeypatch.setitem(sys.modules, "sslpsk3", None)  # as if it were not installed
    with pytest.raises(ValueError, match=r"action 'zbx': TLS-PSK needs Python 3\.13 or later, or the sslpsk3"):
        build_action(_psk_settings(tmp_path))


def test_no_heartbeat_when_disabled() -> None:
    action = build_action(_settings(heartbeat=0))
    assert isinstance(action, ZabbixAction)
    action.tick(1_000_000.0)
    assert action.last_heartbeat is None and not action.encrypted
