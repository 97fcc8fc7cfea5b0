"""Many sensors, one view, with the real parts (docs/design.md §10, central): a NATS server with JetStream, mutual
TLS and one user per site, a PostgreSQL 15 cluster, two sensors (`mamori analyze` of the lab's real captures into
their own SQLite stores, `mamori publish` from their outboxes) and the central consumer (`mamori central`), all on
loopback, started from a temporary folder and stopped at the end.

What is checked: every alert of both sensors reaches the central store exactly once (same uids, counts, times and
statuses; no uid twice; the hourly roll-up counts each alert once) through a link cut (nats-server stopped while the
sensors produce alerts, then started again), a kill -9 of the consumer mid-stream and a kill -9 of a publisher
mid-stream; a sensor holding site A's certificate cannot publish to site B's subjects (the server's permission
violation is observed and nothing arrives); the central dashboard (`mamori web` on PostgreSQL) lists both sites
and filters its alerts by site.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mamori.model import Alert, Severity
from tests.integration.central_stack import (
    CentralStack,
    Nats,
    central_alerts,
    free_port,
    leaf_config,
    missing_tools,
    pending,
    same_alerts,
    sensor_alerts,
    start_stack,
    wait_until,
)
from tests.integration.conftest import MAMORI, run_mamori
from tests.integration.dashboard import Client, add_user, start_dashboard

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack() -> Iterator[CentralStack]:
    missing = missing_tools()
    if missing:
        pytest.skip(f"missing: {', '.join(missing)} (scripts/test.sh installs them)")
    folder = Path(tempfile.mkdtemp(prefix="i14-central-"))
    started = start_stack(folder)
    try:
        yield started
    finally:
        started.close()
        if not os.environ.get("MAMORI_KEEP_CENTRAL"):
            shutil.rmtree(folder, ignore_errors=True)


def _kill_when_under_way(proc: subprocess.Popen[bytes], progress: Callable[[], int], timeout: float = 60) -> int:
    """kill -9 ``proc`` as soon as ``progress()`` shows it has done some of its work; returns the progress seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = progress()
        if done > 0:
            proc.kill()
            proc.wait(10)
            return done
        time.sleep(0.02)
    raise AssertionError("no progress within {timeout:.0f} s")


