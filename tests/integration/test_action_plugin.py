"""Adding an action type is one declaration in a plugin package: its name, its options (validated by the settings
check with file, line and field like the built-in ones) and its factory, found through the ``mamori.actions``
entry points of the installed distribution. The plugin here writes each notification as a JSON line to a file; it
runs on a real alert (a SYN from an unregistered terminal in a capture, through the real engine)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from mamori.model import SYN
from mamori.testing.pcapbuilder import PcapWriter, eth, ipv4, tcp
from tests.integration.conftest import json_lines, run_mamori

PLUGIN = '''
"""A site's own action: append each notification to a file, one JSON object a line."""

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from mamori.alerting import ActionType, Notification, Outcome
from mamori.config import ActionSettings
from mamori.rules import render


class FileDropOptions(ActionSettings):
    type: Literal["filedrop"]
    path: Path = Field(description="the file the notifications are appended to")

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError(f"{value}: 絶対パスにしてください / {value}: use an absolute path")
        return value


class FileDrop:
    type = "filedrop"

    def __init__(self, options: FileDropOptions) -> None:
        self.name = options.name
        self.path = options.path

    def deliver(self, note: Notification) -> Outcome:
        line = {"event": note.event, "uid": note.alert.uid, "rule": note.alert.rule,
                "count": note.alert.count, "summary_en": render.summary(note.alert, "en")}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\\n")
        return Outcome(True, f"written to {self.path}")

    def tick(self, now: float) -> None:
        return None

    def close(self) -> None:
        return None


ACTION = ActionType("filedrop", FileDropOptions, FileDrop)
'''

ENTRY_POINTS = """\
[mamori.actions]
filedrop = mamori_filedrop_plugin:ACTION
"""

SERVER = ("02:62:00:00:00:02", "10.62.0.2")
STRANGER = ("02:62:00:00:00:66", "10.62.0.66")


def _site(tmp_path: Path, action: str) -> Path:
    site = tmp_path / "site.yaml"
    site.write_text(
        textwrap.dedent(
            f"""\
            storage: {{path: {tmp_path / "m.db"}}}
            systems:
              - name: 透析システム
                servers: [{{ip: {SERVER[1]}, mac: "{SERVER[0]}"}}]
                ports: [6000]
            actions:
              - {action}
            """
        ),
        encoding="utf-8",
    )
    return site


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plugin as an installed distribution (its module and .dist-info with entry_points.txt) on PYTHONPATH,
    which every `mamori` this test starts inherits."""
    site_packages = tmp_path / "site-packages"
    (site_packages / "mamori_filedrop_plugin").mkdir(parents=True)
    (site_packages / "mamori_filedrop_plugin" / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    info = site_packages / "mamori_filedrop_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mamori-filedrop-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site_packages), os.environ.get("PYTHONPATH")])))
    return site_packages


def _capture(path: Path) -> Path:
    """Three SYNs from a terminal that is not registered for the dialysis system."""
    with PcapWriter(path) as writer:
        for i in range(3):
            segment = tcp(STRANGER[1], SERVER[1], 40000 + i, 6000, SYN)
            writer.write(
                1_800_000_000.0 + i, eth(SERVER[0], STRANGER[0], 0x0800, ipv4(STRANGER[1], SERVER[1], 6, segment))
            )
    return path


def test_a_plugin_action_type_is_checked_and_runs_on_a_real_alert(plugin: Path, tmp_path: Path) -> None:
    drop = tmp_path / "notifications.jsonl"
    site = _site(tmp_path, f"{{name: drop, type: filedrop, path: {drop}}}")
    assert "OK:" in run_mamori("check", "--config", str(site)).stdout

    result = run_mamori("analyze", "--config", str(site), "--json", "--act", str(_capture(tmp_path / "t.pcap")))
    [alert] = json_lines(result.stdout)
    assert alert["rule"] == "unregistered-terminal" and alert["src_mac"] == STRANGER[0] and alert["count"] == 3
    assert "action drop (filedrop) ok after 1 attempt(s)" in result.stderr
    [line] = [json.loads(text) for text in drop.read_text(encoding="utf-8").splitlines()]
    assert (line["event"], line["uid"], line["rule"], line["count"]) == ("new", alert["uid"], alert["rule"], 3)
    assert line["summary_en"] == alert["summary_en"]
    # the delivery is recorded in the store like any other action's
    deliveries = run_mamori("deliveries", "--config", str(site)).stdout
    assert "drop" in deliveries and "filedrop" in deliveries


def test_the_plugin_options_are_validated_with_file_line_and_field(plugin: Path, tmp_path: Path) -> None:
    site = _site(tmp_path, "{name: drop, type: filedrop, path: relative/notes.jsonl}")
    refused = run_mamori("check", "--config", str(site), check=False)
    assert refused.returncode == 2
    assert f"{site}:7:40: actions[0].path: relative/notes.jsonl: 絶対パスにしてください" in refused.stderr
    assert "use an absolute path" in refused.stderr


def test_an_unknown_action_type_lists_the_known_ones_plugins_included(plugin: Path, tmp_path: Path) -> None:
    site = _site(tmp_path, f"{{name: drop, type: file-drop, path: {tmp_path / 'n.jsonl'}}}")
    refused = run_mamori("check", "--config", str(site), check=False)
    assert refused.returncode == 2
    assert f"{site}:7:" in refused.stderr and "actions[0].type" in refused.stderr
    known = "'script', 'zabbix', 'syslog', 'email', 'webhook', 'snmp-port', 'arp-isolate', 'filedrop'"
    assert f"unknown type 'file-drop'; expected one of {known}" in refused.stderr


def test_without_the_plugin_its_type_is_unknown(tmp_path: Path) -> None:
    site = _site(tmp_path, f"{{name: drop, type: filedrop, path: {tmp_path / 'n.jsonl'}}}")
    refused = run_mamori("analyze", "--config", str(site), str(_capture(tmp_path / "t.pcap")), check=False)
    assert refused.returncode == 2 and "unknown type 'filedrop'" in refused.stderr
