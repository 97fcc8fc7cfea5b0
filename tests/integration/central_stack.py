"""The real parts of the central tests and benchmark: a small CA made with openssl, a NATS server with JetStream,
mutual TLS and one user per site (or a cluster of three such servers, routes on loopback, the stream replicated on
all three), and a PostgreSQL 15 cluster of its own, all on loopback in a temporary folder.

Nothing system-wide is started or changed: nats-server and PostgreSQL run from the folder with their own ports,
and are stopped (by the pids they were started with) when the stack is closed. A cluster's client listeners may
be given another local address (``host``: one the test put on an interface of its own, reachable from network
namespaces); its routes and monitoring stay on loopback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SITES = ("site-a", "site-b")
CENTRAL_USER = "mamori-central"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


def missing_tools() -> list[str]:
    missing = [t for t in ("nats-server", "openssl") if shutil.which(t) is None]
    if pg_bin() is None:
        missing.append("PostgreSQL server (postgresql)")
    return missing


def _run(*cmd: str | Path, timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"{cmd[0]} exited {result.returncode}: {(result.stderr + result.stdout).decode()}")
    return result


def wait_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


# -- certificates ---------------------------------------------------------------------------------------------------


def make_pki(folder: Path, clients: tuple[str, ...], server_ips: tuple[str, ...] = ("127.0.0.1",)) -> None:
    """A CA, the server's certificate (``server_ips``, localhost; usable as a client too, for a cluster's routes)
    and one client certificate per name (subject CN=name), P-256 keys, valid two days."""
    folder.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _run(
        "openssl",
        "req",
        "-x509",
        *ec,
        "-keyout",
        folder / "ca.key",
        "-out",
        folder / "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=mamori test CA",
    )
    for name in ("server", *clients):
        ext = folder / f"{name}.ext"
        if name == "server":
            names = ",".join([*(f"IP:{ip}" for ip in server_ips), "DNS:localhost"])
            ext.write_text(f"subjectAltName={names}\nextendedKeyUsage=serverAuth,clientAuth\n")
        else:
            ext.write_text("extendedKeyUsage=clientAuth\n")
        _run(
            "openssl",
            "req",
            *ec,
            "-keyout",
            folder / f"{name}.key",
            "-out",
            folder / f"{name}.csr",
            "-subj",
            f"/CN={name}",
        )
        _run(
            "openssl",
            "x509",
            "-req",
            "-in",
            folder / f"{name}.csr",
            "-CA",
            folder / "ca.crt",
            "-CAkey",
            folder / "ca.key",
            "-CAcreateserial",
            "-out",
            folder / f"{name}.crt",
            "-days",
            "2",
            "-extfile",
            ext,
        )


def nats_config(
    folder: Path,
    port: int,
    sites: tuple[str, ...],
    leaf_port: int,
    *,
    host: str = "127.0.0.1",
    name: str = "mamori-hub",
    store: Path | None = None,
    cluster: str = "",
    monitor_port: int = 0,
) -> str:
    """The hub's configuration: JetStream, TLS with client certificates mapped to users (verify_and_map), one
    account holding the stream, one user per site allowed to publish only to ``mamori.<site>.>`` and to hear only
    its own replies (``_INBOX_<site>.>``), and the central user. Hospitals' leaf nodes connect on ``leaf_port``
    (none when 0) with their site's certificate, into the same account (NATS 2.9 takes no permissions on a leaf
    node's user: the leaf node's own users carry them, see :func:`leaf_config`). ``cluster``: the block of
    :func:`cluster_block` for a cluster's node; ``monitor_port``: the HTTP monitoring port on loopback."""
    users = [f'{{ user: "CN={CENTRAL_USER}" }}']
    for site in sites:
        users.append(
            f'{{ user: "CN={site}", permissions: {{ publish: {{ allow: ["mamori.{site}.>"] }}, '
            f'subscribe: {{ allow: ["_INBOX_{site}.>"] }} }} }}'
        )
    monitor = f"http: 127.0.0.1:{monitor_port}\n" if monitor_port else ""
    return (
        textwrap.dedent(f"""\
        listen: {host}:{port}
        server_name: {name}
        jetstream {{ store_dir: "{store or folder / "js"}", max_memory_store: 64MB, max_file_store: 1GB }}
        tls {{
          cert_file: "{folder / "server.crt"}"
          key_file: "{folder / "server.key"}"
          ca_file: "{folder / "ca.crt"}"
          verify_and_map: true
          timeout: 5
        }}
        accounts {{
          MAMORI: {{
            jetstream: enabled
            users: [
              {(chr(10) + "              ").join(users)}
            ]
          }}
        }}
        """)
        + monitor
        + cluster
        + (_leaf_listener(folder, sites, leaf_port) if leaf_port else "")
    )