def _start(*args: str, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen([MAMORI, *args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


def _write_alerts(db: Path, n: int, *, rule: str = "port-scan") -> None:
    """``n`` alerts written through mamori's own store (the alert writer's path: the triggers fill the outbox in
    the same transaction), in batches of 100 as the writer commits them."""
    from mamori.storage import Store

    store = Store(db)
    now = time.time()
    try:
        for start in range(0, n, 100):
            batch = [
                Alert(
                    uid=uuid.uuid4().hex,
                    rule=rule,
                    key=f"10.231.9.{i % 250}",
                    severity=Severity.HIGH,
                    first_seen=now - 3600 - i,
                    last_seen=now - i,
                    count=i + 1,
                    src_ip=f"10.231.9.{i % 250}",
                    dst_ip="10.231.0.2",
                )
                for i in range(start, min(start + 100, n))
            ]
            store.upsert_alerts(batch)
    finally:
        store.close()


def _record_health(db: Path, name: str) -> None:
    """A source's health, as the live sensor's writer records it every batch (analyze records none)."""
    from mamori.storage import SensorHealth, Store

    store = Store(db)
    try:
        now = time.time()
        store.record_health([SensorHealth(name, "interface", now - 60, now - 1, 10, 100, 0, 100, 0, 0)])
    finally:
        store.close()


def _analyze(config: Path, *captures: Path) -> None:
    run_mamori("analyze", "--config", str(config), *(str(c) for c in captures), timeout=180)


def test_every_alert_arrives_once_through_cuts_and_restarts(stack: CentralStack, lab_pcaps: Path) -> None:
    folder = stack.folder
    central_cfg = stack.central_settings(batch=50)
    sensors = {"site-a": folder / "a.db", "site-b": folder / "b.db"}
    cfg = {site: stack.sensor_settings(site, db) for site, db in sensors.items()}
    log = folder / "processes.log"
    central = _start("central", "--config", str(central_cfg), log=log)
    publishers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        _analyze(cfg["site-a"], lab_pcaps / "nmap_sS_1-1000.pcap")
        _analyze(cfg["site-b"], lab_pcaps / "scan_hping3_flood_S_p6000.pcap")
        for site in sensors:
            publishers[site] = _start("publish", "--config", str(cfg[site]), log=log)
        wait_until("both sites' first alerts at the center", lambda: same_alerts(stack, sensors))
        assert all(sensor_alerts(db) for db in sensors.values())

        # -- the link cut: NATS stopped while both sensors produce alerts and a person acknowledges one ----------
        stack.nats.stop()
        _analyze(cfg["site-a"], lab_pcaps / "scan_nmap_sA_1-1000.pcap", lab_pcaps / "scan_nmap_sF_1-1000.pcap")
        _analyze(cfg["site-b"], lab_pcaps / "scan_nmap_sX_1-1000.pcap", lab_pcaps / "scan_nmap_sN_1-1000.pcap")
        with sqlite3.connect(sensors["site-a"]) as c:  # what the dashboard's acknowledge writes
            c.execute(
                "UPDATE mamori_alert SET status='acknowledged', status_changed_at=?, status_by='nurse-it' "
                "WHERE id = (SELECT MIN(id) FROM mamori_alert)",
                [dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")],
            )
        for site, db in sensors.items():
            _record_health(db, f"{site}-mirror0")
        time.sleep(2.0)  # the publishers try and fail meanwhile
        assert pending(sensors["site-a"]) > 0 and pending(sensors["site-b"]) > 0
        assert same_alerts(stack, sensors) is not True
        stack.nats.start()
        wait_until("every alert after the link came back", lambda: same_alerts(stack, sensors), timeout=90)
        acknowledged = [r for r in central_alerts(stack, "site-a").values() if r[2] == "acknowledged"]
        assert len(acknowledged) == 1

        # -- the consumer killed (-9) mid-stream -----------------------------------------------------------------
        before = len(central_alerts(stack, "site-a"))
        central.send_signal(signal.SIGSTOP)  # held while the burst is written, killed once it has begun
        _write_alerts(sensors["site-a"], 2000)
        central.send_signal(signal.SIGCONT)
        seen = _kill_when_under_way(central, lambda: len(central_alerts(stack, "site-a")) - before)
        assert 0 < seen < 2000, seen  # killed mid-stream
        central = _start("central", "--config", str(central_cfg), log=log)
        wait_until("every alert after the consumer's restart", lambda: same_alerts(stack, sensors), timeout=120)

        # -- a publisher killed (-9) mid-stream, then started again: it resends what was not acknowledged --------
        before = len(central_alerts(stack, "site-b"))
        publishers["site-b"].send_signal(signal.SIGSTOP)  # hold it while the burst is written, then kill it
        _write_alerts(sensors["site-b"], 2000, rule="syn-flood")
        publishers["site-b"].send_signal(signal.SIGCONT)
        seen = _kill_when_under_way(publishers["site-b"], lambda: 2000 - pending(sensors["site-b"]))
        assert 0 < seen < 2000, seen  # killed mid-stream
        publishers["site-b"] = _start("publish", "--config", str(cfg["site-b"]), log=log)
        wait_until("every alert after the publisher's restart", lambda: same_alerts(stack, sensors), timeout=120)
    finally:
        for proc in publishers.values():
            _stop(proc)
        code = _stop(central)
    assert code == 0, log.read_text(errors="replace")[-3000:]

    # exactly once: no uid twice, the hourly roll-up counted each alert once, both outboxes empty
    with stack.pg.connect() as c:
        total, distinct = c.execute("SELECT COUNT(*), COUNT(DISTINCT uid) FROM mamori_alert").fetchone()
        hourly = c.execute("SELECT COALESCE(SUM(count), 0) FROM mamori_alert_hourly").fetchone()[0]
        partitions = [r[0] for r in c.execute("SELECT DISTINCT tableoid::regclass::text FROM mamori_alert")]
        sites = dict(c.execute("SELECT site, messages FROM mamori_central_site").fetchall())
        health = c.execute("SELECT site, name FROM mamori_central_sensor ORDER BY site, name").fetchall()
    expected = sum(len(sensor_alerts(db)) for db in sensors.values())
    assert total == distinct == expected == hourly
    assert all(p.startswith("mamori_alert_y") for p in partitions), partitions  # monthly partitions, not default
    assert set(sites) == {"site-a", "site-b"}
    assert health == [("site-a", "site-a-mirror0"), ("site-b", "site-b-mirror0")]
    assert all(pending(db) == 0 for db in sensors.values())
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def test_a_sensor_with_site_a_certificate_cannot_publish_as_site_b(stack: CentralStack, lab_pcaps: Path) -> None:
    """The server refuses site-a's user on mamori.site-b.*: the violation is seen by the client and in the
    server's log, and nothing reaches the central store."""
    import nats

    from mamori.central import ssl_context
    from mamori.config import CentralSettings

    central = CentralSettings.model_validate(
        {
            "servers": [stack.nats.url],
            "tls": {k: stack.folder / "pki" / f"site-a.{ext}" for k, ext in (("cert", "crt"), ("key", "key"))}
            | {"ca": stack.folder / "pki" / "ca.crt"},
        }
    )
    errors: list[str] = []

    async def attempt() -> tuple[bool, bool]:
        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(
            stack.nats.url,
            tls=ssl_context(central),
            inbox_prefix="_INBOX_site-a",
            error_cb=on_error,
            max_reconnect_attempts=0,
        )
        js = nc.jetstream(timeout=2)
        deadline = time.monotonic() + 30
        while True:  # the consumer just started makes the stream: until then nobody answers
            try:
                own = await js.publish("mamori.site-a.health", b"not json", headers={"Nats-Msg-Id": "site-a:bad-1"})
                break
            except nats.errors.NoRespondersError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        refused = False
        try:
            await js.publish("mamori.site-b.alert", b"{}", headers={"Nats-Msg-Id": "site-b:999999"})
        except Exception:  # no PubAck: the server dropped the message
            refused = True
        await nc.close()
        return refused, own.stream == "MAMORI"

    # the stream exists once a consumer has run (the other test's; else start one briefly)
    consumer = _start(
        "central", "--config", str(stack.central_settings()), "--idle-exit", "3", log=stack.folder / "permission.log"
    )
    try:
        refused, own_accepted = asyncio.run(attempt())
    finally:
        assert _stop(consumer) == 0 or consumer.returncode == 0
    assert refused
    assert own_accepted  # the same connection may publish on its own site's subjects
    assert any("permissions violation" in e.lower() and "mamori.site-b.alert" in e for e in errors), errors
    assert 'Publish Violation - User "CN=site-a", Subject "mamori.site-b.alert"' in stack.nats.log()

    # the same through `mamori publish`: settings saying site-b with site-a's certificate never get an ack
    wrong_db = stack.folder / "wrong.db"
    wrong = stack.sensor_settings("site-b", wrong_db, cert="site-a")
    _analyze(wrong, lab_pcaps / "scan_nmap_sT_1-1000.pcap")
    before = central_alerts(stack, "site-b")
    publisher = subprocess.Popen(
        [MAMORI, "publish", "--config", str(wrong)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(6)
    _stop(publisher)
    _out, err = publisher.communicate()
    assert 'permissions violation for publish to "mamori.site-b.alert"' in err.lower(), err
    assert pending(wrong_db) > 0  # nothing was acknowledged: nothing is lost either
    assert central_alerts(stack, "site-b") == before
    assert not set(sensor_alerts(wrong_db)) & set(central_alerts(stack, "site-b"))


def test_a_hospital_leaf_node_carries_its_sensor_to_the_hub(stack: CentralStack, lab_pcaps: Path) -> None:
    """site-a's box runs a NATS leaf node connected out to the hub with site-a's certificate; the sensor publishes
    to the leaf on loopback; the alerts arrive centrally once, and the leaf's own user still cannot publish as
    site-b."""
    leaf = Nats(stack.folder, free_port(), name="leaf-site-a")
    (stack.folder / "leaf-site-a.conf").write_text(
        leaf_config(stack.folder / "pki", leaf.port, stack.nats.leaf_port, "site-a")
    )
    leaf.start()
    db = stack.folder / "a-leaf.db"
    config = stack.sensor_settings("site-a", db, url=leaf.url)
    wrong_db = stack.folder / "b-leaf.db"
    wrong = stack.sensor_settings("site-b", wrong_db, cert="site-a", url=leaf.url)
    consumer = _start("central", "--config", str(stack.central_settings()), log=stack.folder / "leaf-central.log")
    try:
        wait_until("the leaf node linked to the hub", lambda: "Leafnode connection created" in leaf.log())
        _analyze(config, lab_pcaps / "scan_nmap_sU_1-50.pcap", lab_pcaps / "scan_nmap_sT_1-1000.pcap")
        run_mamori("publish", "--config", str(config), "--until-empty", timeout=60)
        mine = sensor_alerts(db)
        assert mine
        wait_until("the leaf's alerts at the center", lambda: set(mine) <= set(central_alerts(stack, "site-a")))
        central = central_alerts(stack, "site-a")
        assert {uid: central[uid] for uid in mine} == mine
        _analyze(wrong, lab_pcaps / "scan_nmap_sA_1-1000.pcap")
        publisher = subprocess.Popen([MAMORI, "publish", "--config", str(wrong)], stderr=subprocess.PIPE, text=True)
        time.sleep(5)
        _stop(publisher)
        _out, err = publisher.communicate()
        assert 'permissions violation for publish to "mamori.site-b.alert"' in err.lower(), err
        assert not set(sensor_alerts(wrong_db)) & set(central_alerts(stack, "site-b"))
    finally:
        _stop(consumer)
        leaf.stop()


def test_the_central_dashboard_lists_both_sites(stack: CentralStack) -> None:
    with stack.pg.connect() as c:
        sites = {r[0] for r in c.execute("SELECT site FROM mamori_central_site")}
    if sites != {"site-a", "site-b"}:
        pytest.fail(f"run with test_every_alert_arrives_once_through_cuts_and_restarts first (sites: {sites})")
    config = stack.central_settings(web="web: {secret_key_file: web-secret.key}\n")
    add_user(config, "group-admin", "admin", "central-view-test-pw-1")
    dashboard = start_dashboard(config)
    try:
        client = Client(dashboard)
        status, _headers, _body = client.login("group-admin", "central-view-test-pw-1")
        assert status in (200, 302)
        status, _headers, body = client.get("/")
        page = body.decode()
        assert status == 200
        assert 'data-site="site-a"' in page and 'data-site="site-b"' in page
        status, _headers, body = client.get("/alerts/?site=site-a")
        page = body.decode()
        assert status == 200 and 'data-test="site-filter"' in page
        shown = page.count('<td class="nowrap" data-test="site">site-a</td>')
        assert shown > 0 and '<td class="nowrap" data-test="site">site-b</td>' not in page
        assert "10 分間なにも届かない拠点は「無通信」" in client.get("/")[2].decode()  # central.silent_after
    finally:
        dashboard.stop()
    # With a shorter central.silent_after the same sites are shown silent as soon as they are quiet that long.
    config = stack.central_settings(web="web: {secret_key_file: web-secret.key}\n", silent_after="2s")
    dashboard = start_dashboard(config)
    try:
        client = Client(dashboard)
        client.login("group-admin", "central-view-test-pw-1")
        time.sleep(2.5)
        page = client.get("/")[2].decode()
        assert "2 秒間なにも届かない拠点は「無通信」" in page
        assert page.count('data-test="silent"') >= 2, page
    finally:
        dashboard.stop()


def _silent_alerts(stack: CentralStack, key: str) -> list[tuple[str, str, int, dict[str, Any]]]:
    with stack.pg.connect() as c:
        rows = c.execute(
            "SELECT uid, status, count, details FROM mamori_alert WHERE rule = 'sensor-silent' AND key = %s "
            "ORDER BY first_seen",
            [key],
        ).fetchall()
    return [(uid, status, count, details) for uid, status, count, details in rows]


def test_a_silent_sensor_raises_one_alert_centrally_until_it_speaks_again(stack: CentralStack) -> None:
    """A live sensor (site-a, two capture sources whose health it records every half second, published by `mamori
    publish`) and the central consumer with a 4 s silence threshold: a source that stops raises one sensor-silent
    alert, updated at each check and resolved when its health comes again; the publisher killed (-9) makes the
    whole site silent: one alert for the site (not one per source), resolved when the publisher is back."""
    import threading

    db = stack.folder / "a-silent.db"
    config = stack.sensor_settings("site-a", db).rename(stack.folder / "site-a-silent.yaml")
    central_cfg = stack.central_settings(silent_after="4s")
    log = stack.folder / "silent.log"
    speaking = {"ward3": True, "ward5": True}
    halt = threading.Event()

    def sensor() -> None:  # what the live sensor's writer does every batch, per capture source
        from mamori.storage import SensorHealth, Store

        store = Store(db)
        try:
            started = time.time()
            while not halt.wait(0.5):
                now = time.time()
                store.record_health(
                    [
                        SensorHealth(f"site-a-{n}", "interface", started, now, 10, 100, 0, 100, 0, 0)
                        for n, on in speaking.items()
                        if on
                    ]
                )
        finally:
            store.close()

    writer = threading.Thread(target=sensor, daemon=True)
    writer.start()
    publisher = _start("publish", "--config", str(config), log=log)
    central = _start("central", "--config", str(central_cfg), log=log)
    try:
        wait_until("both sources heard centrally", lambda: _health_names(stack) >= {"site-a-ward3", "site-a-ward5"})
        time.sleep(6)  # more than the threshold: nothing of this live sensor is silent
        assert not _silent_alerts(stack, "site-a/site-a-ward3") and not _silent_alerts(stack, "site-a/site-a-ward5")
        # site-a was silent since the first test: an alert raised then is resolved now; none is open
        site_a = _silent_alerts(stack, "site-a")
        assert all(status == "resolved" for _uid, status, _n, _d in site_a), site_a
        # site-b stopped publishing with the first test: one alert for the whole site, none for its source
        if "site-b" in _site_names(stack):
            wait_until("site-b's silence", lambda: len(_silent_alerts(stack, "site-b")) == 1)
            assert not _silent_alerts(stack, "site-b/site-b-mirror0")

        # -- one capture source stops: one alert, updated while it lasts, resolved when it speaks again ----------
        speaking["ward5"] = False
        wait_until("ward5's silence raised", lambda: _silent_alerts(stack, "site-a/site-a-ward5"), timeout=30)
        wait_until("ward5's alert updated", lambda: _silent_alerts(stack, "site-a/site-a-ward5")[0][2] >= 3, timeout=30)
        episodes = _silent_alerts(stack, "site-a/site-a-ward5")
        assert len(episodes) == 1 and episodes[0][1] == "open"
        assert episodes[0][3]["packet_source"] == "site-a-ward5" and episodes[0][3]["threshold_minutes"] == 0.1
        assert not _silent_alerts(stack, "site-a/site-a-ward3") and _silent_alerts(stack, "site-a") == site_a
        speaking["ward5"] = True
        wait_until("ward5's alert resolved", lambda: _silent_alerts(stack, "site-a/site-a-ward5")[0][1] == "resolved")
        time.sleep(3)
        (_uid, status, _count, details), *more = _silent_alerts(stack, "site-a/site-a-ward5")
        assert not more and status == "resolved" and details["resumed_at"]

        # -- the sensor stops publishing (kill -9): one alert for the site, none per source ----------------------
        publisher.kill()
        publisher.wait(10)
        wait_until("site-a's silence raised", lambda: len(_silent_alerts(stack, "site-a")) > len(site_a), timeout=30)
        time.sleep(6)  # several checks
        episodes = _silent_alerts(stack, "site-a")[len(site_a) :]
        assert len(episodes) == 1 and episodes[0][1] == "open" and episodes[0][2] >= 2, episodes
        assert episodes[0][3]["packet_source"] is None
        assert not _silent_alerts(stack, "site-a/site-a-ward3")
        assert len(_silent_alerts(stack, "site-a/site-a-ward5")) == 1  # the resolved one only
        publisher = _start("publish", "--config", str(config), log=log)
        wait_until("site-a's alert resolved", lambda: _silent_alerts(stack, "site-a")[-1][1] == "resolved", timeout=30)
        with stack.pg.connect() as c:
            row = c.execute(
                "SELECT summary_ja, summary_en, origin, site FROM mamori_alert WHERE uid = %s", [episodes[0][0]]
            ).fetchone()
        assert "拠点 site-a からのメッセージが" in row[0] and "再開" in row[0]
        assert row[1].startswith("Site site-a: messages resumed at ") and row[2:] == ("central", "site-a")
    finally:
        halt.set()
        writer.join(10)
        _stop(publisher)
        code = _stop(central)
    assert code == 0, log.read_text(errors="replace")[-3000:]
    assert "Traceback" not in log.read_text(errors="replace")


def _health_names(stack: CentralStack) -> set[str]:
    with stack.pg.connect() as c:
        return {r[0] for r in c.execute("SELECT name FROM mamori_central_sensor")}


def _site_names(stack: CentralStack) -> set[str]:
    with stack.pg.connect() as c:
        return {r[0] for r in c.execute("SELECT site FROM mamori_central_site")}
