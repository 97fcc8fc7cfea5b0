"""Exposure self-diagnosis with real nmap and real listeners in network namespaces made by this test.

    one bridge (namespace i12xbr), one /24 (10.62.1.0/24):
      scanner   10.62.1.200  segment 事務系 (sz, clients)        runs `mamori scan`, and a capture for `mamori analyze`
      server    10.62.1.10   segment 電子カルテ (hsz)            listens on 23, 445, 1433, 3389, 8443 (透析's port)
      app       10.62.1.20   segment 電子カルテ                  listens on 445, 8443 (検査: both listed)
      excluded  10.62.1.99   in scan.exclude                    listens on 445; tcpdump counts packets to it
      medical   10.62.1.130  segment 医療機器 (medical)          listens on 23; tcpdump counts packets to it

`mamori scan` runs twice; between the runs the server stops RDP (3389) and the app starts MySQL (3306). Every
listener is a Python socket server. Needs root, ip, nmap, tcpdump (scripts/test.sh installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import run_mamori

pytestmark = [pytest.mark.netns, pytest.mark.slow]

TOOLS = ("ip", "nmap", "tcpdump")
_MISSING = [t for t in TOOLS if shutil.which(t) is None]
if os.geteuid() != 0 or _MISSING:  # pragma: no cover - CI runs as root with every tool (scripts/test.sh)
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"needs root and {', '.join(TOOLS)}; missing: {', '.join(_MISSING) or 'root'}")
    pytest.skip("needs root and " + ", ".join(TOOLS), allow_module_level=True)

BRIDGE_NS = "i12xbr"
SCANNER = "10.62.1.200"
SERVER, APP, EXCLUDED, MEDICAL = "10.62.1.10", "10.62.1.20", "10.62.1.99", "10.62.1.130"
HOSTS = {  # namespace -> address
    "i12xsc": SCANNER,
    "i12xsv": SERVER,
    "i12xap": APP,
    "i12xex": EXCLUDED,
    "i12xmd": MEDICAL,
}
SITE = f"""\
segments:
  - {{name: 電子カルテ, cidrs: [10.62.1.0/25], zone: hsz}}
  - {{name: 医療機器, cidrs: [10.62.1.128/26], zone: medical}}
  - {{name: 事務系, cidrs: [10.62.1.192/26], zone: sz}}
systems:
  - {{name: 透析, servers: [{SERVER}], ports: [8443]}}
  - {{name: 検査, servers: [{APP}], ports: [8443, 445]}}
scan:
  targets: [10.62.1.0/24]
  exclude: [{EXCLUDED}]
  rate: 500
storage:
  path: mamori.db
"""

LISTENER = textwrap.dedent("""
    import selectors, socket, sys
    sel = selectors.DefaultSelector()
    for port in map(int, sys.argv[2:]):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((sys.argv[1], port)); s.listen(64); s.setblocking(False); sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            try:
                conn, _ = key.fileobj.accept(); conn.close()
            except OSError:
                pass
