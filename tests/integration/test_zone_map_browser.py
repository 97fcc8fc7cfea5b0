"""The zone map and the dangerous-port matrix in a real browser, from real traffic.

The routed hospital network of test_zones_netns.py (its helpers, namespaces of our own prefix ``i11m``): `mamori
watch` on the router's mirror port sees real connections (Python sockets in the host namespaces, to real listeners)
and counts the flows between segments into the database; `mamori web` serves the pages; Debian's chromium (through
Playwright) renders them in Japanese and English, saving test-artifacts/screenshots/zone-map-{ja,en}.png and
zone-matrix-{ja,en}.png for a person to look at. The exports (CSV, XLSX, SVG, PNG) are downloaded and read back.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mamori.reports.tables import read_xlsx_rows
from tests.integration.browser import SCREENSHOTS, log_in, open_page, playwright_api
from tests.integration.dashboard import Client, Dashboard, add_user, start_dashboard
from tests.integration.test_zones_netns import (
    BACKUP,
    CLIENT,
    DMZ,
    HSZ,
    OUTSIDE,
    PROXY,
    Network,
    routed_network,
    settings,
    watching,
)

pytestmark = [pytest.mark.netns, pytest.mark.slow]

playwright_api()

ADMIN = ("kanri", "Kanri-pass-2026!")
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Real connections between the segments, seen by `mamori watch`; returns the settings file (its database)."""
    tmp_path = tmp_path_factory.mktemp("zone-map")
    config = settings(tmp_path)
    with routed_network("i11m") as net, watching(net, config):
        drive(net)
    yield config


def drive(net: Network) -> None:
    outcomes = [
        net.connect("dmz", DMZ, HSZ, 3389),  # forbidden (HEASNET 3-5-1), refused by the router
        net.connect("dmz", DMZ, HSZ, 445),  # forbidden, and the router has a hole for it
        net.connect("hsz", HSZ, OUTSIDE, 443),  # forbidden (3-3-2): the HSZ never reaches the internet
        net.connect("sz", CLIENT, HSZ, 445),  # forbidden: from the SZ only through the proxy
        *(net.connect("sz", PROXY, HSZ, 1433) for _ in range(3)),  # through the proxy: allowed, a new path
        *(net.connect("hsz", HSZ, BACKUP, 445) for _ in range(2)),  # within the High Secure Zone: allowed
    ]
    assert outcomes == ["refused", "open", "refused", "refused", *["open"] * 5]


def test_the_sensor_counted_every_flow_between_segments(traffic: Path) -> None:
    with sqlite3.connect(traffic.parent / "m.db") as db:
        rows = db.execute(
            "SELECT src_segment, dst_segment, proto, port, forbidden, count, new FROM mamori_flow_hour"
        ).fetchall()
    assert sorted(rows) == [
        ("事務系", "電子カルテ", "tcp", 445, 1, 1, 1),
        ("事務系", "電子カルテ", "tcp", 1433, 0, 3, 1),
        ("公開系", "電子カルテ", "tcp", 445, 1, 1, 1),
        ("公開系", "電子カルテ", "tcp", 3389, 1, 1, 1),
        ("電子カルテ", "", "tcp", 443, 1, 1, 0),
        ("電子カルテ", "バックアップ", "tcp", 445, 0, 2, 1),
    ]


@pytest.fixture(scope="module")
def dashboard(traffic: Path) -> Iterator[Dashboard]:
    add_user(traffic, ADMIN[0], "admin", ADMIN[1])
    server = start_dashboard(traffic)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page(dashboard: Dashboard, browser: Any) -> Iterator[Any]:
    page = open_page(browser, dashboard.base, viewport={"width": 1400, "height": 900})
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    log_in(page, ADMIN)
    yield page
    page.context.close()


def set_language(page: Any, lang: str) -> None:
    button = page.locator(f"[data-test=lang-{lang}]")
    if button.count():
        button.click()
        page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == lang


