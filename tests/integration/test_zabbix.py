"""mamori's zabbix action and template against a real Zabbix 6.0 server that this test builds and tears down.

Everything runs from a temporary folder; no system service is used or changed::

    root namespace                                    server namespace (zsrvN), on the LAN below
    ──────────────                                    ──────────────────────────────────────────────
    PostgreSQL 15: its own cluster, Unix socket       zabbix_server, trapper on 127.0.0.1:10051 (the
      only (no TCP)  ◄────── Unix socket (a file) ──────  namespace's own loopback)
    PHP frontend + API: php -S 127.0.0.1:PORT                   ▲ Zabbix sender protocol
      in a private mount namespace where /etc/zabbix    mamori watch, capturing on the server's veth
      is a temp folder holding zabbix.conf.php
    this test: zabbix_utils.ZabbixAPI over HTTP       stranger namespace (zstgN) ── nmap -sS ──► server

Why this shape: the sensor runs on the department server itself (a placement the README describes) and must reach
Zabbix, but a network namespace cannot reach the root namespace's loopback. Unix sockets are files, not bound to a
network namespace, so zabbix_server can live in the server namespace and still use the PostgreSQL cluster (and
answer ``zabbix_server -R``) through sockets in the temp folder. Nothing is added to the root namespace's network
(no address, no route, no firewall rule in the way), and the watch reaches Zabbix as 127.0.0.1, as a sensor next to
its Zabbix proxy would. Debian's frontend reads its settings from the fixed path /etc/zabbix/zabbix.conf.php, so it
runs under ``unshare --mount`` with a temp folder bound over /etc/zabbix in that mount namespace only: the real /etc
is never written. Deliveries outside the watch (PSK, refused values) run in the server namespace too, through
``ip netns exec`` and a small script.

The test logs in with the default Admin password of the fresh, throwaway database it creates and replaces that
password with a random one at once; mamori itself ships no Zabbix password. Needs root and the Debian packages
zabbix-server-pgsql, zabbix-frontend-php, php-cli, php-pgsql, postgresql, nmap (scripts/test.sh installs them), and
sslpsk3 (a test dependency) for TLS-PSK on Python < 3.13. The last test (nothing listening) needs none of that.
One run takes about 60-90 s here: 25-40 s to set up Zabbix, up to a minute for the silent-sensor trigger.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import gzip
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mamori.alerting import Dispatcher, build_action
from mamori.alerting.zabbix import psk_support
from mamori.config import ZabbixAction as ZabbixSettings
from mamori.model import Alert, Delivery, Severity
from mamori.rules import catalogue
from tests.integration.conftest import MAMORI, json_lines, run_mamori

SERVER = ("02:89:00:00:00:02", "10.89.0.2")
TERMINAL = ("02:89:00:00:00:12", "10.89.0.12")
STRANGER = ("02:89:00:00:00:66", "10.89.0.66")
PORT = 6000
SENSOR_HOST, ESCALATION_HOST, PSK_HOST = "mamori-sensor", "mamori-escalation", "mamori-psk"
PSK_IDENTITY = "mamori-test-psk"
ADMIN = ("Admin", "zabbix")  # the default user of a fresh Zabbix database (this test's own, dropped at the end)
TRAPPER_PORT = 10051  # in the server namespace's own port space: free there
PG_PORT = 5432  # names the socket file in our private socket folder; PostgreSQL opens no TCP port
SCHEMA_DIR = Path("/usr/share/zabbix-server-pgsql")
FRONTEND = Path("/usr/share/zabbix")
SETUP_SECONDS = 150.0  # PostgreSQL, schema, zabbix_server, frontend and the template must be up within this


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
    )


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


def _missing() -> list[str]:
    missing = [t for t in ("ip", "nmap", "php", "zabbix_server", "unshare", "mount") if _which(t) is None]
    checks = {
        "PostgreSQL server (postgresql)": _pg_bin() is not None,
        "zabbix-frontend-php": (FRONTEND / "api_jsonrpc.php").exists(),
        "the Zabbix schema (zabbix-server-pgsql)": (SCHEMA_DIR / "schema.sql.gz").exists(),
        "php-pgsql": bool(glob.glob("/usr/lib/php/*/pgsql.so")),
    }
    return missing + [name for name, ok in checks.items() if not ok]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*cmd: str | Path, timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        out = result.stderr + result.stdout
        text = out if isinstance(out, str) else out.decode(errors="replace")
        raise AssertionError(f"{cmd[0]} {cmd[1]} exited {result.returncode}: {text}")
    return result


def _wait(
    what: str, fetch: Callable[[], Any], timeout: float, until: Callable[[Any], Any] = bool, interval: float = 0.5
) -> Any:
    """Call ``fetch`` until its result satisfies ``until`` (errors count as not yet); return that result."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fetch()
        except Exception as exc:  # the thing is not up yet
            last = exc
        else:
            if until(last):
                return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