def _leaf_listener(folder: Path, sites: tuple[str, ...], leaf_port: int) -> str:
    leaf_users = ", ".join(f'{{ user: "CN={site}", account: "MAMORI" }}' for site in sites)
    return textwrap.dedent(f"""\
        leafnodes {{
          listen: 127.0.0.1:{leaf_port}
          tls {{
            cert_file: "{folder / "server.crt"}"
            key_file: "{folder / "server.key"}"
            ca_file: "{folder / "ca.crt"}"
            verify_and_map: true
            timeout: 5
          }}
          authorization {{ users: [ {leaf_users} ] }}
        }}
        """)


def cluster_block(folder: Path, route_port: int, other_route_ports: list[int], name: str = "mamori-hub") -> str:
    """A cluster node's routes on loopback, in a full mesh, with mutual TLS (the servers' own certificate)."""
    routes = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in other_route_ports)
    return textwrap.dedent(f"""\
        cluster {{
          name: {name}
          listen: 127.0.0.1:{route_port}
          routes: [ {routes} ]
          tls {{
            cert_file: "{folder / "server.crt"}"
            key_file: "{folder / "server.key"}"
            ca_file: "{folder / "ca.crt"}"
            verify: true
            timeout: 5
          }}
        }}
        """)


def leaf_config(pki: Path, port: int, hub_leaf_port: int, site: str) -> str:
    """A hospital box's NATS leaf node: its sensors connect on ``port`` (TLS, client certificates, the site's user
    allowed only ``mamori.<site>.>``), and it connects out to the hub's leaf port with the site's certificate."""
    return textwrap.dedent(f"""\
        listen: 127.0.0.1:{port}
        server_name: leaf-{site}
        tls {{
          cert_file: "{pki / "server.crt"}"
          key_file: "{pki / "server.key"}"
          ca_file: "{pki / "ca.crt"}"
          verify_and_map: true
          timeout: 5
        }}
        accounts {{
          MAMORI: {{
            users: [
              {{ user: "CN={site}", permissions: {{ publish: {{ allow: ["mamori.{site}.>"] }},
                                                   subscribe: {{ allow: ["_INBOX_{site}.>"] }} }} }}
            ]
          }}
        }}
        leafnodes {{
          remotes: [
            {{
              url: "tls://127.0.0.1:{hub_leaf_port}"
              account: "MAMORI"
              tls: {{ cert_file: "{pki / f"{site}.crt"}", key_file: "{pki / f"{site}.key"}",
                      ca_file: "{pki / "ca.crt"}" }}
            }}
          ]
        }}
        """)


