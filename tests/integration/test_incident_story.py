"""The Osaka chain as one incident, through the installed ``mamori`` commands and a real browser.

The vendor's address first reaches the server over the VPN (a SYN in a capture file, ``mamori analyze``); the
server's Windows logs (an .evtx file, ``mamori evtx analyze``) show the password guessing, the RDP logon that
worked, the attack tools, the RDP session to the next server and every log cleared; the router's log (a Yamaha
RTX deny line over UDP syslog, ``mamori collect``) shows the vendor's address knocking again. Three processes wrote
the alerts: they must be one incident holding every alert, read in Japanese and English as one story on one page
(screenshots in test-artifacts/screenshots/incident-ja.png and incident-en.png), listed first on the overview.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mamori.model import ACK, SYN
from mamori.testing.evtx_writer import write_evtx
from mamori.testing.pcapbuilder import PcapWriter, eth, ipv4, tcp
from mamori.testing.winevents import CATERING_SERVER, VENDOR_IP, clear_every_log, osaka_chain
from tests.integration.browser import open_page
from tests.integration.conftest import json_lines, run_mamori
from tests.integration.dashboard import Dashboard, add_user, start_dashboard
from tests.integration.test_syslog import Collect, free_port, wait_for

SERVER_IP = "10.10.20.11"  # the catering server, as the department system registers it
SERVER_MAC = "02:10:00:00:20:11"
ROUTER_MAC = "02:10:00:00:00:01"
ADMIN = ("kanri", "Kanri-pass-2026!")
PACKETS, LOG, WINDOWS = "packets", "log", "windows"


@dataclass
class Story:
    config: Path
    alerts: list[dict[str, Any]]
    incidents: list[dict[str, Any]]


def shifted_chain(end: float) -> list[Any]:
    """The catering server's events (osaka_chain) moved so that the last happens at ``end``, then every log cleared
    a minute later."""
    events = list(osaka_chain())
    delta = end - max(e.ts for e in events)
    moved = [e._replace(ts=e.ts + delta) for e in events]
    cleared = clear_every_log(end + 60, computer=CATERING_SERVER)
    return [e._replace(record_id=n) for n, e in enumerate(moved + cleared, start=1)]


def vpn_capture(path: Path, ts: float) -> None:
    """The vendor's address, through the router, opening RDP to the catering server (SYN, SYN-ACK, ACK)."""
    with PcapWriter(path) as w:
        w.write(
            ts,
            eth(
                SERVER_MAC,
                ROUTER_MAC,
                0x0800,
                ipv4(VENDOR_IP, SERVER_IP, 6, tcp(VENDOR_IP, SERVER_IP, 50123, 3389, SYN, seq=1)),
            ),
        )
        w.write(
            ts + 0.01,
            eth(
                ROUTER_MAC,
                SERVER_MAC,
                0x0800,
                ipv4(SERVER_IP, VENDOR_IP, 6, tcp(SERVER_IP, VENDOR_IP, 3389, 50123, SYN | ACK, seq=9, ack=2)),
            ),
        )
        w.write(
            ts + 0.02,
            eth(
                SERVER_MAC,
                ROUTER_MAC,
                0x0800,
                ipv4(VENDOR_IP, SERVER_IP, 6, tcp(VENDOR_IP, SERVER_IP, 50123, 3389, ACK, seq=2, ack=10)),
            ),
        )


def write_site(folder: Path, port: int) -> Path:
    config = folder / "site.yaml"
    config.write_text(
        "site: {name: 大阪の事例の再現}\n"
        f"storage: {{path: {folder / 'mamori.db'}}}\n"
        f"web: {{secret_key_file: {folder / 'web-secret.key'}}}\n"
        "gateways:\n"
        f'  - {{name: core-router, mac: "{ROUTER_MAC}", ip: 10.10.20.1}}\n'
        "systems:\n"
        "  - name: 給食システム\n"
        f'    servers: [{{ip: {SERVER_IP}, mac: "{SERVER_MAC}", name: {CATERING_SERVER}}}]\n'
        "    ports: [3389]\n"
        "    terminals:\n"
        '      - {name: 給食端末-1, mac: "02:10:00:00:30:01", ip: 10.10.20.101}\n'
        "syslog:\n"
        f'  listen: ["udp://127.0.0.1:{port}"]\n'
        f"  archive: {{path: {folder / 'archive'}, key: {folder / 'keys' / 'archive.key'}}}\n",
        encoding="utf-8",
    )
    return config