# -- the LAN (as in test_live_netns.py): server and stranger on a bridge of their own ------------------------------


def _build_lan(namespaces: tuple[str, ...]) -> None:
    bridge, server, stranger = namespaces
    for ns in (bridge, server, stranger):
        _run("ip", "netns", "add", ns)
        _run("ip", "-n", ns, "link", "set", "lo", "up")
    _run("ip", "-n", bridge, "link", "add", "br0", "type", "bridge")
    _run("ip", "-n", bridge, "link", "set", "br0", "up")
    for ns, (mac, ip) in ((server, SERVER), (stranger, STRANGER)):
        inside, port = ns, f"{ns}p"  # the interface is named as its namespace
        _run("ip", "link", "add", inside, "netns", ns, "type", "veth", "peer", "name", port, "netns", bridge)
        _run("ip", "-n", ns, "link", "set", inside, "address", mac)
        _run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", inside)
        _run("ip", "-n", ns, "link", "set", inside, "up")
        _run("ip", "-n", bridge, "link", "set", port, "master", "br0")
        _run("ip", "-n", bridge, "link", "set", port, "up")
        _run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")


# -- the Zabbix stack ---------------------------------------------------------------------------------------------


@dataclass
class Zabbix:
    base: Path
    namespaces: tuple[str, ...]  # bridge, server, stranger
    web_port: int
    api: Any = None
    hostids: dict[str, str] = field(default_factory=dict)
    psk: str = ""

    @property
    def server_ns(self) -> str:
        return self.namespaces[1]

    @property
    def stranger_ns(self) -> str:
        return self.namespaces[2]

    def log(self, tail: int = 4000) -> str:
        logs = (self.base / "zabbix" / name for name in ("stderr.log", "zabbix_server.log"))
        return "".join(p.read_text(errors="replace")[-tail:] for p in logs if p.exists())


def _as_postgres(*cmd: str | Path, stdin: bytes | None = None, timeout: float = 60) -> None:
    _run(*cmd, input=stdin, timeout=timeout, user="postgres", group="postgres", extra_groups=[], cwd="/")


