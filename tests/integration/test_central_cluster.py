"""Many sensors, one view, on a NATS cluster (docs/design.md §10, central): three live sensors in network namespaces
publish to a three-node JetStream cluster whose stream is replicated on all three (``central.replicas: 3``), and the
central consumer writes to a PostgreSQL 15 of the test's own.

    root namespace: hub-1..3 (nats-server, clients on 10.147.0.1 (on a veth of its own), routes on loopback),
                    PostgreSQL and `mamori central` on loopback
        │ i14cu<k>: 10.147.k.1/30  (routed; the link that is cut)
    i14cs<k> (sensor k): up0 10.147.k.2/30; lan0 10.148.k.1/24: `mamori watch` on lan0, `mamori publish`
        │ lan0 ─ eth0
    i14cx<k> (strangers of site k): nmap -sS with ten decoys: eleven sources scanning 24 ports each

Every alert comes from real packets: nmap's decoy scan (``-D``) makes eleven sources per run, so each run is eleven
port-scan alerts (paced at 90 SYNs/s, so back-to-back runs are scans, not a SYN flood). What happens, in order: a
first scan at every site; site 1's link cut (``ip link set down``) in the middle of a burst while a person
acknowledges one of its alerts, then restored; the central consumer held while every site is scanned, then
killed (-9) once it has committed part of the backlog, and started again; the same with the node leading the stream
killed (-9) instead, a scan while it is down, and the node started again; site 3's sensor (`mamori watch` and
`mamori publish`) restarted. At the end the central store holds exactly each sensor's alerts (same uids, counts,
last seen and statuses), no uid twice, the totals and the hourly roll-up equal, every outbox empty, and the three
nodes hold the same stream.

Traffic: 264 SYNs per nmap run, 21 runs, all inside the namespaces the test makes (prefix i14c), removed at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.central_stack import (
    CentralStack,
    Nats,
    central_alerts,
    free_port,
    missing_tools,
    nats_config,
    pending,
    same_alerts,
    sensor_alerts,
    start_cluster,
    wait_until,
)
from tests.integration.conftest import MAMORI

pytestmark = [pytest.mark.netns, pytest.mark.slow]

SITES = ("i14c-1", "i14c-2", "i14c-3")
HUB = "10.147.0.1"  # the cluster's client address, on an interface of the root namespace made by the test
PORTS = 24  # ports per scan (the port-scan rule's threshold is 20)
# SYNs per second per scan: below the SYN-flood rule's 500 in 5 s, which back-to-back runs at nmap's own pace reach
# (the sensor then rightly sees one flood, not separate scans)
RATE = 90
DECOYS = 10  # nmap -D: sources per run besides the real one


@dataclass
class Net:
    tag: str
    folder: Path
    runs: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(1, len(SITES) + 1), 0))
    scanned: dict[int, set[str]] = field(default_factory=lambda: {k: set() for k in range(1, len(SITES) + 1)})

    def sensor(self, k: int) -> str:
        return f"i14cs{k}{self.tag}"

    def stranger(self, k: int) -> str:
        return f"i14cx{k}{self.tag}"

    def uplink(self, k: int) -> str:  # the root namespace's end of sensor k's link
        return f"i14cu{k}{self.tag}"

    @property
    def hub_if(self) -> str:  # the interface holding the cluster's client address
        return f"i14ch{self.tag}"

    def scan(self, k: int) -> None:
        """One nmap SYN scan of sensor k's address from a new real source with ten new decoys: eleven sources
        (about 3 s)."""
        run = self.runs[k]
        self.runs[k] += 1
        assert run < 15, "out of stranger addresses"
        real = f"10.148.{k}.{10 + run}"
        decoys = [f"10.148.{k}.{100 + 10 * run + i}" for i in range(DECOYS)]
        _ns(
            self.stranger(k),
            *("nmap", "-sS", "-Pn", "-n", "-T5", "--max-retries", "0", "--max-rate", str(RATE)),
            *("-p", f"1-{PORTS}", "-e", "eth0", "-S", real, "-D", ",".join(decoys), f"10.148.{k}.1"),
            timeout=90,
        )
        self.scanned[k].update([real, *decoys])


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def _ns(ns: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *cmd], check=True, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Net, CentralStack]]:
    missing = [t for t in ("ip", "nmap") if shutil.which(t) is None] + missing_tools()
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    if missing:
        pytest.skip(f"missing: {', '.join(missing)} (scripts/test.sh installs them)")
    folder = Path(tempfile.mkdtemp(prefix="i14c-cluster-"))
    net = Net(str(os.getpid() % 100000), folder)
    namespaces = [f(k) for k in range(1, len(SITES) + 1) for f in (net.sensor, net.stranger)]
    stack: CentralStack | None = None
    try:
        # no dummy interfaces here (no kernel module): a veth pair of the root namespace holds the address
        _ip("link", "add", net.hub_if, "type", "veth", "peer", "name", f"i14ci{net.tag}")
        _ip("link", "set", f"i14ci{net.tag}", "up")
        _ip("addr", "add", f"{HUB}/32", "dev", net.hub_if)
        _ip("link", "set", net.hub_if, "up")
        for ns in namespaces:
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        for k in range(1, len(SITES) + 1):
            sensor, stranger = net.sensor(k), net.stranger(k)
            _ip("link", "add", net.uplink(k), "type", "veth", "peer", "name", "up0", "netns", sensor)
            _ip("addr", "add", f"10.147.{k}.1/30", "dev", net.uplink(k))
            _ip("link", "set", net.uplink(k), "up")
            _ip("-n", sensor, "addr", "add", f"10.147.{k}.2/30", "dev", "up0")
            _ip("-n", sensor, "link", "set", "up0", "up")
            _ip("-n", sensor, "route", "add", f"{HUB}/32", "via", f"10.147.{k}.1")
            _ip("link", "add", "lan0", "netns", sensor, "type", "veth", "peer", "name", "eth0", "netns", stranger)
            _ip("-n", sensor, "addr", "add", f"10.148.{k}.1/24", "dev", "lan0")
            _ip("-n", sensor, "link", "set", "lan0", "up")
            for run in range(15):
                _ip("-n", stranger, "addr", "add", f"10.148.{k}.{10 + run}/24", "dev", "eth0")
            _ip("-n", stranger, "link", "set", "eth0", "up")
        stack = start_cluster(folder, SITES, host=HUB)
        yield net, stack
    finally:
        if stack is not None:
            stack.close()
        for ns in namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", net.hub_if], capture_output=True, timeout=30)
        if not os.environ.get("MAMORI_KEEP_CENTRAL"):
            shutil.rmtree(folder, ignore_errors=True)


# -- what each side holds ---------------------------------------------------------------------------------------------


def _scan_sources(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as c:
        return {r[0] for r in c.execute("SELECT src_ip FROM mamori_alert WHERE rule = 'port-scan'")}


def _leader(stack: CentralStack) -> str:
    """The node leading the stream, once the cluster names one."""
    deadline = time.monotonic() + 30
    while (leader := stack.stream_leader()) is None:
        assert time.monotonic() < deadline, "the cluster names no leader for the stream"
        time.sleep(0.3)
    return leader


def _mid_backlog(stack: CentralStack, act: Callable[[], None], timeout: float = 60) -> tuple[int, int]:
    """Call ``act`` as soon as the consumer (released just before) has committed part of its backlog: polls the
    central alert count on one open connection every 5 ms. Returns the alerts committed before the act and half a
    second after it (a commit in flight shows then)."""
    with stack.pg.connect() as c:

        def count() -> int:
            return int(c.execute("SELECT COUNT(*) FROM mamori_alert").fetchone()[0])

        start, deadline = count(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = count() - start
            if done > 0:
                act()
                time.sleep(0.5)
                return done, count() - start
            time.sleep(0.005)
    raise AssertionError(f"nothing committed within {timeout:.0f} s")


def _central_total(stack: CentralStack) -> int:
    with stack.pg.connect() as c:
        return int(c.execute("SELECT COUNT(*) FROM mamori_alert").fetchone()[0])


# -- the processes ----------------------------------------------------------------------------------------------------


def _start(*cmd: str, log: Path, ns: str | None = None) -> subprocess.Popen[bytes]:
    prefix = ["ip", "netns", "exec", ns] if ns else []  # ip netns exec execs the command: the pid is mamori's
    with log.open("ab") as out:
        return subprocess.Popen([*prefix, MAMORI, *cmd], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes] | None) -> int | None:
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


@dataclass
class Sensors:
    net: Net
    stack: CentralStack
    configs: dict[int, Path] = field(default_factory=dict)
    dbs: dict[str, Path] = field(default_factory=dict)
    watch: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    publish: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, k: int, what: str) -> Path:
        return self.net.folder / f"sensor-{k}-{what}.log"

    def start(self, k: int) -> None:
        """Sensor k's `mamori watch` on lan0, then its `mamori publish`, both in its namespace; returns once
        capturing (the traffic that follows must find the sensor listening)."""
        log = self.log(k, "watch")
        seen = log.read_text(errors="replace").count("capturing on lan0") if log.exists() else 0
        self.watch[k] = _start("watch", "--config", str(self.configs[k]), log=log, ns=self.net.sensor(k))
        wait_until(
            f"sensor {k} capturing",
            lambda: self.watch[k].poll() is None and log.read_text(errors="replace").count("capturing on lan0") > seen,
            timeout=30,
        )
        self.publish[k] = _start(
            "publish", "--config", str(self.configs[k]), log=self.log(k, "publish"), ns=self.net.sensor(k)
        )

    def stop(self, k: int) -> tuple[int | None, int | None]:
        return _stop(self.watch.pop(k, None)), _stop(self.publish.pop(k, None))

    def scan_all(self, runs: int = 1) -> None:
        """``runs`` scans at every site, the sites at the same time."""
        errors: list[BaseException] = []

        def scans(k: int) -> None:
            try:
                for _ in range(runs):
                    self.net.scan(k)
            except BaseException as exc:  # reported by the caller
                errors.append(exc)

        threads = [threading.Thread(target=scans, args=(k,)) for k in self.configs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors

    def scanned_seen(self) -> bool | str:
        """Every source scanned while its sensor watched is a port-scan alert there (the writer hands them over
        about once a second)."""
        for k, site in enumerate(SITES, 1):
            missing = self.net.scanned[k] - _scan_sources(self.dbs[site])
            if missing:
                return f"{site}: no port-scan alert yet for {sorted(missing)[:5]}"
        return True

    def all_published(self) -> bool:
        return all(pending(db) == 0 for db in self.dbs.values())


@dataclass
class Center:
    """`mamori central` (started, held with SIGSTOP, released, killed -9, started again)."""

    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = _start("central", "--config", str(self.config), log=self.log)

    def hold(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def release(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.release()
        return _stop(self.proc)


def _backlog(stack: CentralStack, sensors: Sensors, center: Center, runs: int) -> int:
    """The consumer held while every site is scanned ``runs`` times and the sensors publish it all: returns the
    alerts in JetStream not yet central."""
    center.hold()
    sensors.scan_all(runs)
    wait_until("the scans' alerts at the sensors", sensors.scanned_seen, timeout=30)
    wait_until("the backlog in JetStream", sensors.all_published, timeout=60)
    return sum(len(sensor_alerts(db)) for db in sensors.dbs.values()) - _central_total(stack)


def _link_cut(net: Net, stack: CentralStack, sensors: Sensors) -> None:
    """Site 1's link cut in the middle of a burst, an alert acknowledged there meanwhile, the link restored."""
    uplink, site, db = net.uplink(1), SITES[0], sensors.dbs[SITES[0]]
    net.scan(1)
    _ip("link", "set", uplink, "down")
    cut_at = time.monotonic()
    try:
        net.scan(1)
        net.scan(1)
        with sqlite3.connect(db, timeout=10) as c:  # what the dashboard's acknowledge writes
            c.execute(
                "UPDATE mamori_alert SET status='acknowledged', status_changed_at=?, status_by='i14c-nurse' "
                "WHERE id = (SELECT MIN(id) FROM mamori_alert)",
                [dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")],
            )
        wait_until("site 1's alerts of the cut at its sensor", sensors.scanned_seen, timeout=30)
        time.sleep(max(0.0, 8.0 - (time.monotonic() - cut_at)))  # the publisher tries and fails meanwhile
        assert pending(db) > 0
        unsent = set(sensor_alerts(db)) - set(central_alerts(stack, site))
        assert len(unsent) >= 2 * (DECOYS + 1), len(unsent)  # the two scans during the cut stayed at the sensor
    finally:
        _ip("link", "set", uplink, "up")
    wait_until("every alert after the link came back", lambda: same_alerts(stack, sensors.dbs), timeout=90)
    statuses = [row[2] for row in central_alerts(stack, site).values()]
    assert statuses.count("acknowledged") == 1


def _consumer_killed(stack: CentralStack, sensors: Sensors, center: Center) -> None:
    """The consumer killed (-9) once it has committed part of a backlog, started again."""
    backlog = _backlog(stack, sensors, center, runs=2)
    center.release()
    _before, committed = _mid_backlog(stack, center.kill)
    assert 0 < committed < backlog, (committed, backlog)  # killed mid-backlog: part of it was committed
    center.start()
    # a batch the killed consumer held unacknowledged comes again after JetStream's ack wait (60 s)
    wait_until("every alert after the consumer's restart", lambda: same_alerts(stack, sensors.dbs), timeout=150)


def _node_killed(stack: CentralStack, sensors: Sensors, center: Center) -> None:
    """The node leading the stream killed (-9) once the consumer has committed part of a backlog; a scan while it
    is down; started again, and caught up."""
    backlog = _backlog(stack, sensors, center, runs=1)
    leader = _leader(stack)
    node = next(n for n in stack.nodes if n.name == leader)
    center.release()
    before, _after = _mid_backlog(stack, node.kill)
    assert 0 < before < backlog, (before, backlog)  # killed mid-backlog
    sensors.scan_all()  # the sensors connected to the dead node go to the others
    wait_until("the scans' alerts at the sensors", sensors.scanned_seen, timeout=30)
    wait_until("every alert with one node down", lambda: same_alerts(stack, sensors.dbs), timeout=150)
    assert _leader(stack) != leader
    node.start()
    wait_until(f"{leader} caught up with the cluster", node.healthy, timeout=60)


def test_three_live_sensors_every_alert_once_through_a_link_cut_kills_and_a_restart(
    cluster: tuple[Net, CentralStack],
) -> None:
    net, stack = cluster
    folder = stack.folder
    center = Center(stack.central_settings(batch=4), folder / "central.log")
    sensors = Sensors(net, stack)
    for k, site in enumerate(SITES, 1):
        sensors.dbs[site] = folder / f"{site}.db"
        sensors.configs[k] = stack.sensor_settings(site, sensors.dbs[site], extra="capture: {interfaces: [lan0]}\n")
    codes: dict[str, int | None] = {}

    def same() -> bool | str:
        return same_alerts(stack, sensors.dbs)

    center.start()
    try:
        for k in sensors.configs:
            sensors.start(k)
        sensors.scan_all()
        wait_until("every source's alert at its sensor", sensors.scanned_seen, timeout=30)
        wait_until("the first scans at the center", same, timeout=60)
        _link_cut(net, stack, sensors)
        _consumer_killed(stack, sensors, center)
        _node_killed(stack, sensors, center)

        # site 3's sensor restarted (watch and publish), every site scanned again
        codes["watch-3 stopped"], codes["publish-3 stopped"] = sensors.stop(3)
        sensors.start(3)
        sensors.scan_all()
        wait_until("the last scans' alerts at the sensors", sensors.scanned_seen, timeout=30)
        wait_until("every alert after site 3's restart", same, timeout=90)

        # the end: the sensors stop first (what they write on the way out is published too), then the rest
        for k in sorted(sensors.watch):
            codes[f"watch-{k}"] = _stop(sensors.watch.pop(k))
        wait_until("everything the sensors wrote, published", sensors.all_published, timeout=60)
        wait_until("every alert at the end", same, timeout=90)
    finally:
        for k in sorted({*sensors.watch, *sensors.publish}):
            for what, code in zip(("watch", "publish"), sensors.stop(k), strict=True):
                if code is not None:
                    codes[f"{what}-{k}"] = code
        codes["central"] = center.stop()
    logs = {p.name: p.read_text(errors="replace") for p in folder.glob("*.log")}
    assert all(code == 0 for code in codes.values()), (codes, {n: t[-1500:] for n, t in logs.items()})
    for name, text in logs.items():
        assert "Traceback" not in text, (name, text[-3000:])
    _assert_exactly_once(net, stack, sensors)


def _assert_exactly_once(net: Net, stack: CentralStack, sensors: Sensors) -> None:
    """Each site's central rows are its sensor's; no uid twice; the hourly roll-up counts each alert once; every
    outbox empty; the three nodes hold the same stream."""
    assert same_alerts(stack, sensors.dbs) is True
    expected = {site: len(sensor_alerts(db)) for site, db in sensors.dbs.items()}
    with stack.pg.connect() as c:
        per_site = dict(c.execute("SELECT site, COUNT(*) FROM mamori_alert GROUP BY site").fetchall())
        total, distinct = c.execute("SELECT COUNT(*), COUNT(DISTINCT uid) FROM mamori_alert").fetchone()
        hourly = c.execute("SELECT COALESCE(SUM(count), 0) FROM mamori_alert_hourly").fetchone()[0]
    assert per_site == expected
    assert total == distinct == sum(expected.values()) == hourly
    runs = sum(net.runs.values())
    assert runs == 21 and min(expected.values()) >= 6 * (DECOYS + 1), (runs, expected)
    assert sensors.all_published()
    states = {}
    for n in stack.nodes:
        for account in n.monitor("jsz?accounts=true&streams=true")["account_details"]:
            for info in account["stream_detail"]:
                if info["name"] == "MAMORI":
                    states[n.name] = (info["state"]["messages"], info["state"]["last_seq"])
    assert len(states) == 3 and len(set(states.values())) == 1, states


def test_replicas_above_one_on_a_lone_server_is_a_clear_error(cluster: tuple[Net, CentralStack]) -> None:
    """`central.replicas: 3` against a NATS server that is not in a cluster: `mamori central` stops at once with
    a message saying what to change, instead of retrying for ever."""
    _net, stack = cluster
    folder = stack.folder
    lone = Nats(folder, free_port(), name="lone")
    (folder / "lone.conf").write_text(nats_config(folder / "pki", lone.port, SITES, 0, store=folder / "js-lone"))
    config = folder / "central-lone.yaml"
    text = stack.central_settings().read_text(encoding="utf-8")
    text = text.replace(json.dumps(stack.servers), json.dumps([lone.url]))
    assert f"servers: {json.dumps([lone.url])}" in text and "replicas: 3" in text
    config.write_text(text, encoding="utf-8")
    lone.start()
    try:
        result = subprocess.run(
            [MAMORI, "central", "--config", str(config), "--idle-exit", "5"], capture_output=True, text=True, timeout=60
        )
    finally:
        lone.stop()
    assert result.returncode != 0
    assert "central.replicas is 3 but the NATS server is not a cluster" in result.stderr, result.stderr
    assert "central.replicas が 3 ですが" in result.stderr and "Traceback" not in result.stderr