@dataclass
class Nats:
    folder: Path
    port: int
    leaf_port: int = 0
    name: str = "nats"
    proc: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"
    monitor_port: int = 0

    @property
    def url(self) -> str:
        return f"tls://{self.host}:{self.port}"

    def start(self) -> None:
        log = (self.folder / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(
            ["nats-server", "-c", str(self.folder / f"{self.name}.conf")], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        wait_port(self.port, host=self.host)

    def kill(self) -> None:
        """kill -9: no goodbye to the cluster, nothing flushed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def monitor(self, path: str) -> Any:
        """A monitoring endpoint's JSON (``jsz?...``, ``routez``...)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/{path}", timeout=5) as answer:
            return json.loads(answer.read())

    def healthy(self) -> bool:
        """The server's own health check: JetStream up and, in a cluster, its streams and consumers current."""
        try:
            return bool(self.monitor("healthz").get("status") == "ok")
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        return (self.folder / f"{self.name}.log").read_text(errors="replace")


@dataclass
class Postgres:
    folder: Path
    port: int
    password_file: Path
    started: bool = False
    env: dict[str, str] = field(default_factory=dict)

    def _as_postgres(self, *cmd: str | Path, stdin: bytes | None = None, timeout: float = 60) -> None:
        _run(*cmd, input=stdin, timeout=timeout, user="postgres", group="postgres", extra_groups=[], cwd="/")

    def start(self) -> None:
        pg = pg_bin()
        assert pg is not None
        data = self.folder / "pg"
        data.mkdir(mode=0o700)
        shutil.chown(data, "postgres", "postgres")
        superuser = self.folder / "pg-superuser.pw"
        superuser.write_text(secrets.token_urlsafe(24) + "\n")
        shutil.chown(superuser, "postgres", "postgres")
        superuser.chmod(0o600)
        self._as_postgres(
            pg / "initdb",
            "-D",
            data,
            "-A",
            "scram-sha-256",
            "-U",
            "postgres",
            "--pwfile",
            superuser,
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._as_postgres(
            pg / "pg_ctl", "-D", data, "-l", data / "server.log", "-o", options, "-w", "-t", "60", "start"
        )
        self.started = True
        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        env = {**os.environ, "PGPASSWORD": superuser.read_text().strip()}
        psql = (pg / "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q")
        _run(*psql, "-d", "postgres", "-c", f"CREATE ROLE mamori LOGIN PASSWORD '{password}'", env=env)
        _run(
            *psql,
            "-d",
            "postgres",
            "-c",
            "CREATE DATABASE mamori OWNER mamori ENCODING 'UTF8' TEMPLATE template0",
            env=env,
        )

    def stop(self) -> None:
        pg, data = pg_bin(), self.folder / "pg"
        if pg is None or not self.started or not (data / "postmaster.pid").exists():
            return
        try:
            self._as_postgres(pg / "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "30", "stop")
        except (AssertionError, subprocess.TimeoutExpired):
            with contextlib.suppress(OSError, ValueError, IndexError):  # the postmaster this stack started
                os.kill(int((data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
        self.started = False

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname="mamori",
            user="mamori",
            password=self.password_file.read_text().strip(),
            autocommit=True,
        )


@dataclass
class CentralStack:
    folder: Path
    nats: Nats  # the hub; a cluster's first node
    pg: Postgres
    nodes: tuple[Nats, ...] = ()  # a cluster's nodes (nats among them); none for a lone hub
    replicas: int = 1

    @property
    def servers(self) -> list[str]:
        """Every URL a sensor or the central consumer is given."""
        return [n.url for n in self.nodes] if self.nodes else [self.nats.url]

    def stream_leader(self, stream: str = "MAMORI") -> str | None:
        """The cluster node (server name) leading ``stream`` now, from a running node's monitoring."""
        for node in self.nodes:
            if node.proc is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                for account in node.monitor("jsz?accounts=true&streams=true").get("account_details") or []:
                    for info in account.get("stream_detail") or []:
                        if info.get("name") == stream and (info.get("cluster") or {}).get("leader"):
                            return str(info["cluster"]["leader"])
        return None

    def sensor_settings(
        self, site: str, database: Path, *, cert: str | None = None, extra: str = "", url: str | None = None
    ) -> Path:
        """A sensor's settings: its SQLite store and the central link with ``cert``'s certificate (its own), to the
        hub or to ``url`` (a leaf node)."""
        cert = cert or site
        path = self.folder / f"{site}-{cert}{'-leaf' if url else ''}.yaml"
        path.write_text(
            textwrap.dedent(f"""\
            storage: {{path: {database}}}
            central:
              site: {site}
              servers: {json.dumps([url] if url else self.servers)}
              tls: {{ca: pki/ca.crt, cert: pki/{cert}.crt, key: pki/{cert}.key}}
              publish_interval: 0.2
            """)
            + extra,
            encoding="utf-8",
        )
        return path

    def central_settings(self, *, batch: int = 256, web: str = "", silent_after: str = "10m") -> Path:
        path = self.folder / "central.yaml"
        path.write_text(
            textwrap.dedent(f"""\
            storage:
              postgresql: {{host: 127.0.0.1, port: {self.pg.port}, db: mamori, user: mamori,
                            password_file: {self.pg.password_file.name}, sslmode: disable}}
            central:
              servers: {json.dumps(self.servers)}
              tls: {{ca: pki/ca.crt, cert: pki/{CENTRAL_USER}.crt, key: pki/{CENTRAL_USER}.key}}
              replicas: {self.replicas}
              batch: {batch}
              silent_after: {silent_after}
            """)
            + web,
            encoding="utf-8",
        )
        return path

    def close(self) -> None:
        for node in self.nodes or (self.nats,):
            node.stop()
        self.pg.stop()


def start_stack(folder: Path, sites: tuple[str, ...] = SITES, *, others: tuple[str, ...] = ()) -> CentralStack:
    """Make the CA and certificates (the sites', the central's, and ``others``), start NATS and PostgreSQL."""
    folder.chmod(0o755)  # PostgreSQL's own user reaches its data folder inside
    make_pki(folder / "pki", (*sites, CENTRAL_USER, *others))
    port, leaf_port = free_port(), free_port()
    (folder / "nats.conf").write_text(nats_config(folder / "pki", port, sites, leaf_port, store=folder / "js"))
    nats = Nats(folder, port, leaf_port)
    stack = CentralStack(folder, nats, Postgres(folder, free_port(), folder / "pg-mamori.pw"))
    try:
        stack.nats.start()
        stack.pg.start()
    except BaseException:
        stack.close()
        raise
    return stack


def start_cluster(folder: Path, sites: tuple[str, ...], *, host: str = "127.0.0.1", size: int = 3) -> CentralStack:
    """Like :func:`start_stack`, with a cluster of ``size`` NATS servers (``hub-1``...): clients on ``host`` (one
    port each), routes and monitoring on loopback, each with its own JetStream store, the stream replicated on
    ``size`` of them (``central.replicas``). Returns once every node says it is healthy."""
    folder.chmod(0o755)
    make_pki(folder / "pki", (*sites, CENTRAL_USER), server_ips=tuple(dict.fromkeys(("127.0.0.1", host))))
    routes = [free_port() for _ in range(size)]
    nodes = []
    for i in range(size):
        node = Nats(folder, free_port(), name=f"hub-{i + 1}", host=host, monitor_port=free_port())
        others = [p for k, p in enumerate(routes) if k != i]
        (folder / f"{node.name}.conf").write_text(
            nats_config(
                folder / "pki",
                node.port,
                sites,
                0,
                host=host,
                name=node.name,
                store=folder / f"js-{i + 1}",
                cluster=cluster_block(folder / "pki", routes[i], others),
                monitor_port=node.monitor_port,
            )
        )
        nodes.append(node)
    pg = Postgres(folder, free_port(), folder / "pg-mamori.pw")
    stack = CentralStack(folder, nodes[0], pg, nodes=tuple(nodes), replicas=size)
    try:
        for node in nodes:
            node.start()
        deadline = time.monotonic() + 60
        while not all(node.healthy() for node in nodes):
            if time.monotonic() > deadline:
                raise AssertionError("the NATS cluster did not form: " + nodes[0].log()[-2000:])
            time.sleep(0.3)
        stack.pg.start()
    except BaseException:
        stack.close()
        raise
    return stack


# -- what each side holds: the sensors' SQLite stores and the central PostgreSQL ---------------------------------------

Row = tuple[int, str, str]  # count, last_seen, status


def iso(value: Any) -> str:
    """A time stamp from either database in one text form (UTC, microseconds)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(value)[:26]


def sensor_alerts(db: Path) -> dict[str, Row]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as c:
        rows = c.execute("SELECT uid, count, last_seen, status FROM mamori_alert").fetchall()
    return {uid: (count, iso(last), status) for uid, count, last, status in rows}


def pending(db: Path) -> int:
    """Entries of the sensor's outbox not yet acknowledged."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as c:
        return int(c.execute("SELECT COUNT(*) FROM mamori_outbox").fetchone()[0])


def central_alerts(stack: CentralStack, site: str) -> dict[str, Row]:
    with stack.pg.connect() as c:
        rows = c.execute("SELECT uid, count, last_seen, status FROM mamori_alert WHERE site = %s", [site]).fetchall()
    return {uid: (count, iso(last), status) for uid, count, last, status in rows}


def same_alerts(stack: CentralStack, dbs: dict[str, Path]) -> bool | str:
    """True when every site's central alerts are its sensor's (uid, count, last seen, status); else what differs."""
    for site, db in dbs.items():
        mine, theirs = sensor_alerts(db), central_alerts(stack, site)
        if mine != theirs:
            missing = len(set(mine) - set(theirs))
            differ = sum(1 for uid in set(mine) & set(theirs) if mine[uid] != theirs[uid])
            return f"{site}: {len(mine)} at the sensor, {len(theirs)} central, {missing} missing, {differ} differ"
    return True


def wait_until(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """``check()`` until it gives True or something truthy that is not a string (a string says what is not there
    yet); an exception counts as not yet (a store being created, a node starting)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:
            last = exc
        else:
            if last is True or (last and not isinstance(last, str)):
                return last
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")
