"""Benchmark: alerts per second from a sensor's outbox through NATS JetStream into the central PostgreSQL store,
next to bare references measured in the same run, and the outbox's cost on the sensor.

What it measures
    The real parts of tests/integration/central_stack.py: a NATS server (JetStream, mutual TLS, one user per site)
    and a PostgreSQL 15 cluster of their own on loopback, in a temporary folder.

    1. The outbox's overhead on the sensor: N alerts written through ``Store.upsert_alerts`` (the alert writer's
       call) in batches of 500 into a fresh SQLite store, with the outbox disabled and then enabled (the triggers
       write one outbox row per alert in the same transaction): microseconds per alert each.
    2. ``mamori publish --until-empty`` of those N alerts (their outbox), with no consumer running: the publisher's
       rate (read the outbox, publish with message ids, wait for the PubAcks, delete the acknowledged rows).
    3. ``mamori central --idle-exit`` draining the stream into PostgreSQL: the consumer's rate, and from its own
       figures the batches committed per second and the time inside the transactions.
    4. End to end: another N alerts, publisher and consumer running together: first write to last row central.
    References, same machine, same run:
       a. bare NATS: nats-py publishing the same message bodies to JetStream (256 in flight, PubAcks awaited) and a
          bare pull consumer fetching and acknowledging them (no database on either side);
       b. bare PostgreSQL: psycopg ``COPY`` of the same rows (taken back from the central table) into a plain table
          with the same columns and indexes, and the same rows as multi-row ``INSERT`` statements of 500.

    With ``--cluster`` the same on a cluster of three nats-server (routes with mutual TLS on loopback) with the
    stream replicated on all three (``central.replicas: 3``), the bare NATS reference's stream too: what R3 costs.

How to run
    . .venv/bin/activate
    python benchmarks/bench_central.py              # 20,000 alerts
    python benchmarks/bench_central.py --alerts 50000 --batch 500
    python benchmarks/bench_central.py --cluster    # three nodes, R3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.central_stack import CENTRAL_USER, CentralStack, start_cluster, start_stack  # noqa: E402

MAMORI = str(Path(sys.executable).with_name("mamori"))


def _alerts(n: int, start: float) -> list:
    from mamori.model import Alert, Severity

    return [
        Alert(
            uid=uuid.uuid4().hex,
            rule="port-scan" if i % 3 else "unregistered-terminal",
            key=f"10.231.{i // 250 % 250}.{i % 250}",
            severity=Severity.HIGH,
            first_seen=start - 86400 * (i % 40),  # two months: rows go to two monthly partitions
            last_seen=start,
            count=i + 1,
            src_ip=f"10.231.{i // 250 % 250}.{i % 250}",
            src_mac=f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}",
            dst_ip="10.231.0.2",
            dst_port=6000,
            system="透析システム",
            samples=({"ts": start, "src_ip": "10.231.0.9", "dst_port": 6000 + k} for k in range(5)),
        )
        for i in range(n)
    ]


def _write(db: Path, alerts: list, *, outbox_site: str | None) -> float:
    """Seconds to write ``alerts`` through the store in batches of 500 (the outbox enabled for ``outbox_site``)."""
    from mamori.storage import Store
    from mamori.storage.outbox import Outbox

    store = Store(db)
    if outbox_site is not None:
        Outbox(store).enable(outbox_site)
    started = time.perf_counter()
    for i in range(0, len(alerts), 500):
        store.upsert_alerts(alerts[i : i + 500])
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def _central_count(stack: CentralStack, site: str) -> int:
    with stack.pg.connect() as c:
        return int(c.execute("SELECT COUNT(*) FROM mamori_alert WHERE site = %s", [site]).fetchone()[0])


def _run(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([MAMORI, *args], capture_output=True, text=True, timeout=1800, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"mamori {args[0]} exited {result.returncode}: {result.stderr[-2000:]}")
    return elapsed, result.stdout


async def _bare_nats(stack: CentralStack, bodies: list[bytes]) -> tuple[float, float]:
    """Seconds to publish ``bodies`` to JetStream with acks (256 in flight), and to fetch and ack them back."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

    from mamori.central import ssl_context
    from mamori.config import CentralSettings

    pki = stack.folder / "pki"
    settings = CentralSettings.model_validate(
        {
            "servers": stack.servers,
            "tls": {"ca": pki / "ca.crt", "cert": pki / f"{CENTRAL_USER}.crt", "key": pki / f"{CENTRAL_USER}.key"},
        }
    )
    nc = await nats.connect(stack.servers, tls=ssl_context(settings))
    js = nc.jetstream(timeout=10)
    await js.add_stream(
        StreamConfig(name="BARE", subjects=["bare.>"], duplicate_window=7200, num_replicas=stack.replicas)
    )
    started = time.perf_counter()
    for i in range(0, len(bodies), 256):
        chunk = bodies[i : i + 256]
        await asyncio.gather(
            *(js.publish("bare.x", b, headers={"Nats-Msg-Id": f"bare:{i + k}"}) for k, b in enumerate(chunk))
        )
    published = time.perf_counter() - started
    psub = await js.pull_subscribe(
        "bare.>", durable="bare", stream="BARE", config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
    )
    started, got = time.perf_counter(), 0
    while got < len(bodies):
        msgs = await psub.fetch(256, timeout=5)
        for m in msgs:
            await m.ack()
        got += len(msgs)
    await nc.flush()
    consumed = time.perf_counter() - started
    await nc.close()
    return published, consumed


