"""Zones with real traffic: a routed hospital network in network namespaces made by this test.

    電子カルテ (hsz) 10.61.1.10 ─┐                     ┌─ 公開系 (dmz) 10.61.3.30
      listens on 445, 3389, 1433 │                     │
    バックアップ (hsz) 10.61.4.40 ┼─ router (nftables) ─┼─ outside 203.0.113.7 (listens on 443)
      listens on 445             │   │                 │
    事務系 (sz) 10.61.2.20,      ┘   │ mirror           └ (every router port's ingress copied by tc mirred)
      proxy 10.61.2.5                └─ sensor namespace: `mamori watch` on the mirror port

The router forwards between the segments and its nftables ruleset logs every new TCP connection with the LOG
target, ``... ACCEPT`` or ``... REJECT`` (rejects answer with a TCP reset, so one SYN per attempt). The kernel's log
lines go through a real rsyslogd (imkmsg) to ``mamori collect`` on loopback, so every flow is judged twice: from the
packets on the mirror and from the router's log. Logging from a namespace needs net.netfilter.nf_log_all_netns, a
host-wide switch: set for the test and put back after it. Traffic is a handful of connections per scenario.
Needs root, nftables (nft), tc, rsyslogd with imkmsg (scripts/test.sh installs them).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import json_lines, run_mamori
from tests.integration.netns_lab import RoutedHost, routed_lab, sensor_watching
from tests.integration.test_syslog import Collect, free_port, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow]

TOOLS = ("ip", "tc", "nft", "rsyslogd")
_MISSING = [t for t in TOOLS if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]
if os.geteuid() != 0 or _MISSING:  # pragma: no cover - CI runs as root with every tool (scripts/test.sh)
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"needs root and {', '.join(TOOLS)}; missing: {', '.join(_MISSING) or 'root'}")
    pytest.skip("needs root and " + ", ".join(TOOLS), allow_module_level=True)

HSZ, BACKUP, CLIENT, PROXY, DMZ, OUTSIDE = (
    "10.61.1.10",
    "10.61.4.40",
    "10.61.2.20",
    "10.61.2.5",
    "10.61.3.30",
    "203.0.113.7",
)
# (name, router interface, network, router address, host addresses, listening ports)
HOSTS = (
    ("hsz", "rhsz", "10.61.1.0/24", "10.61.1.1", (HSZ,), (445, 3389, 1433)),
    ("bak", "rbak", "10.61.4.0/24", "10.61.4.1", (BACKUP,), (445,)),
    ("sz", "rsz", "10.61.2.0/24", "10.61.2.1", (CLIENT, PROXY), ()),
    ("dmz", "rdmz", "10.61.3.0/24", "10.61.3.1", (DMZ,), ()),
    ("out", "rout", "203.0.113.0/24", "203.0.113.1", (OUTSIDE,), (443,)),
)
SEGMENTS = """\
segments:
  - {name: 電子カルテ, cidrs: [10.61.1.0/24], zone: hsz}
  - {name: バックアップ, cidrs: [10.61.4.0/24], zone: hsz, role: backup}
  - {name: 事務系, cidrs: [10.61.2.0/24], zone: sz, proxies: [10.61.2.5]}
  - {name: 公開系, cidrs: [10.61.3.0/24], zone: dmz}
zone_policy: heasnet-large
"""


@dataclass(frozen=True)
class Network:
    tag: str
    router: str
    sensor: str
    prefix: str = "z"  # of the namespaces' names: each test module its own, so that runs side by side never collide

    def ns(self, host: str) -> str:
        return f"{self.prefix}{host}{self.tag}"

    @property
    def log_tag(self) -> str:
        return f"MZ{self.tag}"

    def run(self, ns: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=timeout, check=True
        )

    def connect(self, host: str, src: str, dst: str, port: int) -> str:
        """One TCP connection from ``src`` (in namespace ``host``) to ``dst:port``: "open" or "refused"."""
        code = textwrap.dedent(f"""
            import socket
            s = socket.socket(); s.bind(("{src}", 0)); s.settimeout(5)
            try:
                s.connect(("{dst}", {port})); s.sendall(b"hello"); print("open")
            except OSError:
                print("refused")
        """)
        return self.run(self.ns(host), sys.executable, "-c", code).stdout.strip()


def _ruleset(log: str) -> str:
    accept = f'log prefix "{log} ACCEPT " accept'
    return textwrap.dedent(f"""\
        table inet mamori_test {{
          chain forward {{
            type filter hook forward priority 0; policy accept;
            ct state established,related accept
            meta l4proto tcp tcp flags & (syn | ack) != syn accept
            ip saddr {PROXY} ip daddr 10.61.1.0/24 {accept}
            ip saddr 10.61.1.0/24 ip daddr 10.61.4.0/24 {accept}
            ip saddr 10.61.4.0/24 ip daddr 10.61.1.0/24 {accept}
            ip saddr {DMZ} ip daddr 10.61.1.0/24 tcp dport 445 {accept}
            meta l4proto tcp log prefix "{log} REJECT " reject with tcp reset
            drop
          }}
        }}
    """)


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    with routed_network("z") as net:
        yield net


@contextmanager
def routed_network(prefix: str) -> Iterator[Network]:
    """The routed network above, its namespaces named with ``prefix``; taken down afterwards."""
    # Unique per network, not per process: the kernel log keeps earlier networks' lines, and the router's rsyslog
    # (imkmsg) reads the log from its start, so a tag used twice in one run would count a line twice.
    tag = f"{os.getpid() % 100000}{secrets.token_hex(2)}"
    net = Network(tag, f"{prefix}r{tag}", f"{prefix}m{tag}", prefix)
    hosts = [RoutedHost(name, rif, gateway, addresses, ports) for name, rif, _, gateway, addresses, ports in HOSTS]
    with routed_lab(net.router, net.sensor, hosts, net.ns, _ruleset(net.log_tag)):
        yield net


@pytest.fixture
def kernel_log() -> Iterator[None]:
    """Let the router's namespace write its LOG lines to the kernel log (put back as it was afterwards)."""
    switch = Path("/proc/sys/net/netfilter/nf_log_all_netns")
    before = switch.read_text().strip()
    switch.write_text("1")
    try:
        yield
    finally:
        switch.write_text(before)


