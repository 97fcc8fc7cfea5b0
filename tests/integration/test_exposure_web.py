"""The exposure pages in a real browser (Debian's chromium via Playwright) on real scans: `mamori scan` runs nmap
twice over listeners on the loopback of a namespace made by this test (RDP started in between), then `mamori web`
serves the database. Screenshots go to test-artifacts/screenshots/exposure-*.png for a person to look at.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser import SCREENSHOTS, log_in, open_page, playwright_api
from tests.integration.dashboard import Dashboard, add_user, start_dashboard
from tests.integration.test_exposure_netns import LISTENER

if os.geteuid() != 0 or shutil.which("nmap") is None:  # pragma: no cover - CI runs as root with nmap
    if os.environ.get("CI") == "true":
        raise RuntimeError("needs root and nmap")
    pytest.skip("needs root and nmap", allow_module_level=True)
playwright_api()

pytestmark = [pytest.mark.netns, pytest.mark.slow]

ADMIN = ("kanri", "Kanri-pass-2026!")
NS = "i12xweb"
MAMORI = str(Path(sys.executable).with_name("mamori"))
SITE = """\
site: {name: 公開状況の試験}
systems:
  - {name: 透析, servers: [127.0.0.1], ports: [8443]}
scan:
  targets: [127.0.0.1]
  rate: 500
storage:
  path: mamori.db
"""


def _listen(*ports: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", NS, sys.executable, "-c", LISTENER, "127.0.0.1", *map(str, ports)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _scan(config: Path) -> None:
    subprocess.run(
        ["ip", "netns", "exec", NS, MAMORI, "scan", "--config", str(config), "--no-act"],
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("exposure-web")
    config = folder / "site.yaml"
    config.write_text(SITE, encoding="utf-8")
    subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"], check=True)
        listener = _listen(23, 445, 1433, 8443)
        _scan(config)
        listener.kill()
        listener.wait(5)
        listener = _listen(23, 445, 1433, 3389, 8443)  # RDP started
        _scan(config)
        listener.kill()
        listener.wait(5)
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)
    add_user(config, ADMIN[0], "admin", ADMIN[1])
    server = start_dashboard(config)
    yield server
    server.stop()


@pytest.fixture
def page(dashboard: Dashboard, browser: Any) -> Iterator[Any]:
    page = open_page(browser, dashboard.base)
    log_in(page, ADMIN)
    yield page
    page.context.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"exposure-{name}.png"), full_page=True)


def test_site_table_and_host_page_in_both_languages_then_approve(page: Any, dashboard: Dashboard) -> None:
    page.goto("/exposure/")
    assert page.locator("h1").inner_text() == "公開状況: 開いているポートとサービス"
    row = page.locator("[data-test=exposure-table] tbody tr", has_text="127.0.0.1")
    assert row.count() == 1
    text = row.inner_text()
    for port in ("23", "445", "1433", "3389", "8443"):
        assert port in text
    findings = row.locator("td").nth(2).inner_text().split()
    assert findings == ["23", "445", "1433", "3389"]  # 8443 is the department system's port: no finding
    assert "指摘のある機器 1 台" in page.locator("section.card").first.inner_text()
    shot(page, "site-ja")

    page.click("a.mono:text('127.0.0.1')")
    page.wait_for_url("**/exposure/host/127.0.0.1/")
    ports = page.locator("[data-test=exposure-ports] tbody").inner_text()
    assert "役割に不要なサービス（危険ポート）" in ports
    assert "前回のスキャンになかった新しいポート" in ports  # RDP, started between the scans
    assert "透析" in page.locator("p.muted").first.inner_text()
    history = page.locator("section.card h3")
    assert history.count() == 2
    shot(page, "host-ja")

    page.click("[data-test=lang-en]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("127.0.0.1")
    assert "a service the host's role does not need" in page.locator("[data-test=exposure-ports]").inner_text()
    shot(page, "host-en")
    page.goto("/exposure/")
    assert page.locator("h1").inner_text() == "Exposure: open ports and services"
    shot(page, "site-en")

    # The CSV export: one row per port, findings in words.
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    request = urllib.request.Request(dashboard.base + "/exposure/export/?format=csv", headers={"Cookie": cookies})
    with urllib.request.urlopen(request, timeout=10) as response:
        rows = list(csv.reader(io.StringIO(response.read().decode("utf-8-sig"))))
    assert rows[0][:3] == ["Host", "Host name", "Port"]
    by_port = {r[2]: r for r in rows[1:] if r[0] == "127.0.0.1" and r[3] == "open"}
    assert set(by_port) == {"23 (Telnet)", "445 (SMB)", "1433 (SQL Server)", "3389 (RDP)", "8443"}
    assert by_port["8443"][7] == ""
    assert "new since the previous scan" in by_port["3389 (RDP)"][7]

    # Approving the host accepts its current ports: no finding is left.
    page.goto("/exposure/host/127.0.0.1/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-test=approve-host]")
    page.wait_for_url("**/exposure/host/127.0.0.1/")
    page.goto("/exposure/")
    row = page.locator("[data-test=exposure-table] tbody tr", has_text="127.0.0.1")
    assert row.locator("td").nth(2).inner_text().strip() == "none"
    assert "kanri" in row.locator("td").nth(4).inner_text()