def _bare_postgres(stack: CentralStack, site: str) -> tuple[int, float, float]:
    """The central rows of ``site`` copied back out, then written with COPY and with multi-row INSERTs into a plain
    table with the same columns and indexes: (rows, COPY seconds, INSERT seconds)."""
    with stack.pg.connect() as c:
        c.execute("DROP TABLE IF EXISTS bench_copy")
        c.execute("CREATE TABLE bench_copy (LIKE mamori_alert INCLUDING DEFAULTS INCLUDING INDEXES)")
        data = bytearray()
        with c.cursor().copy("COPY (SELECT * FROM mamori_alert WHERE site = %s) TO STDOUT", [site]) as copy:
            for chunk in copy:
                data += chunk
        started = time.perf_counter()
        with c.transaction(), c.cursor().copy("COPY bench_copy FROM STDIN") as copy:
            copy.write(bytes(data))
        copied = time.perf_counter() - started
        rows = c.execute("SELECT * FROM bench_copy").fetchall()
        c.execute("TRUNCATE bench_copy")
        columns = len(rows[0])
        started = time.perf_counter()
        with c.transaction():
            for i in range(0, len(rows), 500):
                chunk = rows[i : i + 500]
                values = ", ".join(["(" + ", ".join(["%s"] * columns) + ")"] * len(chunk))
                params = [_adapt(v) for row in chunk for v in row]
                c.execute(f"INSERT INTO bench_copy VALUES {values}", params)  # noqa: S608 - placeholders only
        inserted = time.perf_counter() - started
        c.execute("DROP TABLE bench_copy")
    return len(rows), copied, inserted