def build_story(folder: Path) -> Story:
    port = free_port()
    config = write_site(folder, port)
    end = time.time() - 600  # the guessing ended ten minutes ago; the router's deny line arrives now
    events = shifted_chain(end)
    start = min(e.ts for e in events)
    vpn_capture(folder / "vpn.pcap", start - 120)
    write_evtx(folder / "KYUSHOKU-SV01-Security.evtx", events)
    run_mamori("analyze", "--config", str(config), str(folder / "vpn.pcap"))
    run_mamori("evtx", "analyze", "--config", str(config), str(folder / "KYUSHOKU-SV01-Security.evtx"), timeout=300)
    collector = Collect(config, folder / "collect.log")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            line = f"Rejected at IN(2000) filter: TCP {VENDOR_IP}:50200 > {SERVER_IP}:3389".encode()
            udp.sendto(line, ("127.0.0.1", port))

        def from_the_router() -> bool:
            found = json_lines(run_mamori("alerts", "--config", str(config), "--json").stdout)
            return sum(1 for a in found if a["rule"] == "unregistered-terminal") >= 2

        assert wait_for(from_the_router, 60), (folder / "collect.log").read_text()[-3000:]
    finally:
        collector.stop()
    alerts = json_lines(run_mamori("alerts", "--config", str(config), "--json").stdout)
    incidents = json_lines(run_mamori("incidents", "--config", str(config), "--json").stdout)
    return Story(config, alerts, incidents)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    return build_story(tmp_path_factory.mktemp("osaka-incident"))


def test_three_processes_wrote_one_incident_holding_every_alert(story: Story) -> None:
    rules = sorted(a["rule"] for a in story.alerts)
    for expected in ("unregistered-terminal", "brute-force", "logon-after-failures", "rdp-logon", "log-cleared"):
        assert expected in rules, rules
    assert rules.count("unregistered-terminal") == 2  # one from the capture, one from the router's log
    [incident] = story.incidents
    assert sorted(incident["alerts"]) == sorted(a["uid"] for a in story.alerts)
    assert incident["alert_count"] == len(story.alerts)
    assert incident["status"] == "open" and incident["severity"] == "critical"
    assert VENDOR_IP in incident["addresses"] and SERVER_IP in incident["addresses"]
    assert CATERING_SERVER.lower() in incident["computers"]
    assert "administrator" in incident["accounts"]
    assert incident["rules"][0] == "unregistered-terminal"  # the story begins with the VPN connection
    assert incident["story_en"].startswith("Connection from an unregistered terminal → ")
    assert incident["first_seen"] == min(a["first_seen"] for a in story.alerts)
    # The text form: one line, open first; and the alerts of the incident in the order they began.
    [line] = run_mamori("incidents", "--config", str(story.config), "--lang", "en").stdout.splitlines()
    assert "[critical] open" in line and f"incident={incident['incident']}" in line and VENDOR_IP in line
    members = json_lines(
        run_mamori("incidents", "--config", str(story.config), "--incident", incident["incident"], "--json").stdout
    )
    assert [a["uid"] for a in members] == incident["alerts"]
    assert [a["first_seen"] for a in members] == sorted(a["first_seen"] for a in members)


# -- the dashboard -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard(story: Story) -> Iterator[Dashboard]:
    add_user(story.config, ADMIN[0], "admin", ADMIN[1])
    server = start_dashboard(story.config)
    yield server
    server.stop()


def _page(browser: Any, dashboard: Dashboard) -> Any:
    return open_page(browser, dashboard.base)