def arrows(page: Any) -> dict[str, str]:
    """The map's arrows: data-map ("kind:from>to") -> their hover text."""
    found = {}
    for path in page.locator("[data-test=zone-map] svg path[data-map]").all():
        found[path.get_attribute("data-map")] = path.locator("title").text_content()
    return found


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_zone_map_shows_the_segments_and_the_flows(page: Any, lang: str) -> None:
    page.goto("/zones/?period=day")
    set_language(page, lang)
    page.goto("/zones/?period=day")
    ja = lang == "ja"
    assert page.locator("h1").inner_text() == ("ゾーンマップ" if ja else "Zone map")
    assert page.locator("nav.main .menu.active .menu-label").inner_text() == ("ネットワーク" if ja else "Network")
    assert page.locator("nav.main a.active").get_attribute("href") == "/zones/"
    boxes = {b.get_attribute("data-map") for b in page.locator("svg rect[data-map]").all()}
    assert boxes == {f"segment:{n}" for n in ("電子カルテ", "バックアップ", "事務系", "公開系", "")}
    found = arrows(page)
    assert set(found) == {
        "forbidden:公開系>電子カルテ",
        "forbidden:事務系>電子カルテ",
        "forbidden:電子カルテ>",
        "new:電子カルテ>バックアップ",
    }
    # The SZ → HSZ arrow carries both the proxied SQL Server connections and the direct SMB one.
    assert ("1433 SQL Server" in found["forbidden:事務系>電子カルテ"]) and (
        "445 SMB" in found["forbidden:事務系>電子カルテ"]
    )
    assert ("4 件" if ja else "4 connections") in found["forbidden:事務系>電子カルテ"]
    assert "3389 RDP" in found["forbidden:公開系>電子カルテ"]
    table = page.locator("[data-test=flow-table] tbody tr")
    assert table.count() == 4
    legend = page.locator("[data-test=zone-map] svg").text_content()
    assert ("ポリシー違反" if ja else "forbidden by the zone policy") in legend
    assert page.errors == []  # nothing refused by the Content-Security-Policy
    page.screenshot(path=str(SCREENSHOTS / f"zone-map-{lang}.png"), full_page=True)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_matrix_shows_dangerous_ports_with_forbidden_cells_marked(page: Any, lang: str) -> None:
    page.goto("/zones/matrix/?period=week")
    set_language(page, lang)
    page.goto("/zones/matrix/?period=week")
    ja = lang == "ja"
    assert page.locator("[data-period=week]").get_attribute("class") == "button primary"
    cells = page.locator("table.matrix td[data-test=cell]")
    texts = sorted(c.inner_text() for c in cells.all())
    assert len(texts) == 3, texts  # HSZ → the internet on 443 is not a dangerous port
    forbidden = page.locator("table.matrix td.forbidden")
    assert forbidden.count() == 2  # DMZ → HSZ, SZ → HSZ (the direct SMB); HSZ → backup is allowed
    assert any("3389 RDP ×1" in t and "445 SMB ×1" in t for t in texts)
    assert any(("禁止" if ja else "forbidden") in c.inner_text() for c in forbidden.all())
    office = next(t for t in texts if "1433" in t)  # through the proxy: allowed; the direct SMB: forbidden
    assert ("1433 SQL Server ×3\n" in office or office.endswith("1433 SQL Server ×3")) and (
        "445 SMB ×1（禁止）" if ja else "445 SMB ×1 (forbidden)"
    ) in office
    assert page.errors == []
    page.screenshot(path=str(SCREENSHOTS / f"zone-matrix-{lang}.png"), full_page=True)


def test_the_exports_for_the_report(dashboard: Dashboard) -> None:
    client = Client(dashboard)
    client.login(*ADMIN)
    token = client.token("/zones/")
    client.post("/lang/", {"language": "ja", "next": "/zones/", "csrfmiddlewaretoken": token})  # the exports speak it
    status, headers, body = client.get("/zones/matrix/export/?period=month&format=csv")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["送信元セグメント", "送信元ゾーン", "宛先セグメント"]
    assert [
        "公開系",
        "DMZ",
        "電子カルテ",
        "高セキュアゾーン",
        "2",
        "2",
        "0",
        "2",
        "445 SMB ×1（禁止）, 3389 RDP ×1（禁止）",
    ] in rows
    status, _headers, body = client.get("/zones/matrix/export/?period=month&format=xlsx")
    assert status == 200 and read_xlsx_rows(body)[1:] == rows[1:]
    status, headers, body = client.get("/zones/map.svg?period=month")
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"
    root = ET.fromstring(body)  # noqa: S314 - the dashboard's own drawing
    assert root.tag == f"{SVG}svg" and len(root.findall(f".//{SVG}path[@data-map]")) == 4
    status, headers, body = client.get("/zones/map.png?period=month")
    assert status == 200 and body.startswith(b"\x89PNG") and len(body) > 20_000