def _adapt(value: object) -> object:
    from psycopg.types.json import Jsonb

    return Jsonb(value) if isinstance(value, dict | list) else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=256, help="messages per central transaction")
    parser.add_argument("--cluster", action="store_true", help="three NATS servers, the stream replicated on all")
    args = parser.parse_args()
    n = args.alerts

    import logging

    from mamori.storage.setup import configure_django

    logging.getLogger("asyncio").setLevel(logging.ERROR)  # nats-py's TLS close note, not a result

    folder = Path(tempfile.mkdtemp(prefix="mamori-bench-central-"))
    configure_django(folder / "default.db")
    sites = ("bench", "bench-e2e")
    stack = start_cluster(folder, sites) if args.cluster else start_stack(folder, sites)
    print(f"NATS: {len(stack.nodes) or 1} server(s), the stream on {stack.replicas}")
    try:
        central_cfg = stack.central_settings(batch=args.batch)
        sensor_cfg = stack.sensor_settings("bench", folder / "sensor.db")
        e2e_cfg = stack.sensor_settings("bench-e2e", folder / "sensor-e2e.db")
        now = time.time()

        # 1. the outbox's cost on the sensor
        plain = _write(folder / "plain.db", _alerts(n, now), outbox_site=None)
        with_outbox = _write(folder / "sensor.db", _alerts(n, now), outbox_site="bench")
        print(f"sensor store, {n} alerts in batches of 500:")
        print(
            f"  without outbox {plain / n * 1e6:8.1f} µs/alert   with outbox {with_outbox / n * 1e6:8.1f} µs/alert"
            f"   overhead {(with_outbox - plain) / n * 1e6:+.1f} µs/alert ({(with_outbox / plain - 1) * 100:+.0f} %)"
        )

        # the stream and the durable consumer exist before anything is published
        _run("central", "--config", str(central_cfg), "--idle-exit", "1")

        # 2. the publisher alone, 3. the consumer alone
        publish_s, _ = _run("publish", "--config", str(sensor_cfg), "--until-empty")
        consume_s, out = _run("central", "--config", str(central_cfg), "--idle-exit", "2")
        stats = json.loads(out.strip().splitlines()[-1])
        assert _central_count(stack, "bench") == n, "not every alert arrived"
        consume_s -= 2.0  # the idle wait before it exits
        print(f"mamori publish --until-empty: {n / publish_s:9.0f} alerts/s ({publish_s:.2f} s, start-up included)")
        print(
            f"mamori central (drain):       {n / consume_s:9.0f} alerts/s ({consume_s:.2f} s, start-up included);"
            f" {stats['batches']} batches of up to {args.batch}: {stats['batches'] / stats['commit_seconds']:.0f}"
            f" commits/s, {stats['messages'] / stats['commit_seconds']:.0f} messages/s inside the transactions"
        )

        # 4. end to end, both running
        from mamori.storage import Store

        store = Store(folder / "sensor-e2e.db")
        from mamori.storage.outbox import Outbox

        Outbox(store).enable("bench-e2e")
        store.close()
        log = (folder / "e2e.log").open("wb")
        consumer = subprocess.Popen([MAMORI, "central", "--config", str(central_cfg)], stdout=log, stderr=log)
        publisher = subprocess.Popen([MAMORI, "publish", "--config", str(e2e_cfg)], stdout=log, stderr=log)
        time.sleep(3)  # both connected
        started = time.perf_counter()
        write_s = _write(folder / "sensor-e2e.db", _alerts(n, now), outbox_site="bench-e2e")
        while _central_count(stack, "bench-e2e") < n:
            time.sleep(0.05)
        e2e = time.perf_counter() - started
        for proc in (publisher, consumer):
            proc.terminate()
            proc.wait(30)
        print(
            f"end to end (written at the sensor -> committed centrally): {n / e2e:9.0f} alerts/s ({e2e:.2f} s;"
            f" the sensor's writes took {write_s:.2f} s of it)"
        )

        # references
        bodies = []
        from mamori.central.messages import encode
        from mamori.storage.outbox import OutboxItem

        with stack.pg.connect() as c:
            rows = c.execute(
                "SELECT uid, rule, key, severity, first_seen, last_seen, count, src_ip, samples, details FROM "
                "mamori_alert WHERE site = 'bench'"
            ).fetchall()
        names = ("uid", "rule", "key", "severity", "first_seen", "last_seen", "count", "src_ip", "samples", "details")
        for seq, row in enumerate(rows, 1):
            bodies.append(encode("bench", OutboxItem(seq, "alert", row[0], dict(zip(names, row, strict=True)))))
        pub, sub = asyncio.run(_bare_nats(stack, bodies))
        print(
            f"reference, bare NATS (nats-py, same bodies, {sum(map(len, bodies)) / len(bodies):.0f} bytes avg): "
            f"publish+ack {n / pub:9.0f} msg/s, fetch+ack {n / sub:9.0f} msg/s"
        )
        rows_n, copy_s, insert_s = _bare_postgres(stack, "bench")
        print(
            f"reference, bare PostgreSQL (same {rows_n} rows, same indexes, unpartitioned): COPY {rows_n / copy_s:9.0f}"
            f" rows/s, INSERT of 500 {rows_n / insert_s:9.0f} rows/s"
        )
    finally:
        stack.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