def settings(tmp_path: Path, extra: str = "", name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(
        f"storage: {{path: {tmp_path / 'm.db'}}}\ncapture: {{interfaces: [mirror]}}\n" + SEGMENTS + extra,
        encoding="utf-8",
    )
    return path


@contextmanager
def watching(net: Network, config: Path) -> Iterator[list[str]]:
    """`mamori watch` on the mirror port, from start to a clean SIGTERM stop; yields its stderr lines."""
    with sensor_watching(net.sensor, config) as lines:
        yield lines


@contextmanager
def router_log(net: Network, tmp_path: Path, port: int) -> Iterator[None]:
    """A real rsyslogd reading the kernel log and forwarding this run's netfilter lines to mamori collect."""
    work = tmp_path / "rsyslog"
    work.mkdir()
    conf = work / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{work}")\nmodule(load="imkmsg")\n'
        f'if ($msg contains "{net.log_tag} ") then {{\n'
        f'  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="udp" '
        'template="RSYSLOG_SyslogProtocol23Format")\n}\n',
        encoding="utf-8",
    )
    rsyslog = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(conf), "-i", str(work / "rsyslog.pid")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(1.0)
        assert rsyslog.poll() is None, rsyslog.communicate()[0]
        yield
        time.sleep(1.0)
    finally:
        rsyslog.terminate()
        rsyslog.wait(30)


def zone_alerts(config: Path) -> list[dict]:
    """The stored alerts but the exposure rule's: the listeners these tests start answer on dangerous ports that
    the site declares for no system, which the passive exposure check rightly reports (tests/integration/
    test_exposure_netns.py tests that); the scenarios here are about the flows between segments."""
    found = json_lines(run_mamori("alerts", "--config", str(config), "--json").stdout)
    return [a for a in found if a["rule"] != "exposure"]


def by_source(alerts: list[dict]) -> dict[str, dict[tuple[str | None, str], dict]]:
    """Alerts from packets ("wire") and from the router's log ("log"), keyed by (source address, rule broken)."""
    out: dict[str, dict[tuple[str | None, str], dict]] = {"wire": {}, "log": {}}
    for alert in alerts:
        kind = "wire" if "wire" in alert["actions"] else "log"
        out[kind][(alert["src_ip"], alert["ref"])] = alert
    return out


