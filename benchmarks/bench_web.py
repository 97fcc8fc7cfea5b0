"""Benchmark: the dashboard's overview and filtered alert list over a million alerts, through the real server.

What it measures
    A settings file and a SQLite database in a work folder, filled with N alerts (default 1,000,000) spread over
    90 days the way a busy site would see them: rules and severities in realistic proportions (mostly
    unregistered terminals and port scans, a few critical ARP spoofs), eight department systems, a few thousand
    source MACs and IPs, most alerts handled (resolved, acknowledged, false positive), some still open. They are
    written through Django's ORM (``bulk_create`` in batches of 5,000) and the hourly roll-up the overview's chart
    reads (``AlertHourly``) is filled from the same rows.

    Then the installed ``mamori web`` serves that database; a client logs in and sends, over one keep-alive
    connection, R requests (default 200) to each page: the overview ``/``, the alert list unfiltered and with
    filters (rule + severity + system, one terminal's MAC, a week's time window, open criticals), and the
    overview's JSON API. It prints p50/p95/max per page next to two references measured in the same run: a
    static file served by the same server (the floor of the server's own overhead) and Python's sqlite3
    answering the list's COUNT query directly (the floor of the database work for the filtered list).

    Goal: p95 under 300 ms for the overview and every filtered list. With ``--explain`` the SQL of each page
    (as the dashboard's own query code builds it) is timed in-process and its EXPLAIN QUERY PLAN printed, to tell
    which query is slow and which index it lacks.

How to run
    . .venv/bin/activate
    python benchmarks/bench_web.py                         # 1,000,000 alerts in /tmp/mamori-bench-web
    python benchmarks/bench_web.py --alerts 200000 --requests 100 --explain

The database is generated once and reused by later runs with the same ``--alerts`` (``--regenerate`` rebuilds it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html.parser
import http.client
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MAMORI = str(Path(sys.executable).with_name("mamori"))
DEFAULT_WORKDIR = Path("/tmp/mamori-bench-web")
GENERATOR_VERSION = 2
GOAL_MS = 300.0
BATCH = 5_000
DAYS = 90
USER, PASSWORD = "bench", "Bench-pass-2026!"

SYSTEMS = ("電子カルテ", "PACS", "検査システム", "透析システム", "薬剤システム", "医事会計", "給食システム", "リハビリ")
# rule -> (share of the alerts, severities it raises)
LOW, MEDIUM, HIGH, CRITICAL = 20, 30, 40, 50  # mamori.model.Severity
RULES = {
    "unregistered-terminal": (0.38, (HIGH, HIGH, HIGH, CRITICAL)),
    "port-scan": (0.22, (HIGH, HIGH, MEDIUM)),
    "syn-flood": (0.05, (HIGH, CRITICAL)),
    "ip-mac-conflict": (0.03, (CRITICAL,)),
    "brute-force": (0.12, (HIGH, MEDIUM)),
    "rdp-logon": (0.08, (MEDIUM, LOW)),
    "logon-after-failures": (0.05, (HIGH,)),
    "account-change": (0.04, (MEDIUM, LOW)),
    "service-installed": (0.03, (MEDIUM,)),
}
STATUSES = (("resolved", 0.70), ("acknowledged", 0.08), ("false_positive", 0.07), ("open", 0.15))
SUMMARY_JA = {
    "unregistered-terminal": "未登録端末 {ip} ({mac}) が {system} ({dst}:443) に接続しようとしました。{n} 回",
    "port-scan": "ポートスキャン（SYN スキャン）: {ip} が {dst} の {n} ポートを調べています。（{system}）",
    "syn-flood": "SYN フラッド: {dst} に SYN が {n} 件、送信元 IP は 2000 個以上（偽装の疑い）（{system}）",
    "ip-mac-conflict": "ARP 詐称の疑い: 登録済みルータ core-router の IP {dst} を MAC {mac} が名乗っています。{n} 回",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_settings(folder: Path) -> Path:
    lines = [
        "# bench_web.py: a site of eight department systems",
        "site: {name: ベンチマーク病院}",
        "storage: {path: mamori.db}",
        "web: {secret_key_file: web-secret.key}",
        "gateways:",
        '  - {name: core-router, mac: "02:10:00:00:00:01", ip: 192.168.0.1}',
        "systems:",
    ]
    for i, name in enumerate(SYSTEMS, 1):
        lines += [
            f"  - name: {name}",
            f'    servers: [{{ip: 192.168.{i}.10, mac: "02:10:00:00:{i:02x}:10"}}]',
            "    ports: [443]",
            "    terminals:",
            *[
                f'      - {{name: 端末-{i}-{t}, mac: "02:10:00:{i:02x}:00:{t:02x}", ip: 192.168.{i}.{100 + t}}}'
                for t in range(1, 6)
            ],
        ]
    path = folder / "site.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    x = rng.random()
    for value, share in weighted:
        x -= share
        if x <= 0:
            return value
    return weighted[-1][0]


def load(settings_path: Path, count: int, now: dt.datetime) -> dict[str, Any]:
    """Fill the database through Django's ORM; returns facts the requests use (a busy MAC, the systems)."""
    from mamori.cli.compose import compose_dashboard
    from mamori.config import load_settings

    compose_dashboard(load_settings(settings_path))  # Django once, as `mamori web` configures it
    from django.db import connection, transaction

    from mamori.storage.models import AlertHourly, AlertRecord, SensorHour, SensorStatus

    rng = random.Random(2026)
    rules = [(rule, share) for rule, (share, _sev) in RULES.items()]
    macs = [f"02:66:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}:{rng.randrange(256):02x}" for i in range(3000)]
    ips = [f"10.{rng.randrange(1, 250)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(2000)]
    start = now - dt.timedelta(days=DAYS)
    span = DAYS * 86400.0
    hourly: dict[tuple[dt.datetime, str, int], int] = {}
    began = time.perf_counter()
    made = 0
    uid_base = rng.getrandbits(64)
    while made < count:
        rows = []
        for _ in range(min(BATCH, count - made)):
            rule = _pick(rng, rules)
            severity = rng.choice(RULES[rule][1])
            system = rng.choice(SYSTEMS) if rule != "ip-mac-conflict" else None
            device = int(rng.paretovariate(1.2)) % len(macs)  # a few noisy devices, a long tail
            mac = macs[device]
            ip = ips[device % len(ips)] if rng.random() < 0.9 else rng.choice(ips)
            offset = span * (made + len(rows)) / count + rng.random() * 60  # in time order, as they come
            first = start + dt.timedelta(seconds=offset)
            last = first + dt.timedelta(seconds=rng.expovariate(1 / 600))
            n = int(rng.expovariate(1 / 50)) + 1
            status = _pick(rng, STATUSES) if first < now - dt.timedelta(days=2) else "open"
            dst = f"192.168.{SYSTEMS.index(system) + 1 if system else 0}.10"
            summary = SUMMARY_JA.get(rule, "{rule}: {ip} → {dst}（{system}）{n} 件").format(
                ip=ip, mac=mac, system=system or "–", dst=dst, n=n, rule=rule
            )
            rows.append(
                AlertRecord(
                    uid=f"{uid_base + made + len(rows):032x}",
                    rule=rule,
                    key=f"{rule}|{mac}|{system}",
                    severity=severity,
                    first_seen=first,
                    last_seen=last,
                    count=n,
                    src_mac=mac if rule not in ("brute-force", "rdp-logon", "account-change") else None,
                    src_ip=ip,
                    dst_ip=dst,
                    dst_port=443,
                    system=system,
                    summary_ja=summary,
                    summary_en=f"{rule} from {ip} to {dst} ({n} times)",
                    details={"reason": "unregistered-mac", "ports": [443, 8443][: 1 + n % 2], "count": n},
                    samples=[
                        {
                            "ts": first.timestamp() + i,
                            "kind": "attempt",
                            "proto": "tcp",
                            "src_ip": ip,
                            "src_mac": mac,
                            "dst_ip": dst,
                            "dst_port": 443,
                            "flags": "S",
                        }
                        for i in range(3)
                    ],
                    origin="sensor",
                    status=status,
                    status_by="kanri" if status != "open" else "",
                    status_changed_at=last + dt.timedelta(hours=2) if status != "open" else None,
                )
            )
            hour = first.replace(minute=0, second=0, microsecond=0)
            hourly[(hour, rule, severity)] = hourly.get((hour, rule, severity), 0) + 1
        with transaction.atomic():
            AlertRecord.objects.bulk_create(rows, batch_size=BATCH)
        made += len(rows)
        if made % 100_000 == 0 or made == count:
            rate = made / (time.perf_counter() - began)
            print(f"  {made:>9,} alerts written ({rate:,.0f}/s)", flush=True)
    with transaction.atomic():
        AlertHourly.objects.bulk_create(
            [AlertHourly(hour=h, rule=r, severity=s, count=n) for (h, r, s), n in hourly.items()], batch_size=BATCH
        )
        hours = [start.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=i) for i in range(DAYS * 24)]
        SensorHour.objects.bulk_create([SensorHour(name="eth1", hour=h) for h in hours], batch_size=BATCH)
        SensorStatus.objects.create(
            name="eth1",
            kind="interface",
            started_at=start,
            updated_at=now,
            last_packet=now,
            matched=10**9,
            decoded=10**9,
            received=10**9,
        )
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    busy = (
        connection.cursor()
        .execute(
            "SELECT src_mac, count(*) FROM mamori_alert WHERE src_mac IS NOT NULL GROUP BY src_mac ORDER BY 2 DESC"
        )
        .fetchall()
    )
    return {"busy_mac": busy[len(busy) // 20][0], "busy_mac_alerts": busy[len(busy) // 20][1]}


class _Inputs(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name"):
            self.fields.setdefault(str(values["name"]), values.get("value") or "")


class Session:
    """One keep-alive HTTP connection with the cookies it was given."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        content = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.strip().partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, content, response.headers

    def login(self) -> None:
        _status, page, _headers = self.request("GET", "/login/")
        parser = _Inputs()
        parser.feed(page.decode())
        token = parser.fields.get("csrfmiddlewaretoken") or parser.fields.get("csrf_token", "")
        status, _body, _headers = self.request(
            "POST",
            "/login/",
            {"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token, "csrf_token": token},
        )
        if status != 302:
            raise SystemExit(f"login failed ({status})")


def measure(session: Session, path: str, requests: int) -> tuple[list[float], int]:
    for _ in range(3):  # warm up: templates compiled, pages of the database in the cache
        status, body, _headers = session.request("GET", path)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}: {body[:300]!r}")
    times = []
    size = 0
    for _ in range(requests):
        began = time.perf_counter()
        _status, body, _headers = session.request("GET", path)
        times.append((time.perf_counter() - began) * 1000)
        size = len(body)
    return times, size


def measure_sql(database: Path, sql: str, args: Sequence[Any], requests: int) -> list[float]:
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    times = []
    for i in range(requests + 3):
        began = time.perf_counter()
        db.execute(sql, args).fetchall()
        if i >= 3:
            times.append((time.perf_counter() - began) * 1000)
    db.close()
    return times


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def explain(settings_path: Path, pages: dict[str, str]) -> None:
    """Time each query the overview and the list run, in this process, and print its plan."""
    from mamori.cli.compose import compose_dashboard
    from mamori.config import load_settings

    compose_dashboard(load_settings(settings_path))
    from django.db import connection, reset_queries
    from django.http import QueryDict
    from django.test.utils import CaptureQueriesContext

    from mamori.web.queries import AlertQuery, overview

    def report(title: str, run: Any) -> None:
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            run()
            total = (time.perf_counter() - began) * 1000
        print(f"\n{title}: {total:.0f} ms, {len(captured.captured_queries)} queries")
        for q in captured.captured_queries:
            sql = q["sql"]
            with connection.cursor() as cursor:
                began = time.perf_counter()
                cursor.execute(sql)
                cursor.fetchall()
                ms = (time.perf_counter() - began) * 1000
                plan = cursor.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            print(f"  {ms:7.1f} ms  {sql[:220]}{'…' if len(sql) > 220 else ''}")
            for row in plan:
                print(f"             plan: {row[-1]}")

    report("overview", overview)
    for name, path in pages.items():
        if not path.startswith("/alerts/"):
            continue
        params = QueryDict(path.partition("?")[2])

        def page(params: QueryDict = params) -> None:
            qs = AlertQuery.from_params(params).queryset()
            qs.count()
            list(qs[:50])

        report(f"alert list {name} ({path})", page)


def prepare(folder: Path, site: Path, alerts: int, regenerate: bool) -> dict[str, Any]:
    """The database of ``alerts`` alerts (made once, reused) and the benchmark's account; returns its facts."""
    stamp = folder / "generated.json"
    if stamp.exists() and not regenerate:
        facts: dict[str, Any] = json.loads(stamp.read_text())
        if facts.get("version") == GENERATOR_VERSION:
            return facts
    for suffix in ("", "-wal", "-shm"):
        (folder / f"mamori.db{suffix}").unlink(missing_ok=True)
    now = dt.datetime.now(tz=dt.UTC).replace(microsecond=0)
    print(f"loading {alerts:,} alerts over {DAYS} days into {folder / 'mamori.db'} ...", flush=True)
    began = time.perf_counter()
    # In a child process: the loader configures Django for itself; this process stays a plain HTTP client.
    code = (
        "import json, sys, datetime as dt; sys.path.insert(0, sys.argv[1]); import bench_web as b; "
        "print(json.dumps(b.load(__import__('pathlib').Path(sys.argv[2]), int(sys.argv[3]), "
        "dt.datetime.fromisoformat(sys.argv[4]))))"
    )
    argv = [sys.executable, "-c", code, str(Path(__file__).parent), str(site), str(alerts), now.isoformat()]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        lines = []
        for line in child.stdout:
            lines.append(line)
            if not line.startswith("{"):
                print(line, end="", flush=True)
    if child.returncode != 0:
        raise SystemExit(f"loading failed ({child.returncode})")
    facts = {**json.loads(lines[-1]), "version": GENERATOR_VERSION, "now": now.isoformat()}
    print(f"loaded in {time.perf_counter() - began:.0f} s")
    user = subprocess.run(
        [MAMORI, "user", "add", "--config", str(site), USER, "--role", "admin"],
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        check=False,
    )
    if user.returncode != 0:
        raise SystemExit(user.stderr)
    stamp.write_text(json.dumps(facts))
    return facts


Result = tuple[str, str, list[float], int]  # name, path, milliseconds per request, size of the answer


def serve_and_measure(folder: Path, site: Path, pages: dict[str, str], requests: int) -> list[Result]:
    """Start ``mamori web`` on the database, log in, and time ``requests`` GETs of each page (and a static file)."""
    port = free_port()
    log = folder / "web.log"
    with log.open("wb") as out_log:
        server = subprocess.Popen(
            [MAMORI, "web", "--config", str(site), "--listen", f"127.0.0.1:{port}"],
            stdout=out_log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"mamori web did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        session = Session(port)
        session.login()
        static = "/static/mamori/mamori.css"
        results: list[Result] = [("reference: static file, same server", static, *measure(session, static, requests))]
        for name, path in pages.items():
            print(f"measuring {name} ...", flush=True)
            results.append((name, path, *measure(session, path, requests)))
        return results
    finally:
        server.terminate()
        server.wait(10)


def sql_references(database: Path, mac: str, week: dt.date, requests: int) -> list[tuple[str, list[float]]]:
    """The database's own floor for the filtered lists: their COUNT(*), asked directly through sqlite3."""

    def stamp(day: dt.date) -> str:
        return f"{day} 00:00:00"  # Django's text form of a UTC datetime in SQLite

    count = "SELECT count(*) FROM mamori_alert"
    queries: dict[str, tuple[str, tuple[object, ...]]] = {
        "list": (count, ()),
        "rule+severity+system": (f"{count} WHERE rule = ? AND severity >= 40 AND system = ?", ("port-scan", SCANNED)),
        "terminal": (f"{count} WHERE src_mac = ? OR src_ip = ?", (mac, mac)),
        "one week": (f"{count} WHERE last_seen >= ? AND first_seen < ?", (stamp(week), stamp(week + WEEK))),
    }
    return [
        (f"reference: sqlite3 COUNT, {name}", measure_sql(database, sql, args, requests))
        for name, (sql, args) in queries.items()
    ]


def print_table(results: list[Result], references: list[tuple[str, list[float]]], requests: int) -> list[str]:
    """The figures; returns the pages over the goal."""
    print(f"\n{requests} requests per page over one keep-alive connection; goal: p95 < {GOAL_MS:.0f} ms")
    print(f"{'page':44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KB':>6}  goal")
    failed = []
    for name, path, times, size in results:
        p95 = percentile(times, 95)
        verdict = "" if name.startswith("reference") else ("ok" if p95 < GOAL_MS else "SLOW")
        if verdict == "SLOW":
            failed.append(f"{name} ({path})")
        print(f"{name:44} {percentile(times, 50):8.1f} {p95:8.1f} {max(times):8.1f} {size / 1024:6.0f}  {verdict}")
    for name, times in references:
        print(f"{name:44} {percentile(times, 50):8.1f} {percentile(times, 95):8.1f} {max(times):8.1f}")
    return failed


SCANNED = "検査システム"
WEEK = dt.timedelta(days=7)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per page (default 200)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--regenerate", action="store_true", help="rebuild the database even if it exists")
    parser.add_argument("--explain", action="store_true", help="time each page's SQL and print its query plan")
    args = parser.parse_args(argv)

    folder = args.workdir / f"alerts-{args.alerts}"
    folder.mkdir(parents=True, exist_ok=True)
    site = write_settings(folder)
    facts = prepare(folder, site, args.alerts, args.regenerate)
    size = sum(p.stat().st_size for p in folder.glob("mamori.db*"))
    with sqlite3.connect(folder / "mamori.db") as db:
        (total,) = db.execute("SELECT count(*) FROM mamori_alert").fetchone()
        (hourly,) = db.execute("SELECT count(*) FROM mamori_alert_hourly").fetchone()
    print(f"database: {total:,} alerts, {hourly:,} hourly roll-up rows, {size / 1e6:,.0f} MB")

    week = (dt.datetime.fromisoformat(facts["now"]) - dt.timedelta(days=40)).date()
    mac = facts["busy_mac"]
    pages = {
        "overview": "/",
        "list": "/alerts/",
        "rule+severity+system": "/alerts/?rule=port-scan&severity=high&system=" + urllib.parse.quote(SCANNED),
        "terminal": f"/alerts/?terminal={mac}",
        "one week": f"/alerts/?since={week}&until={week + WEEK - dt.timedelta(days=1)}",
        "open critical": "/alerts/?status=open&severity=critical",
        "overview API": "/api/overview/",
    }
    results = serve_and_measure(folder, site, pages, args.requests)
    failed = print_table(results, sql_references(folder / "mamori.db", mac, week, args.requests), args.requests)
    median = statistics.median(t for _n, _p, times, _s in results for t in times)
    print(
        f"\n(terminal filter: {mac}, in {facts['busy_mac_alerts']:,} alerts; one week from {week}; load average "
        f"{os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; median of all requests {median:.1f} ms)"
    )
    if failed:
        print("over the goal: " + ", ".join(failed))
    if args.explain:
        explain(site, pages)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