def _start_postgres(z: Zabbix) -> None:
    """A throwaway cluster (trust authentication: only root and postgres can reach its socket folder)."""
    pg = _pg_bin()
    assert pg is not None
    data, sock = z.base / "pg", z.base / "pgsock"
    for folder in (data, sock):
        folder.mkdir(mode=0o700)
        shutil.chown(folder, "postgres", "postgres")
    _as_postgres(pg / "initdb", "-D", data, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
    options = (
        f"-c listen_addresses='' -c unix_socket_directories='{sock}' -c port={PG_PORT} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    _as_postgres(pg / "pg_ctl", "-D", data, "-l", data / "server.log", "-o", options, "-w", "-t", "60", "start")
    psql = (pg / "psql", "-h", sock, "-p", str(PG_PORT), "-v", "ON_ERROR_STOP=1", "-q")
    _as_postgres(*psql, "-d", "postgres", "-c", "CREATE ROLE zabbix LOGIN")
    _as_postgres(
        *psql, "-d", "postgres", "-c", "CREATE DATABASE zabbix OWNER zabbix ENCODING 'UTF8' TEMPLATE template0"
    )
    sql = b"".join(gzip.decompress((SCHEMA_DIR / f"{p}.sql.gz").read_bytes()) for p in ("schema", "images", "data"))
    _as_postgres(*psql, "-1", "-U", "zabbix", "-d", "zabbix", stdin=sql, timeout=300)


def _stop_postgres(z: Zabbix) -> None:
    pg, data = _pg_bin(), z.base / "pg"
    if pg is None or not (data / "postmaster.pid").exists():
        return
    try:
        _as_postgres(pg / "pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "30", "stop")
    except (AssertionError, subprocess.TimeoutExpired):
        with contextlib.suppress(OSError, ValueError, IndexError):  # the postmaster this test started, by its pid
            os.kill(int((data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)


def _start_server(z: Zabbix) -> subprocess.Popen[bytes]:
    folder = z.base / "zabbix"
    folder.mkdir()
    settings = {
        "LogFile": folder / "zabbix_server.log",
        "LogFileSize": 0,
        "PidFile": folder / "zabbix_server.pid",
        "SocketDir": folder,
        "DBHost": z.base / "pgsock",  # a folder: libpq takes it as the Unix socket's
        "DBPort": PG_PORT,
        "DBName": "zabbix",
        "DBUser": "zabbix",
        "ListenIP": "127.0.0.1",
        "ListenPort": TRAPPER_PORT,
        "AllowRoot": 1,
        "CacheUpdateFrequency": 2,
        "HousekeepingFrequency": 0,
        # Few processes: this server only takes trapper values and evaluates triggers.
        **{f"Start{kind}": 1 for kind in ("Pollers", "PollersUnreachable", "Preprocessors", "DBSyncers", "Timers")},
        **{f"Start{kind}": 0 for kind in ("Pingers", "Discoverers", "HTTPPollers", "ReportWriters")},
        "StartTrappers": 2,
    }
    (folder / "zabbix_server.conf").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    server = [_which("zabbix_server") or "zabbix_server", "-f", "-c", str(folder / "zabbix_server.conf")]
    return subprocess.Popen(
        ["ip", "netns", "exec", z.server_ns, *server],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "stderr.log").open("wb"),
        start_new_session=True,
    )


def _start_frontend(z: Zabbix) -> subprocess.Popen[bytes]:
    etc = z.base / "etc-zabbix"
    etc.mkdir()
    db = {"TYPE": "POSTGRESQL", "SERVER": z.base / "pgsock", "PORT": PG_PORT, "DATABASE": "zabbix", "USER": "zabbix"}
    (etc / "zabbix.conf.php").write_text("<?php\n" + "".join(f"$DB['{k}'] = '{v}';\n" for k, v in db.items()))
    # A private mount namespace where /etc/zabbix is our folder, for this process only; then PHP's own web server.
    script = 'mount --bind "$1" /etc/zabbix && exec php -S "127.0.0.1:$2" -t "$3"'
    args = ["sh", "-c", script, "sh", str(etc), str(z.web_port), str(FRONTEND)]
    return subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", *args],
        stdout=subprocess.DEVNULL,
        stderr=(z.base / "php.log").open("wb"),
        start_new_session=True,
        env={**os.environ, "PHP_CLI_SERVER_WORKERS": "2"},
    )


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    """End a process this test started, with its process group (it was started in a session of its own)."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def _configure(z: Zabbix) -> None:
    """Import mamori's template as a hospital would, make the hosts, and wait until the server knows them."""
    from zabbix_utils import ZabbixAPI

    z.api = _wait("the API", lambda: ZabbixAPI(url=f"http://127.0.0.1:{z.web_port}", timeout=30), 60, interval=1)
    z.api.login(user=ADMIN[0], password=ADMIN[1])
    # The default password is public: replace it at once, even in a database that lives for a minute on loopback.
    password = secrets.token_urlsafe(24)
    [admin] = z.api.user.get(filter={"username": ADMIN[0]}, output=["userid"])
    z.api.user.update(userid=admin["userid"], passwd=password)
    z.api.login(user=ADMIN[0], password=password)
    both = {"createMissing": True, "updateExisting": True}
    rules = {"groups": both, "templates": both, "items": both, "triggers": both}
    source = run_mamori("zabbix-template").stdout
    for _ in range(2):  # the second time as after an upgrade of mamori: the same UUIDs update, nothing is added
        z.api.configuration.import_(format="yaml", source=source, rules=rules)
    [template] = z.api.template.get(filter={"host": "mamori"}, output=["templateid"])
    items = z.api.item.get(templateids=[template["templateid"]], countOutput=True)
    triggers = z.api.trigger.get(templateids=[template["templateid"]], countOutput=True)
    assert (int(items), int(triggers)) == (len(catalogue().ids()) + 1, 4 * len(catalogue().ids()) + 1), (
        items,
        triggers,
    )
    group = z.api.hostgroup.get(filter={"name": "Templates/Security"}, output=["groupid"])[0]
    z.psk = secrets.token_hex(32)
    (z.base / "zabbix.psk").write_text(z.psk + "\n")
    (z.base / "zabbix.psk").chmod(0o600)
    psk_only = {"tls_accept": 2, "tls_psk_identity": PSK_IDENTITY, "tls_psk": z.psk}
    # This host hears only the probe below: with the shortest nodata period Zabbix allows, it goes "silent" soon.
    quick_silence = {"macros": [{"macro": "{$MAMORI.SILENT}", "value": "30s"}]}
    for host, extra in ((SENSOR_HOST, {}), (ESCALATION_HOST, quick_silence), (PSK_HOST, psk_only)):
        created = z.api.host.create(host=host, groups=[group], templates=[template], **extra)
        z.hostids[host] = created["hostids"][0]
    conf = z.base / "zabbix" / "zabbix_server.conf"
    _run(_which("zabbix_server") or "zabbix_server", "-c", conf, "-R", "config_cache_reload")
    # The configuration cache is reloaded in the background: wait until heartbeats for the hosts are accepted.
    for host, psk in ((SENSOR_HOST, False), (ESCALATION_HOST, False), (PSK_HOST, True)):
        if not psk or psk_support()[0] is not None:
            probe = _in_server_namespace(z, host, psk=psk, mode="probe")
            assert probe["ok"], (host, probe, z.log())


@pytest.fixture(scope="module")
def zabbix() -> Iterator[Zabbix]:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, a PostgreSQL cluster run as postgres, a mount namespace")
    if missing := _missing():
        pytest.fail("missing (scripts/test.sh installs them): " + ", ".join(missing))
    base = Path(tempfile.mkdtemp(prefix="mamori-zabbix-"))
    base.chmod(0o755)  # the postgres user must reach its folders inside
    tag = str(os.getpid() % 100000)
    z = Zabbix(base, (f"zlan{tag}", f"zsrv{tag}", f"zstg{tag}"), web_port=_free_port())
    server = frontend = None
    steps = [("start", time.monotonic())]
    try:
        _build_lan(z.namespaces)
        _start_postgres(z)
        steps.append(("PostgreSQL and schema", time.monotonic()))
        server = _start_server(z)
        frontend = _start_frontend(z)
        _wait("zabbix_server", lambda: "server #0 started" in z.log(0) or server.poll() is not None, 60)
        assert server.poll() is None, z.log()
        steps.append(("zabbix_server", time.monotonic()))
        _configure(z)
        steps.append(("template, hosts, cache", time.monotonic()))
        took = steps[-1][1] - steps[0][1]
        parts = ", ".join(f"{name} {t - steps[i][1]:.1f} s" for i, (name, t) in enumerate(steps[1:]))
        print(f"\nZabbix 6.0 set up in {took:.1f} s ({parts})")
        assert took < SETUP_SECONDS
        yield z
    finally:
        _stop(frontend)
        _stop(server)
        _stop_postgres(z)
        for ns in z.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


# -- reading Zabbix through its API ---------------------------------------------------------------------------------


def _history(z: Zabbix, host: str, key: str) -> list[str]:
    [item] = z.api.item.get(hostids=[z.hostids[host]], filter={"key_": key}, output=["itemid", "value_type"])
    rows = z.api.history.get(
        itemids=[item["itemid"]], history=int(item["value_type"]), sortfield="clock", sortorder="ASC", output="extend"
    )
    return [row["value"] for row in rows]


def _firing(z: Zabbix, host: str) -> dict[str, dict[str, Any]]:
    """The host's triggers in PROBLEM state, by name."""
    rows = z.api.trigger.get(
        hostids=[z.hostids[host]], only_true=True, filter={"value": 1}, output=["description", "priority"]
    )
    return {row["description"]: row for row in rows}


def _problems(z: Zabbix, host: str) -> list[dict[str, Any]]:
    return list(z.api.problem.get(hostids=[z.hostids[host]], output="extend", selectTags="extend"))


# -- mamori in the server namespace ---------------------------------------------------------------------------------


@dataclass
class Watch:
    proc: subprocess.Popen[str]
    site: Path
    log: list[str] = field(default_factory=list)


def _start_watch(z: Zabbix, tmp_path: Path) -> Watch:
    site = tmp_path / "site.yaml"
    site.write_text(
        textwrap.dedent(f"""\
            storage: {{path: {tmp_path / "mamori.db"}}}
            capture: {{interfaces: [{z.server_ns}]}}
            systems:
              - name: 透析システム
                servers: [{{ip: {SERVER[1]}, mac: "{SERVER[0]}", name: dialysis-srv}}]
                ports: [{PORT}]
                terminals:
                  - {{name: dialysis-pc-1, mac: "{TERMINAL[0]}", ip: {TERMINAL[1]}}}
            actions:
              - {{name: zabbix, type: zabbix, server: 127.0.0.1, port: {TRAPPER_PORT}, host: {SENSOR_HOST},
                 heartbeat: 2s, retries: 3, backoff: 1s}}
        """),
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        ["ip", "netns", "exec", z.server_ns, MAMORI, "watch", "--config", str(site), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    watch = Watch(proc, site)
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            watch.log.append(line)
            if f"capturing on {z.server_ns}" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(30):
        proc.kill()
        raise AssertionError("the sensor did not start:\n" + "".join(watch.log))
    return watch


def _stop_watch(watch: Watch) -> None:
    watch.proc.send_signal(signal.SIGTERM)
    try:
        watch.proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        watch.proc.kill()
        watch.proc.wait()
    assert watch.proc.returncode == 0, "".join(watch.log)


_IN_NAMESPACE = """
import json, sys, time
from mamori.alerting import Notification, build_action
from mamori.config import ZabbixAction
from mamori.model import Alert, Severity
from mamori.rules import catalogue
settings, mode = json.loads(sys.argv[1]), sys.argv[2]
action = build_action(ZabbixAction.model_validate(settings))
now = time.time()
if mode == "probe":  # heartbeats until one is accepted: the server's configuration cache knows the host
    while time.time() < now + 30:
        action.tick(time.time())
        if action.last_heartbeat.ok:
            break
        time.sleep(1)
    outcome = action.last_heartbeat
elif mode == "escalate":  # a scan first seen as medium, growing, then classified high, then growing again
    for count, severity, event in ((20, "MEDIUM", "new"), (40, "MEDIUM", "update"), (60, "HIGH", "update"),
                                   (80, "HIGH", "update")):
        alert = Alert("esc-1", "port-scan", "k", Severity[severity], now, now, count,
                      src_ip="10.89.0.66")
        outcome = action.deliver(Notification(alert, event))
        if not outcome.ok:
            break
    # then a block and its release, as the sensor reports them (runtime/blocking.py): a problem, then history
    from dataclasses import replace
    from mamori.blocking import BlockEvent, BlockRecord
    from mamori.runtime.blocking import block_alert
    block = BlockRecord("b-esc", "snmp-port", "shut-port", "esc-1", "unregistered-terminal", "02:4b:00:00:00:66",
                        "10.89.0.66", "active", now, place="floor2-access Gi1/0/5 (ifIndex 5)", port_name="Gi1/0/5")
    released = replace(block, state="released", released_at=now + 1, released_by="auto")
    for event, sent in ((BlockEvent(block, "blocked"), "new"), (BlockEvent(released, "released"), "update")):
        if outcome.ok:
            outcome = action.deliver(Notification(block_alert(event, now + 1), sent))
else:
    alert = Alert("flood-1", "syn-flood", "k", Severity.CRITICAL, now, now, 9000,
                  src_ip="10.89.0.66", dst_ip="10.89.0.2", dst_port=6000, system="透析システム")
    outcome = action.deliver(Notification(alert, "new"))
print(json.dumps({"ok": outcome.ok, "detail": outcome.detail}))
"""


def _in_server_namespace(z: Zabbix, host: str, *, psk: bool, mode: str = "deliver") -> dict[str, Any]:
    """Deliveries through the real action, run where the trapper port is: in the server namespace."""
    settings: dict[str, Any] = {"type": "zabbix", "name": "zbx", "server": "127.0.0.1", "port": TRAPPER_PORT}
    settings |= {"host": host, "timeout": 10, "heartbeat": 1}
    if psk:
        settings |= {"tls_psk_identity": PSK_IDENTITY, "tls_psk_file": str(z.base / "zabbix.psk")}
    cmd = ("ip", "netns", "exec", z.server_ns, sys.executable, "-c", _IN_NAMESPACE, json.dumps(settings), mode)
    return dict(json.loads(_run(*cmd, text=True).stdout))


def _trigger(rule: str, level_ja: str, shown: str) -> str:
    """A trigger's name as the template generated from the rule catalogue writes it."""
    title = catalogue()[rule].title
    return f"mamori {title.ja}（{level_ja}） / {title.en} ({shown})"


# -- the tests ------------------------------------------------------------------------------------------------------


@pytest.mark.netns
def test_nmap_scan_becomes_zabbix_problems(zabbix: Zabbix, tmp_path: Path) -> None:
    z = zabbix
    started = int(time.time())
    watch = _start_watch(z, tmp_path)
    wanted = {_trigger("port-scan", "高", "high"), _trigger("unregistered-terminal", "高", "high")}
    try:
        # The sensor's first heartbeat goes out about a second after the start.
        heartbeats = functools.partial(_history, z, SENSOR_HOST, "mamori.heartbeat")
        _wait("a heartbeat from the sensor", heartbeats, 20, lambda v: v and int(v[-1]) >= started)
        # The stranger scans the department server.
        nmap = ("nmap", "-sS", "-n", "-Pn", "-p", f"1-1000,{PORT}", "--max-retries", "1", SERVER[1])
        _run("ip", "netns", "exec", z.stranger_ns, *nmap, timeout=120)
        firing = _wait("both problems", lambda: _firing(z, SENSOR_HOST), 60, lambda f: wanted <= set(f), interval=1)
    finally:
        _stop_watch(watch)
    assert set(firing) == wanted, f"unexpected problems: {set(firing) - wanted}"
    assert {row["priority"] for row in firing.values()} == {"4"}, firing  # 4: High

    # The problems carry the alert's line as their name, and the rule's tags.
    problems = _problems(z, SENSOR_HOST)
    by_rule = {tag["value"]: p for p in problems for tag in p["tags"] if tag["tag"] == "rule"}
    assert set(by_rule) == {"port-scan", "unregistered-terminal"} and len(problems) == 2, problems
    scan = by_rule["port-scan"]
    title = catalogue()["port-scan"].title
    assert scan["name"].startswith(f"mamori {title.ja} / {title.en}: high|new|port-scan|"), scan["name"]
    assert f"src_ip={STRANGER[1]}" in scan["name"] and f"src_mac={STRANGER[0]}" in scan["name"]
    assert {"tag": "source", "value": "mamori"} in scan["tags"]

    # Item history: one line per notification, the new one first.
    scans = _history(z, SENSOR_HOST, "mamori.alert[port-scan]")
    strangers = _history(z, SENSOR_HOST, "mamori.alert[unregistered-terminal]")
    assert scans[0].startswith("high|new|port-scan|") and "system=透析システム" in scans[0], scans
    assert strangers[0].startswith("high|new|unregistered-terminal|"), strangers
    assert f"dst={SERVER[1]}:{PORT}" in strangers[0] and f"src_mac={STRANGER[0]}" in strangers[0]
    beats = [int(v) for v in _history(z, SENSOR_HOST, "mamori.heartbeat")]
    assert beats == sorted(beats) and beats[-1] >= started, beats

    # mamori's own record of what Zabbix answered.
    alerts = {a["rule"]: a["uid"] for a in json_lines(run_mamori("alerts", "-c", str(watch.site), "--json").stdout)}
    assert (scans[0].split("|")[3], strangers[0].split("|")[3]) == (
        alerts["port-scan"],
        alerts["unregistered-terminal"],
    )
    deliveries = json_lines(run_mamori("deliveries", "--config", str(watch.site), "--json").stdout)
    assert {d["alert_uid"] for d in deliveries} == set(alerts.values()), deliveries
    assert deliveries and all(d["ok"] and d["action_type"] == "zabbix" for d in deliveries), deliveries
    assert all("processed 1, failed 0, total 1" in d["detail"] for d in deliveries), deliveries
    assert "heartbeat not accepted" not in "".join(watch.log)


@pytest.mark.netns
def test_a_value_zabbix_does_not_take_is_a_failed_attempt(zabbix: Zabbix) -> None:
    """Zabbix answers ``failed`` for a host it does not have, and for a value sent in clear to a PSK-only host."""
    for host in ("no-such-host", PSK_HOST):
        outcome = _in_server_namespace(zabbix, host, psk=False)
        assert not outcome["ok"] and "processed 0, failed 1" in outcome["detail"], outcome


@pytest.mark.netns
def test_psk_host_takes_values_over_tls_psk(zabbix: Zabbix) -> None:
    if psk_support()[0] is None:
        pytest.skip(psk_support()[1])
    outcome = _in_server_namespace(zabbix, PSK_HOST, psk=True)
    assert outcome["ok"] and "processed 1, failed 0" in outcome["detail"], (outcome, zabbix.log())
    values = _wait("the value", lambda: _history(zabbix, PSK_HOST, "mamori.alert[syn-flood]"), 20)
    assert len(values) == 1 and values[0].startswith("critical|new|syn-flood|flood-1|count=9000|"), values
    firing = _wait("the problem", lambda: _firing(zabbix, PSK_HOST), 20)
    assert [r["priority"] for r in firing.values()] == ["5"], firing  # 5: Disaster


@pytest.mark.netns
def test_an_escalated_alert_raises_a_problem_at_its_new_severity(zabbix: Zabbix) -> None:
    """Updates only add history; the update that raises an alert's severity raises a problem at that severity."""
    z = zabbix
    result = _in_server_namespace(z, ESCALATION_HOST, psk=False, mode="escalate")
    assert result["ok"], result
    values = _wait("values", lambda: _history(z, ESCALATION_HOST, "mamori.alert[port-scan]"), 20, lambda v: len(v) >= 4)
    events = [v.split("|")[:2] for v in values]
    assert events == [["medium", "new"], ["medium", "update"], ["high", "escalated"], ["high", "update"]], values
    # The block (one problem) and its release (history only) on the device-blocked item.
    blocks = _wait("block values", lambda: _history(z, ESCALATION_HOST, "mamori.alert[device-blocked]"), 20,
                   lambda v: len(v) >= 2)  # fmt: skip
    assert [v.split("|")[:3] for v in blocks] == [["medium", "new", "device-blocked"],
                                                  ["medium", "update", "device-blocked"]], blocks  # fmt: skip
    assert "Gi1/0/5" in blocks[0] and "released" in blocks[1]
    wanted = {
        _trigger("port-scan", "中", "medium"), _trigger("port-scan", "高", "high"),
        _trigger("device-blocked", "中", "medium"),
    }  # fmt: skip
    # (the host's "sensor silent" problem may fire meanwhile: its test is below)
    firing = _wait("two problems", lambda: _firing(z, ESCALATION_HOST), 20, lambda f: wanted <= set(f))
    assert sorted(firing[name]["priority"] for name in wanted) == ["3", "3", "4"], firing  # Average, Average, High
    scans = [p for p in _problems(z, ESCALATION_HOST) if {"tag": "rule", "value": "port-scan"} in p["tags"]]
    assert len(scans) == 2, scans


@pytest.mark.netns
def test_a_silent_sensor_raises_a_problem(zabbix: Zabbix) -> None:
    """The escalation host's only heartbeat was the fixture's probe, and its {$MAMORI.SILENT} is 30 s (Zabbix's
    shortest nodata period): "sensor silent" fires within about a minute of that probe (the timer that evaluates
    nodata() runs every 30 s)."""
    z = zabbix
    silent = "mamori センサー応答なし / mamori sensor silent"
    firing = _wait("the silent-sensor problem", lambda: _firing(z, ESCALATION_HOST), 90, lambda f: silent in f, 2)
    assert firing[silent]["priority"] == "4", firing  # High


def test_unreachable_server_is_retried_then_given_up() -> None:
    """Nothing listens on the port: each attempt fails and is recorded, the last one as final."""
    port = _free_port()
    fields = {"retries": 1, "backoff": 0.2, "timeout": 3, "heartbeat": 0}
    settings = ZabbixSettings(type="zabbix", name="zbx", server="127.0.0.1", port=port, host=SENSOR_HOST, **fields)
    records: list[Delivery] = []
    lock = threading.Lock()

    def record(batch: list[Delivery]) -> None:
        with lock:
            records.extend(batch)

    dispatcher = Dispatcher([settings], [build_action(settings)], record=record)
    now = time.time()
    alert = Alert("closed-1", "port-scan", "k", Severity.HIGH, now, now, 12)
    try:
        dispatcher.submit([alert])
        _wait("two recorded attempts", lambda: len(records) >= 2, 20, interval=0.1)
    finally:
        dispatcher.close(timeout=5)
    assert [(d.attempt, d.ok, d.final, d.event) for d in records] == [(1, False, False, "new"), (2, False, True, "new")]
    assert all(f"127.0.0.1:{port}" in d.detail and "connect" in d.detail.lower() for d in records), records
