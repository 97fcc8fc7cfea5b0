"""Lateral movement with real traffic: one office host fans out over SMB (445) and RDP (3389) to a dozen servers
with real listeners, behind a router namespace; the registered admin terminal does the same.

    事務系 (sz) 10.62.2.20 ─┐                          ┌─ サーバ (sz) 10.62.3.11-22, listening on 445 and 3389
    情シス (sz) 10.62.5.10 ─┼─ router (nftables: log ─┘
      (exempt_hosts: admin) │  every new TCP connection, accept)
                            └─ mirror (tc mirred of every router port) → sensor namespace: `mamori watch`

The router's LOG lines reach `mamori collect` through a real rsyslogd (the helpers of test_zones_netns.py), so the
fan-out is judged from the packets on the mirror and from the router's log: one alert for each, none for the admin
terminal. Namespaces and interfaces are named with this branch's prefix (i11l). Traffic: 48 connections.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import run_mamori
from tests.integration.netns_lab import RoutedHost, routed_lab
from tests.integration.test_syslog import Collect, free_port, wait_for
from tests.integration.test_zones_netns import kernel_log, router_log, watching, zone_alerts

pytestmark = [pytest.mark.netns, pytest.mark.slow]
__all__ = ["kernel_log"]  # the fixture, used by name

ATTACKER, ADMIN = "10.62.2.20", "10.62.5.10"
SERVERS = tuple(f"10.62.3.{n}" for n in range(11, 23))
PORTS = (445, 3389)
# (name, router interface, router address, host addresses, listening ports)
HOSTS = (
    ("o", "ro", "10.62.2.1", (ATTACKER,), ()),
    ("a", "ra", "10.62.5.1", (ADMIN,), ()),
    ("s", "rs", "10.62.3.1", SERVERS, PORTS),
)
SITE = f"""\
segments:
  - {{name: 事務系, cidrs: [10.62.2.0/24], zone: sz}}
  - {{name: サーバ, cidrs: [10.62.3.0/24], zone: sz}}
  - {{name: 情シス, cidrs: [10.62.5.0/24], zone: sz}}
exempt_hosts:
  - {{name: 情シス管理端末, role: admin, ips: [{ADMIN}]}}
"""


@dataclass(frozen=True)
class Network:
    tag: str
    router: str
    sensor: str

    def ns(self, host: str) -> str:
        return f"i11l{host}{self.tag}"

    @property
    def log_tag(self) -> str:
        return f"I11L{self.tag}"

    def run(self, ns: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=timeout, check=True
        )

    def fan_out(self, host: str, src: str) -> list[str]:
        """Real connects from ``src`` to every server on SMB and RDP, one after another: "open" or "refused" each."""
        code = textwrap.dedent(f"""
            import socket
            for dst in {list(SERVERS)}:
                for port in {list(PORTS)}:
                    s = socket.socket(); s.bind(("{src}", 0)); s.settimeout(5)
                    try:
                        s.connect((dst, port)); s.sendall(b"hello"); print("open")
                    except OSError:
                        print("refused")
                    finally:
                        s.close()
        """)
        return self.run(self.ns(host), sys.executable, "-c", code).stdout.split()


def _moving(config: Path) -> list[dict[str, Any]]:
    return [a for a in zone_alerts(config) if a["rule"].startswith("lateral")]


def _ruleset(log: str) -> str:
    return textwrap.dedent(f"""\
        table inet mamori_lateral {{
          chain forward {{
            type filter hook forward priority 0; policy accept;
            ct state established,related accept
            meta l4proto tcp tcp flags & (syn | ack) == syn log prefix "{log} ACCEPT " accept
          }}
        }}
    """)


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    tag = str(os.getpid() % 100000)
    net = Network(tag, f"i11lr{tag}", f"i11lm{tag}")
    hosts = [RoutedHost(*host) for host in HOSTS]  # the servers: one listener per port on every address
    with routed_lab(net.router, net.sensor, hosts, net.ns, _ruleset(net.log_tag)):
        yield net


def test_a_fan_out_over_smb_and_rdp_is_one_alert_per_evidence_and_none_for_the_admin_terminal(
    network: Network, tmp_path: Path, kernel_log: None
) -> None:
    port = free_port()
    base = f"storage: {{path: {tmp_path / 'm.db'}}}\ncapture: {{interfaces: [mirror]}}\n" + SITE
    config = tmp_path / "site.yaml"
    config.write_text(base, encoding="utf-8")
    collect = tmp_path / "collect.yaml"
    archive = f"  archive: {{path: {tmp_path / 'archive'}, key: {tmp_path / 'keys' / 'archive.key'}}}\n"
    collect.write_text(base + f'syslog:\n  listen: ["udp://127.0.0.1:{port}"]\n' + archive, encoding="utf-8")

    run_mamori("archive", "keygen", "--config", str(collect))
    collector = Collect(collect, tmp_path / "collect.log")
    try:
        with router_log(network, tmp_path, port), watching(network, config):  # type: ignore[arg-type]
            assert network.fan_out("a", ADMIN) == ["open"] * 24  # the admin terminal first: exempt
            assert network.fan_out("o", ATTACKER) == ["open"] * 24
            assert wait_for(lambda: len(_moving(config)) >= 2, 40), zone_alerts(config)
    finally:
        collector.stop()
    # The servers answering SMB and RDP that the site declares for none of its systems are the exposure rule's
    # finding (passive, one per server); the movement is the attacker's alone.
    others = {(a["rule"], a["dst_ip"]) for a in zone_alerts(config) if not a["rule"].startswith("lateral")}
    assert others <= {("exposure", server) for server in SERVERS}, others
    alerts = _moving(config)
    assert [(a["rule"], a["src_ip"]) for a in alerts] == [("lateral-movement", ATTACKER)] * 2, [
        a["summary_en"] for a in alerts
    ]
    by = {a["evidence"]: a for a in alerts}
    assert set(by) == {"packets", "firewall"}
    for alert in alerts:
        assert alert["severity"] == "high" and alert["peak_hosts"] == 12 and alert["targets_count"] == 12
        assert alert["targets"] == list(SERVERS) and alert["port_names"] == {"445": "SMB", "3389": "RDP"}
        assert alert["count"] == 24  # one SYN (or one log line) per connection
    assert by["packets"]["actions"] == {"wire": 24} and by["firewall"]["actions"] == {"allow": 24}
    assert by["firewall"]["device"]
    assert by["packets"]["summary_en"].startswith(
        f"Lateral movement suspected: {ATTACKER} reached 12 hosts within 10 min on remote-administration ports "
        "(SMB 445, RDP 3389) (packets; 12 hosts in all: 10.62.3.11, 10.62.3.12, 10.62.3.13, 10.62.3.14 and 8 others)"
    )
