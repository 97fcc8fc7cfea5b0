"""Adding a rule is one declaration plus its detector: a plugin package, installed the way Python installs
packages (a distribution with entry points on the path), is found by every part of mamori without touching any
other file: the CLI's rule list and filter, the settings check, `analyze`, the Zabbix template, the generated
docs, and the dashboard's filter and alert page."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from mamori.model import SYN
from mamori.testing.pcapbuilder import PcapWriter, eth, ipv4, tcp
from tests.integration.conftest import json_lines, run_mamori
from tests.integration.dashboard import Client, add_user, start_dashboard

PLUGIN = '''
"""A site's own rule: anyone opening telnet (TCP 23) anywhere on the segment."""

from dataclasses import dataclass

from mamori.model import Severity
from mamori.rules import Details, Rule, Summary, Text


@dataclass(frozen=True, kw_only=True)
class TelnetDetails(Details):
    server: str | None = None
    clients: tuple[str, ...] = ()


RULE = Rule(
    id="telnet-opened",
    category="network",
    severity=Severity.MEDIUM,
    title=Text("telnet の利用", "Telnet in use"),
    short=Text("平文の telnet 接続。", "A clear-text telnet connection."),
    meaning=Text("telnet はパスワードを平文で送ります。", "Telnet sends passwords in clear text."),
    response=Text("SSH に切り替えてください。", "Switch to SSH."),
    details=TelnetDetails,
    summaries=(
        Summary(
            ja="telnet: {src_ip} が {server} の telnet を開きました（{count:,} 回）",
            en="Telnet: {src_ip} opened telnet on {server} ({count:,} times)",
        ),
    ),
)


class TelnetDetector:
    rule = "telnet-opened"
    quiet_period = 3600.0

    def __init__(self, ctx):
        self.book = ctx.book

    def use_index(self, index):
        pass

    def on_attempt(self, obs):
        if obs.proto != "tcp" or obs.dst_port != 23:
            return
        state, created = self.book.open(
            self.rule, f"{obs.src_ip}>{obs.dst_ip}", obs.ts, severity=Severity.MEDIUM, quiet_period=3600.0,
            src_ip=obs.src_ip, src_mac=obs.src_mac, dst_ip=obs.dst_ip, dst_port=23,
        )
        state.details["server"] = obs.dst_ip
        clients = state.details.setdefault("clients", [])
        if obs.src_ip not in clients:
            clients.append(obs.src_ip)
        state.add(obs, obs.ts)


def build(ctx):
    return TelnetDetector(ctx)
'''

ENTRY_POINTS = """\
[mamori.rules]
telnet-opened = mamori_telnet_plugin:RULE

[mamori.detectors]
telnet-opened = mamori_telnet_plugin:build
"""

SITE = """\
systems:
  - name: 透析システム
    servers: [{ip: 10.61.0.2, mac: "02:61:00:00:00:02"}]
    ports: [6000]
actions:
  - {name: log-telnet, type: script, command: [/bin/true], rules: [telnet-opened]}
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plugin as an installed distribution: its module and its .dist-info (METADATA, entry_points.txt) on
    PYTHONPATH, which every `mamori` this test starts inherits."""
    site_packages = tmp_path / "site-packages"
    (site_packages / "mamori_telnet_plugin").mkdir(parents=True)
    (site_packages / "mamori_telnet_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = site_packages / "mamori_telnet_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mamori-telnet-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site_packages), os.environ.get("PYTHONPATH")])))
    return site_packages


def _capture(path: Path) -> Path:
    client = ("02:61:00:00:00:99", "10.61.0.99")
    with PcapWriter(path) as writer:
        for i in range(3):
            segment = tcp(client[1], "10.61.0.7", 40000 + i, 23, SYN)
            writer.write(
                1_800_000_000.0 + i,
                eth("02:61:00:00:00:07", client[0], 0x0800, ipv4(client[1], "10.61.0.7", 6, segment)),
            )
    return path


def test_a_plugin_rule_reaches_every_part_of_mamori(plugin: Path, tmp_path: Path) -> None:
    # the CLI's list of rules and the generated docs
    assert "telnet-opened" in run_mamori("rules").stdout
    markdown = run_mamori("rules", "--markdown").stdout
    assert "## telnet-opened — telnet の利用 / Telnet in use" in markdown and "Switch to SSH." in markdown
    # the Zabbix template: an item and its triggers
    template = run_mamori("zabbix-template").stdout
    assert "key: mamori.alert[telnet-opened]" in template and "mamori telnet の利用 / Telnet in use" in template
    # the settings check accepts the rule in an action's rules, as it refuses an unknown one
    site = tmp_path / "site.yaml"
    site.write_text(SITE + f"storage: {{path: {tmp_path / 'm.db'}}}\n", encoding="utf-8")
    run_mamori("check", "--config", str(site))
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(SITE.replace("rules: [telnet-opened]", "rules: [telnet-openned]"), encoding="utf-8")
    refused = run_mamori("check", "--config", str(wrong), check=False)
    assert refused.returncode == 2 and "telnet-opened" in refused.stdout + refused.stderr  # listed among the known
    # its detector runs in analyze, and its alert is stored and rendered from its own templates
    alerts = json_lines(
        run_mamori("analyze", "--config", str(site), "--json", str(_capture(tmp_path / "t.pcap"))).stdout
    )
    [alert] = [a for a in alerts if a["rule"] == "telnet-opened"]
    assert alert["summary_en"] == "Telnet: 10.61.0.99 opened telnet on 10.61.0.7 (3 times)"
    assert alert["summary_ja"] == "telnet: 10.61.0.99 が 10.61.0.7 の telnet を開きました（3 回）"
    assert alert["clients"] == ["10.61.0.99"]
    # the CLI filter
    listed = json_lines(run_mamori("alerts", "--config", str(site), "--rule", "telnet-opened", "--json").stdout)
    assert [a["uid"] for a in listed] == [alert["uid"]]
    # the dashboard's filter and the alert page, with the rule's meaning and response
    add_user(site, "kanri", "admin", "Kanri-pass-2026!")
    dashboard = start_dashboard(site)
    try:
        client = Client(dashboard)
        assert client.login("kanri", "Kanri-pass-2026!")[0] == 302
        status, _headers, body = client.get("/alerts/")
        page = body.decode()
        assert status == 200 and '<option value="telnet-opened"' in page and "telnet の利用" in page
        status, _headers, body = client.get(f"/alerts/{alert['uid']}/")
        page = body.decode()
        assert status == 200
        assert "telnet はパスワードを平文で送ります。" in page and "SSH に切り替えてください。" in page
        assert "10.61.0.99 が 10.61.0.7 の telnet を開きました" in page
    finally:
        dashboard.stop()


def test_without_the_plugin_its_stored_alerts_still_show(
    plugin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin is removed after it raised alerts: they keep their facts and the words stored with them."""
    site = tmp_path / "site.yaml"
    site.write_text(
        SITE.replace("rules: [telnet-opened]", "rules: [port-scan]") + f"storage: {{path: {tmp_path / 'm.db'}}}\n",
        encoding="utf-8",
    )
    run_mamori("analyze", "--config", str(site), str(_capture(tmp_path / "t.pcap")))
    monkeypatch.delenv("PYTHONPATH")
    [alert] = json_lines(run_mamori("alerts", "--config", str(site), "--json").stdout)
    assert (
        alert["rule"] == "telnet-opened"
        and alert["summary_en"] == "Telnet: 10.61.0.99 opened telnet on 10.61.0.7 (3 times)"
    )
    assert alert["server"] == "10.61.0.7"
