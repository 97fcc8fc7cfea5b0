"""Remote maintenance seen on the wire: a vendor's real TCP connections through a routed network in namespaces this
test makes (names prefixed ``i12f``), mirrored to `mamori watch`, judged against work plans written relative to now
(the sensor's real clock, Asia/Tokyo).

    vendors 203.0.113.7 / .8 / .9 ── router (nftables lets the vendors in) ── 電子カルテ 10.61.1.10 (3389, 445)
                                        └ mirror ─ sensor namespace: `mamori watch`

- 透析装置メーカー (203.0.113.7) inside its plan (now, 10.61.1.10, RDP): no alert; the session is recorded and its
  work report lists it with its ticket, "as planned".
- 画像装置メーカー (203.0.113.8), whose only window was two days ago: exactly one remote-maintenance alert for the
  session (outside every window), however many connections it made.
- 検査装置メーカー (203.0.113.9), in its window but to a computer its plan does not list: exactly one alert (target).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.dashboard import Client, add_user, start_dashboard
from tests.integration.test_zones_netns import HSZ, Network, routed_network, settings, watching, zone_alerts

pytestmark = [pytest.mark.netns, pytest.mark.slow]

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
IN_PLAN, OUT_OF_WINDOW, WRONG_TARGET = "203.0.113.7", "203.0.113.8", "203.0.113.9"
ADMIN = ("kanri", "Kanri-pass-2026!")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, TOKYO).isoformat(timespec="minutes")


def _vendors(now: float) -> str:
    return (
        "site: {name: 保守の病院, time_zone: Asia/Tokyo}\n"
        "vendors:\n"
        "  - name: 透析装置メーカー\n"
        f"    sources: [{IN_PLAN}]\n"
        f"    devices: [{HSZ}]\n"
        "    work_plans:\n"
        f"      - {{start: '{_iso(now - 3600)}', end: '{_iso(now + 7200)}', targets: [{HSZ}], ports: [3389],\n"
        '         ticket: "作業計画 i12f-1"}\n'
        "  - name: 画像装置メーカー\n"
        f"    sources: [{OUT_OF_WINDOW}]\n"
        "    work_plans:\n"
        f"      - {{start: '{_iso(now - 2 * 86400)}', end: '{_iso(now - 2 * 86400 + 7200)}'}}\n"
        "  - name: 検査装置メーカー\n"
        f"    sources: [{WRONG_TARGET}]\n"
        "    devices: [10.61.4.40]\n"
        "    work_plans:\n"
        f"      - {{start: '{_iso(now - 3600)}', end: '{_iso(now + 7200)}', targets: [10.61.4.40], ports: [445]}}\n"
    )


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    with routed_network("i12f") as net:
        for address in (OUT_OF_WINDOW, WRONG_TARGET):
            net.run(net.ns("out"), "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        # The firewall lets the vendors' maintenance line in (the zone test's ruleset refuses the outside).
        net.run(
            net.router,
            *("nft", "insert", "rule", "inet", "mamori_test", "forward", "ip", "saddr", "203.0.113.0/24"),
            *("tcp", "dport", "{ 445, 3389 }", "accept"),
        )
        yield net


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_vendor_connections_on_the_wire_are_judged_against_their_plans(network: Network, tmp_path: Path) -> None:
    config = settings(tmp_path, _vendors(time.time()))
    with watching(network, config):
        outcomes = [network.connect("out", IN_PLAN, HSZ, 3389) for _ in range(3)]
        outcomes += [network.connect("out", OUT_OF_WINDOW, HSZ, 3389) for _ in range(4)]
        outcomes += [network.connect("out", WRONG_TARGET, HSZ, 445) for _ in range(3)]
        assert outcomes == ["open"] * 10  # real connections, answered: the vendors got in
        time.sleep(1.5)
    alerts = [a for a in zone_alerts(config) if a["rule"] == "remote-maintenance"]
    found = sorted((a["vendor"], tuple(a["differences"]), a["src_ip"], a["dst_ip"], a["count"]) for a in alerts)
    assert found == [
        ("検査装置メーカー", ("target",), WRONG_TARGET, HSZ, 3),
        ("画像装置メーカー", ("outside-window",), OUT_OF_WINDOW, HSZ, 4),
    ], [a["summary_en"] for a in alerts]
    by_vendor = {a["vendor"]: a for a in alerts}
    assert "画像装置メーカー" in by_vendor["画像装置メーカー"]["summary_ja"]
    assert "outside" in by_vendor["画像装置メーカー"]["summary_en"]

    db = tmp_path / "m.db"
    sessions = _rows(
        db,
        "SELECT vendor, differences, targets, ports, via, ticket, connections, alert_uid FROM "
        "mamori_maintenance_session ORDER BY vendor",
    )
    recorded = {s[0]: s for s in sessions}
    assert set(recorded) == {"透析装置メーカー", "画像装置メーカー", "検査装置メーカー"}
    inside = recorded["透析装置メーカー"]
    assert json.loads(str(inside[1])) == [] and json.loads(str(inside[2])) == [HSZ]
    assert json.loads(str(inside[3])) == [3389] and json.loads(str(inside[4])) == ["wire"]
    assert inside[5] == "作業計画 i12f-1" and inside[6] == 3 and not inside[7]  # recorded, no alert
    assert recorded["画像装置メーカー"][7] == by_vendor["画像装置メーカー"]["uid"]

    # The work report (the page the person in charge reads) and the month's access list show the session.
    add_user(config, ADMIN[0], "admin", ADMIN[1])
    server = start_dashboard(config)
    try:
        client = Client(server)
        status, _headers, _body = client.login(*ADMIN)
        assert status == 302
        status, _headers, body = client.get("/maintenance/")
        page = body.decode()
        assert status == 200
        assert "作業計画 i12f-1" in page and "計画どおり" in page and "透析装置メーカー" in page
        assert "作業計画の時間外" in page and "計画にない接続先" in page
        status, _headers, body = client.get("/maintenance/access/?format=csv")
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        assert status == 200 and len(rows) == 1 + 3
        assert {r[2] for r in rows[1:]} == {"透析装置メーカー", "画像装置メーカー", "検査装置メーカー"}
    finally:
        server.stop()