""")


def _ns(ns: str, *cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=timeout, check=check
    )


def _cleanup() -> None:
    for ns in (*HOSTS, BRIDGE_NS):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@pytest.fixture
def lan() -> Iterator[dict[str, subprocess.Popen[str]]]:
    _cleanup()
    listeners: dict[str, subprocess.Popen[str]] = {}
    try:
        subprocess.run(["ip", "netns", "add", BRIDGE_NS], check=True)
        _ns(BRIDGE_NS, "ip", "link", "add", "br0", "type", "bridge")
        _ns(BRIDGE_NS, "ip", "link", "set", "br0", "up")
        for index, (ns, address) in enumerate(HOSTS.items()):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            outer = f"i12xv{index}"
            subprocess.run(
                ["ip", "link", "add", outer, "netns", BRIDGE_NS, "type", "veth", "peer", "name", "eth0", "netns", ns],
                check=True,
            )
            _ns(BRIDGE_NS, "ip", "link", "set", outer, "master", "br0", "up")
            _ns(ns, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
            _ns(ns, "ip", "link", "set", "eth0", "up")
            _ns(ns, "ip", "link", "set", "lo", "up")
        yield listeners
    finally:
        for proc in listeners.values():
            proc.kill()
            proc.wait(5)
        _cleanup()


def listen(listeners: dict[str, subprocess.Popen[str]], ns: str, *ports: int) -> None:
    old = listeners.pop(ns, None)
    if old is not None:
        old.kill()
        old.wait(5)
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", LISTENER, HOSTS[ns], *map(str, ports)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    listeners[ns] = proc


class Tcpdump:
    """tcpdump in a namespace, writing what it captured to a file (read back with tcpdump -r)."""

    def __init__(self, ns: str, expression: str, path: Path) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "tcpdump",
                "-i",
                "eth0",
                "-n",
                "-U",
                "--immediate-mode",
                "-w",
                str(path),
                expression,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()  # "listening on eth0, ...": the filter is attached
        assert "listening on" in line, line + self.proc.stderr.read()

    def stop(self) -> list[str]:
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)
        out = subprocess.run(["tcpdump", "-n", "-r", str(self.path)], capture_output=True, text=True, check=True)
        return out.stdout.splitlines()


def _scan(config: Path) -> dict:
    result = run_mamori("scan", "--config", str(config), "--json", "--no-act", timeout=600)
    return json.loads(result.stdout)


def _exposure_alerts(db: Path) -> list[dict]:
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT dst_ip, details FROM mamori_alert WHERE rule = 'exposure' ORDER BY id").fetchall()
    return [{"host": host, **json.loads(details)} for host, details in rows]


def test_scan_twice_judges_changes_and_never_touches_excluded_hosts(lan, tmp_path: Path) -> None:
    listen(lan, "i12xsv", 23, 445, 1433, 3389, 8443)
    listen(lan, "i12xap", 445, 8443)
    listen(lan, "i12xex", 445)
    listen(lan, "i12xmd", 23)
    config = tmp_path / "site.yaml"
    config.write_text(SITE, encoding="utf-8")
    dumps = {
        "excluded": Tcpdump("i12xex", f"dst host {EXCLUDED}", tmp_path / "excluded.pcap"),
        "medical": Tcpdump("i12xmd", f"dst host {MEDICAL}", tmp_path / "medical.pcap"),
        "server": Tcpdump("i12xsv", f"dst host {SERVER}", tmp_path / "server.pcap"),  # the control: it does see
    }
    # `mamori scan` runs inside the scanner's namespace (the installed command, as the timer's service runs it)
    first = json.loads(
        _ns(
            "i12xsc",
            str(Path(sys.executable).with_name("mamori")),
            "scan",
            "--config",
            str(config),
            "--json",
            "--no-act",
            timeout=600,
        ).stdout
    )
    listen(lan, "i12xsv", 23, 445, 1433, 8443)  # RDP stopped
    listen(lan, "i12xap", 445, 8443, 3306)  # MySQL started
    second = json.loads(
        _ns(
            "i12xsc",
            str(Path(sys.executable).with_name("mamori")),
            "scan",
            "--config",
            str(config),
            "--json",
            "--no-act",
            timeout=600,
        ).stdout
    )
    seen = {name: dump.stop() for name, dump in dumps.items()}

    # Nothing ever reached the excluded host or the medical device; the control shows tcpdump was seeing.
    assert seen["excluded"] == [], seen["excluded"][:5]
    assert seen["medical"] == [], seen["medical"][:5]
    assert len(seen["server"]) > 20
    assert first["exclude"] == [EXCLUDED, "10.62.1.128/26"]  # the medical segment, not named by a target

    def open_ports(run: dict) -> dict[str, list[int]]:
        return {h["address"]: sorted(p["port"] for p in h["open"]) for h in run["hosts"]}

    # (the scanner is in scope too: it scans itself, over loopback)
    assert open_ports(first) == {SERVER: [23, 445, 1433, 3389, 8443], APP: [445, 8443], SCANNER: []}
    assert open_ports(second) == {SERVER: [23, 445, 1433, 8443], APP: [445, 3306, 8443], SCANNER: []}
    assert first["observer"] == SCANNER

    # First run: one alert, for the server (its unneeded services, SQL Server reachable from the clients' segment).
    (a1,) = first["alerts"]
    assert a1["dst_ip"] == SERVER and a1["severity"] == "high"
    d1 = a1["details"]
    assert d1["unneeded_ports"] == ["tcp/23", "tcp/445", "tcp/1433", "tcp/3389"]
    assert d1["database_ports"] == ["tcp/1433"]
    assert d1["new_ports"] == [] and d1["source"] == "scan" and d1["scan_id"] == first["run"]
    # Second run: the server's findings persist (RDP gone, nothing new): its alert is updated, not raised again
    # (one incident, one alert, across the two scan processes); the app for MySQL (new, database from the clients).
    server = next(a for a in second["alerts"] if a["dst_ip"] == SERVER)
    assert server["uid"] == a1["uid"] and server["count"] == 2 and a1["count"] == 1
    assert server["details"]["scan_id"] == second["run"] and server["details"]["first_scan_id"] == first["run"]
    by_host = {a["dst_ip"]: a["details"] for a in second["alerts"]}
    assert set(by_host) == {SERVER, APP}
    assert by_host[SERVER]["unneeded_ports"] == ["tcp/23", "tcp/445", "tcp/1433"]
    assert by_host[SERVER]["gone_ports"] == ["tcp/3389"] and by_host[SERVER]["new_ports"] == []
    assert by_host[APP]["new_ports"] == ["tcp/3306"]
    assert by_host[APP]["database_ports"] == ["tcp/3306"]
    assert by_host[APP]["unneeded_ports"] == []

    # Every run is stored, with each port's judgement.
    db = tmp_path / "mamori.db"
    with sqlite3.connect(db) as c:
        runs = c.execute("SELECT id, status, hosts_up, alerts FROM mamori_scan_run ORDER BY id").fetchall()
        reasons = dict(
            c.execute(
                "SELECT p.port, p.reasons FROM mamori_scan_port p JOIN mamori_scan_host h ON p.host_id = h.id "
                "WHERE h.run_id = ? AND h.address = ? AND p.state = 'open'",
                (second["run"], APP),
            ).fetchall()
        )
    assert runs == [(first["run"], "ok", 3, 1), (second["run"], "ok", 3, 2)]
    assert reasons == {445: "", 8443: "", 3306: "new,database"}
    assert len(_exposure_alerts(db)) == 2  # the server's (updated) and the app's


def test_passive_exposure_from_a_real_handshake(lan, tmp_path: Path) -> None:
    """A real SYN / SYN-ACK exchange captured by tcpdump and read by `mamori analyze`: the services seen answering
    go to the table, and telnet (unneeded on this server) is an alert; the department port is not."""
    listen(lan, "i12xsv", 23, 8443)
    config = tmp_path / "site.yaml"
    config.write_text(SITE, encoding="utf-8")
    capture = tmp_path / "handshakes.pcap"
    dump = Tcpdump("i12xsc", "tcp", capture)
    connect = textwrap.dedent(f"""
        import socket
        for port in (8443, 23, 8443):
            s = socket.create_connection(("{SERVER}", port), timeout=5); s.close()
    """)
    _ns("i12xsc", sys.executable, "-c", connect)
    lines = dump.stop()
    assert any("Flags [S.]" in line for line in lines), lines
    result = run_mamori("analyze", "--config", str(config), "--json", str(capture))
    alerts = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    exposure = [a for a in alerts if a["rule"] == "exposure"]
    assert len(exposure) == 1
    assert exposure[0]["dst_ip"] == SERVER and exposure[0]["details"]["unneeded_ports"] == ["tcp/23"]
    assert exposure[0]["details"]["source"] == "passive" and exposure[0]["details"]["observer"] == SCANNER
    with sqlite3.connect(tmp_path / "mamori.db") as c:
        services = c.execute("SELECT host, proto, port, client FROM mamori_known_service ORDER BY port").fetchall()
    assert services == [(SERVER, "tcp", 23, SCANNER), (SERVER, "tcp", 8443, SCANNER)]