def test_forbidden_flows_from_packets_and_router_logs_and_no_alert_for_the_proxy(
    network: Network, tmp_path: Path, kernel_log: None
) -> None:
    port = free_port()
    archive = f"  archive: {{path: {tmp_path / 'archive'}, key: {tmp_path / 'keys' / 'archive.key'}}}\n"
    # Two processes on one database: the collector in this namespace (rsyslogd sends to its loopback), the sensor
    # in the sensor's (`mamori watch` with a syslog section would run a collector there too).
    config = settings(tmp_path)
    collect = settings(tmp_path, f'syslog:\n  listen: ["udp://127.0.0.1:{port}"]\n' + archive, "collect.yaml")
    run_mamori("archive", "keygen", "--config", str(collect))
    collector = Collect(collect, tmp_path / "collect.log")
    try:
        with router_log(network, tmp_path, port), watching(network, config):
            outcomes = [
                network.connect("dmz", DMZ, HSZ, 3389),  # 3-5-1: the DMZ never starts a connection into the HSZ
                network.connect("dmz", DMZ, HSZ, 445),  # ... and the firewall has a hole for SMB
                network.connect("hsz", HSZ, OUTSIDE, 443),  # 3-3-2: the HSZ never reaches the internet
                network.connect("sz", CLIENT, HSZ, 445),  # 3-6-1: from the SZ only through the proxy
                network.connect("sz", PROXY, HSZ, 1433),  # through the proxy: allowed
            ]
            assert outcomes == ["refused", "open", "refused", "refused", "open"]
            assert wait_for(lambda: len(zone_alerts(config)) >= 6, 40), zone_alerts(config)
    finally:
        collector.stop()
    alerts = zone_alerts(config)
    assert {a["rule"] for a in alerts} == {"zone-policy"}, [a["summary_en"] for a in alerts]
    seen = by_source(alerts)
    expected_keys = {(DMZ, "3-5-1"), (HSZ, "3-3-2"), (CLIENT, "3-6-1")}
    assert set(seen["wire"]) == expected_keys and set(seen["log"]) == expected_keys, [a["summary_en"] for a in alerts]
    assert all(a["src_ip"] != PROXY for a in alerts)

    wire, log = seen["wire"], seen["log"]
    dmz = wire[(DMZ, "3-5-1")]
    places = (dmz["src_segment"], dmz["dst_segment"], dmz["src_zone"], dmz["dst_zone"])
    assert places == ("公開系", "電子カルテ", "dmz", "hsz")
    assert sorted(dmz["ports"]) == [445, 3389] and dmz["port_names"] == {"3389": "RDP", "445": "SMB"}
    assert dmz["answered"] and dmz["new_path"] and dmz["severity"] == "critical" and dmz["actions"] == {"wire": 2}
    assert dmz["summary_en"].startswith("Connection bypassing the proxy (HEASNET large institution 3-5-1: DMZ → High")
    assert log[(DMZ, "3-5-1")]["actions"] == {"deny": 1, "allow": 1}
    assert log[(DMZ, "3-5-1")]["severity"] == "critical" and log[(DMZ, "3-5-1")]["device"]

    internet = wire[(HSZ, "3-3-2")]
    assert internet["dst_zone"] == "external" and internet["dst_segment"] is None and internet["ports"] == [443]
    assert internet["severity"] == "high" and not internet["answered"] and not internet["new_path"]
    assert log[(HSZ, "3-3-2")]["severity"] == "medium" and log[(HSZ, "3-3-2")]["actions"] == {"deny": 1}
    assert "blocked by the firewall" in log[(HSZ, "3-3-2")]["summary_en"]

    client = wire[(CLIENT, "3-6-1")]
    assert client["reason"] == "no-proxy" and client["new_path"] and client["ports"] == [445]
    assert log[(CLIENT, "3-6-1")]["reason"] == "no-proxy" and log[(CLIENT, "3-6-1")]["severity"] == "medium"
    for alert in alerts:
        assert alert["count"] == sum(alert["actions"].values())  # one SYN (or one log line) per attempt


def test_a_first_contact_is_reported_once_and_stays_known_across_a_restart(network: Network, tmp_path: Path) -> None:
    config = settings(tmp_path, "detection: {new_path: {learning_period: 3s}}\n")
    with watching(network, config):
        assert network.connect("hsz", HSZ, BACKUP, 445) == "open"  # learned: the learning period starts here
        time.sleep(4)
        assert network.connect("sz", PROXY, HSZ, 1433) == "open"  # after learning: new
        assert network.connect("hsz", HSZ, BACKUP, 445) == "open"  # known
        assert network.connect("sz", PROXY, HSZ, 1433) == "open"  # the same new path: the same alert
    first = zone_alerts(config)
    assert [(a["rule"], a["src_segment"], a["dst_segment"], a["port"], a["count"]) for a in first] == [
        ("new-path", "事務系", "電子カルテ", 1433, 2)
    ]
    with watching(network, config):  # the sensor restarted
        assert network.connect("sz", PROXY, HSZ, 1433) == "open"  # known before the restart
        assert network.connect("hsz", HSZ, BACKUP, 445) == "open"  # learned before the restart
        assert network.connect("bak", BACKUP, HSZ, 445) == "open"  # the other direction: new
    alerts = zone_alerts(config)
    assert sorted((a["rule"], a["src_segment"], a["dst_segment"], a["port"], a["count"]) for a in alerts) == [
        ("new-path", "バックアップ", "電子カルテ", 445, 1),
        ("new-path", "事務系", "電子カルテ", 1433, 2),
    ]
    restarted = next(a for a in alerts if a["src_segment"] == "バックアップ")
    assert restarted["summary_en"] == (
        "New path: from High Secure Zone segment バックアップ to High Secure Zone segment 電子カルテ on TCP 445 (SMB) "
        f"(first {BACKUP} → {HSZ}); 1 connections"
    )
    with sqlite3.connect(tmp_path / "m.db") as db:
        rows = db.execute("SELECT src_segment, dst_segment, proto, port, src_ip FROM mamori_known_path").fetchall()
        started = db.execute("SELECT count(*) FROM mamori_learning_start").fetchone()
    assert sorted(rows) == [
        ("バックアップ", "電子カルテ", "tcp", 445, BACKUP),
        ("事務系", "電子カルテ", "tcp", 1433, PROXY),
        ("電子カルテ", "バックアップ", "tcp", 445, HSZ),
    ]
    assert started == (1,)