def _timeline(page: Any) -> list[dict[str, str]]:
    rows = page.locator("[data-test=timeline] tbody tr")
    return [
        {
            "uid": str(rows.nth(i).get_attribute("data-uid")),
            "source": str(rows.nth(i).get_attribute("data-source")),
            "text": rows.nth(i).inner_text(),
            "href": str(rows.nth(i).locator("a").get_attribute("href")),
        }
        for i in range(rows.count())
    ]


def test_the_incident_reads_as_one_story_in_japanese_and_english(
    story: Story, browser: Any, dashboard: Dashboard
) -> None:
    from tests.integration.test_web_browser import login, shot

    [incident] = story.incidents
    page = _page(browser, dashboard)
    login(page, ADMIN)
    # The overview lists the open incident first, above everything else.
    first_card = page.locator("main section.card").first
    assert first_card.get_attribute("data-test") == "open-incidents"
    assert first_card.locator("tr[data-incident]").first.get_attribute("data-incident") == incident["incident"]
    assert "対応中" in first_card.inner_text() and "未登録端末" in first_card.inner_text()
    first_card.locator("[data-test=incident-link]").first.click()
    page.wait_for_url(f"**/incidents/{incident['incident']}/")

    assert page.locator("h1").inner_text().startswith("緊急 インシデント")
    story_line = page.locator("[data-test=story]").inner_text()
    assert story_line.startswith("未登録端末"), story_line
    assert "総当たり" in story_line and "イベントログの消去" in story_line, story_line
    rows = _timeline(page)
    assert [r["uid"] for r in rows] == incident["alerts"]  # every alert, in the order it began
    assert {r["source"] for r in rows} == {PACKETS, LOG, WINDOWS}
    assert rows[0]["source"] == PACKETS and "パケット" in rows[0]["text"] and VENDOR_IP in rows[0]["text"]
    assert any(r["source"] == LOG and "ルータ・ファイアウォールのログ" in r["text"] for r in rows)
    assert any("Windows ログ" in r["text"] and "総当たり" in r["text"] for r in rows)
    assert all(r["href"] == f"/alerts/{r['uid']}/" for r in rows)
    assert page.locator("[data-test=incident-status]").inner_text() == "対応中"
    links = page.locator("[data-test=links]").inner_text()
    assert VENDOR_IP in links and CATERING_SERVER.lower() in links and "administrator" in links
    assert not re.search(r"[{}]|None|Traceback", page.locator("main").inner_text())
    shot(page, "incident-ja")

    # Every alert is reachable from the story, and leads back to it.
    page.locator("[data-test=timeline] tbody tr").nth(2).locator("a").click()
    page.wait_for_url(f"**{rows[2]['href']}")
    back = page.locator("[data-test=incident]")
    assert "インシデントの一部" in back.inner_text()
    back.locator("a").click()
    page.wait_for_url(f"**/incidents/{incident['incident']}/")

    page.click("[data-test=lang-en]")
    page.wait_for_load_state()
    try:
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").inner_text().startswith("Critical")
        story_line = page.locator("[data-test=story]").inner_text()
        assert story_line.startswith("Connection from an unregistered terminal →"), story_line
        assert "Event log cleared" in story_line, story_line
        rows_en = _timeline(page)
        assert [r["uid"] for r in rows_en] == incident["alerts"]
        assert any("Router or firewall log" in r["text"] for r in rows_en)
        assert any("Windows log" in r["text"] for r in rows_en) and "Packets" in rows_en[0]["text"]
        assert page.locator("[data-test=incident-status]").inner_text() == "Open"
        shot(page, "incident-en")
        page.goto("/incidents/")
        assert page.locator("h1").inner_text() == "Incidents"
        assert page.locator("tr[data-incident]").count() == 1
    finally:
        page.goto("/")
        if page.locator("[data-test=lang-ja]").count():
            page.click("[data-test=lang-ja]")
            page.wait_for_load_state()
    page.context.close()
