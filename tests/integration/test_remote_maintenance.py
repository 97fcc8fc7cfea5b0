"""Remote maintenance end to end through the installed ``mamori`` command: real RTX, FortiGate and ASA VPN lines
over syslog (UDP and TCP on loopback) to ``mamori collect``; Windows logons of vendor accounts in an .evtx through
``mamori evtx``; then the work report in a real browser (ja, en; screenshots), its PDF read back with pdftotext,
and the month's remote-access list as CSV.

Each case gives exactly the alerts it should: the vendor inside its plan none (but its session is in the report),
the vendor outside its window one, the vendor with no plan one, the logon to a computer the plan does not list one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import socket
import sqlite3
import subprocess
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mamori.testing.evtx_writer import write_evtx
from mamori.testing.winevents import logon
from tests.integration.browser import SCREENSHOTS, log_in, open_page
from tests.integration.conftest import run_mamori
from tests.integration.dashboard import add_user, start_dashboard
from tests.integration.test_syslog import Collect, free_port, wait_for

pytestmark = pytest.mark.slow

ADMIN = ("kanri", "Kanri-pass-2026!")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, TOKYO).isoformat(timespec="minutes")


def _settings(folder: Path, port: int, now: float) -> Path:
    config = folder / "mamori.yaml"
    config.write_text(
        "site: {name: 統合テスト病院, time_zone: Asia/Tokyo}\n"
        f"storage: {{path: {folder / 'mamori.db'}}}\n"
        "vendors:\n"
        "  - name: 透析装置メーカー\n"
        "    sources: [10.9.0.0/24]\n"
        "    accounts: [vendor-dia]\n"
        "    devices: [10.1.0.20, DIA-SRV01]\n"
        "    work_plans:\n"
        f"      - {{start: '{_iso(now - 3600)}', end: '{_iso(now + 7200)}', targets: [10.1.0.20, DIA-SRV01],\n"
        '         ports: [3389], ticket: "作業計画 2026-118"}\n'
        "  - name: 画像装置メーカー\n"
        "    sources: [192.168.100.192/26]\n"
        "    accounts: [vendor-img]\n"
        "    work_plans:\n"
        f"      - {{start: '{_iso(now - 2 * 86400)}', end: '{_iso(now - 2 * 86400 + 7200)}'}}\n"
        '  - name: "<b>検査装置</b>=cmd|x"\n'
        "    sources: [10.9.2.0/24]\n"
        "    accounts: [vendor-lab]\n"
        "syslog:\n"
        f'  listen: ["udp://127.0.0.1:{port}", "tcp://127.0.0.1:{port}"]\n'
        f"  archive: {{path: {folder / 'archive'}, key: {folder / 'keys' / 'archive.key'}}}\n",
        encoding="utf-8",
    )
    return config


# Lines in the forms the vendors document (see the parsers' docstrings), as the devices send them.
FORTIGATE = [
    '<134>date={d} time={t} devname="FGT60F" devid="FGT60FTK0000000" logid="0101039947" type="event" subtype="vpn" '
    'level="information" vd="root" logdesc="SSL VPN tunnel up" action="tunnel-up" tunneltype="ssl-tunnel" '
    'tunnelid=1408 remip=198.51.100.7 tunnelip=10.9.0.21 user="vendor-dia" group="vendors" dst_host="N/A" '
    'reason="N/A" msg="SSL tunnel established"',
    '<189>date={d} time={t} devname="FGT60F" devid="FGT60FTK0000000" logid="0000000013" type="traffic" '
    'subtype="forward" level="notice" vd="root" srcip=10.9.0.21 srcport=51000 srcintf="ssl.root" dstip=10.1.0.20 '
    'dstport=3389 dstintf="internal" proto=6 action="accept" policyid=7 service="RDP"',
    '<134>date={d} time={t} devname="FGT60F" devid="FGT60FTK0000000" logid="0101039948" type="event" subtype="vpn" '
    'level="information" vd="root" logdesc="SSL VPN tunnel down" action="tunnel-down" tunneltype="ssl-tunnel" '
    'tunnelid=1408 remip=198.51.100.7 user="vendor-dia" group="vendors" dst_host="N/A" reason="N/A" '
    'duration=610 sentbyte=1234 rcvdbyte=5678 msg="SSL tunnel shutdown"',
]
RTX = [
    "<13> [L2TP] TUNNEL[1] connected from 203.0.113.5",
    "<13> PP[ANONYMOUS01] Call detected from user 'vendor-img'",
    "<13> PP[ANONYMOUS01] PPP/IPCP up  (Local: 192.168.100.1, Remote: 192.168.100.201)",
]
ASA = [
    "<166>%ASA-6-113039: Group <vendors> User <vendor-lab> IP <198.51.100.9> AnyConnect parent session started.",
    "<164>%ASA-4-722051: Group <vendors> User <vendor-lab> IP <198.51.100.9> IPv4 Address <10.9.2.30> IPv6 address "
    "<::> assigned to session",
    "<165>%ASA-5-722037: Group <vendors> User <vendor-lab> IP <198.51.100.9> SVC closing connection: DPD failure.",
]


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("remote-maintenance")
    port = free_port()
    now = time.time()
    config = _settings(folder, port, now)
    run_mamori("archive", "keygen", "--config", str(config))
    collector = Collect(config, folder / "collect.log")
    try:
        stamp = dt.datetime.now(TOKYO)
        fortigate = [line.format(d=stamp.strftime("%Y-%m-%d"), t=stamp.strftime("%H:%M:%S")) for line in FORTIGATE]
        with socket.create_connection(("127.0.0.1", port)) as tcp:
            for line in fortigate:
                tcp.sendall(line.encode() + b"\n")
                time.sleep(0.05)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for line in RTX + ASA:
                udp.sendto(line.encode(), ("127.0.0.1", port))
                time.sleep(0.05)
        db = folder / "mamori.db"
        assert wait_for(
            lambda: (
                db.exists()
                and len(_rows(db, "select uid from mamori_maintenance_session")) >= 3
                and len(_rows(db, "select uid from mamori_alert where rule = 'remote-maintenance'")) >= 2
            ),
            timeout=60,
        ), (folder / "collect.log").read_text()
    finally:
        collector.stop()
    # Windows logons of the vendor's account, in its window: one to a listed computer, one to another.
    evtx = folder / "Security.evtx"
    ts = time.time()
    write_evtx(
        evtx,
        [
            logon(ts, "vendor-dia", "10.9.0.21", computer="DIA-SRV01.hospital.local", domain="HOSPITAL"),
            logon(ts + 30, "vendor-dia", "10.9.0.99", computer="EMR-DB01.hospital.local", domain="HOSPITAL"),
        ],
    )
    result = run_mamori("evtx", "analyze", "--config", str(config), str(evtx), check=False)
    assert result.returncode == 0, result.stderr + result.stdout
    yield config, db


def test_each_case_gives_exactly_its_alerts(site: tuple[Path, Path]) -> None:
    _config, db = site
    alerts = _rows(db, "select details, origin from mamori_alert where rule = 'remote-maintenance' order by id")
    import json

    found = sorted((json.loads(d)["vendor"], tuple(json.loads(d)["differences"]), origin) for d, origin in alerts)
    assert found == [
        ("<b>検査装置</b>=cmd|x", ("no-plan",), "syslog"),
        ("画像装置メーカー", ("outside-window",), "syslog"),
        ("透析装置メーカー", ("target",), "evtx"),
    ]
    sessions = _rows(
        db, "select vendor, differences, accounts, targets, ports, via, ticket from mamori_maintenance_session"
    )
    inside = [s for s in sessions if s[0] == "透析装置メーカー" and s[1] == "[]"]
    assert len(inside) == 2  # the VPN session (FortiGate) and the logon from inside it (evtx), both within the plan
    vpn = next(s for s in inside if "vpn" in s[5])
    assert json.loads(vpn[2]) == ["vendor-dia"] and json.loads(vpn[3]) == ["10.1.0.20"] and json.loads(vpn[4]) == [3389]
    assert vpn[6] == "作業計画 2026-118"
    img = next(s for s in sessions if s[0] == "画像装置メーカー")
    assert json.loads(img[2]) == ["vendor-img"]


def test_the_work_report_page_pdf_and_list(site: tuple[Path, Path], browser: Any, tmp_path: Path) -> None:
    config, _db = site
    add_user(config, ADMIN[0], "admin", ADMIN[1])
    server = start_dashboard(config)
    try:
        page = open_page(browser, server.base, accept_downloads=True)
        log_in(page, ADMIN)
        page.goto("/maintenance/")
        text = page.locator("main").inner_text() if page.locator("main").count() else page.content()
        assert "リモートメンテナンス作業報告" in text
        assert "作業計画 2026-118" in text and "計画どおり" in text
        assert "作業計画の時間外" in text and "作業計画のない業者" in text and "計画にない接続先" in text
        assert "<b>検査装置</b>=cmd|x" in page.locator("body").inner_text()  # shown as text, not markup
        assert page.locator("h2 b").count() == 0
        page.screenshot(path=str(SCREENSHOTS / "work-report-ja.png"), full_page=True)
        with page.expect_download() as info:
            page.click("[data-test=work-report-pdf]")
        pdf = tmp_path / "work.pdf"
        info.value.save_as(pdf)
        assert pdf.read_bytes().startswith(b"%PDF")
        if shutil.which("pdftotext") is None:
            pytest.fail("pdftotext is missing (apt-get install poppler-utils)")
        words = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True)
        assert "作業報告の確認" in words.stdout and "作業計画 2026-118" in words.stdout
        assert "<b>検査装置</b>=cmd|x" in words.stdout  # escaped for the PDF's markup, printed as written
        csv_text = page.context.request.get(f"{server.base}/maintenance/access/?format=csv").text()
        rows = list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))))
        assert rows[0][0] == "開始" and len(rows) == 1 + 5
        assert any(r[2] == "<b>検査装置</b>=cmd|x" for r in rows)  # not a formula: starts with "<"
        # An administrator enters a work plan for the vendor with none; it is listed, and audited.
        page.goto("/maintenance/plans/")
        page.select_option("select[name=vendor]", "<b>検査装置</b>=cmd|x")
        page.fill("input[name=start]", "2026-11-10T09:00")
        page.fill("input[name=end]", "2026-11-10T12:00")
        page.fill("input[name=ports]", "3389 22")
        page.fill("input[name=ticket]", '=HYPERLINK("x")')
        page.click("[data-test=work-plan-form] button[type=submit]")
        page.wait_for_url("**/maintenance/plans/")
        assert "=HYPERLINK" in page.locator("[data-test=work-plans] table.list").inner_text()
        vendors = page.locator("[data-test=vendor-list]").inner_text()  # the vendor list: names as text
        assert "<b>検査装置</b>=cmd|x" in vendors and "10.9.0.0/24" in vendors and "DIA-SRV01" in vendors
        assert page.locator("[data-test=vendor-list] b").count() == 0
        page.screenshot(path=str(SCREENSHOTS / "work-plans-vendors-ja.png"), full_page=True)
        page.goto("/admin/audit/")
        assert "work-plan.add" in page.locator("body").inner_text()
        page.goto("/maintenance/")
        page.click("[data-test=lang-en]")
        page.wait_for_load_state()
        page.goto("/maintenance/")
        english = page.locator("body").inner_text()
        assert "Remote maintenance work report" in english and "outside every window of the work plan" in english
        page.screenshot(path=str(SCREENSHOTS / "work-report-en.png"), full_page=True)
        page.click("[data-test=lang-ja]")
        page.context.close()
    finally:
        server.stop()
