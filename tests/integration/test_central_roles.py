"""Roles per site, and the checklist and reports per site, on the central dashboard (docs/design.md §10, central).

The real parts, as in test_central.py: a NATS server with JetStream and a user per site, a PostgreSQL 15 cluster,
three sensors (`mamori analyze` of the lab's real captures, `mamori publish`) and the central consumer (`mamori
central`); then `mamori web` on the central settings, read over HTTP and in Debian's chromium.

What is checked: a user bound to hospital-a (`mamori user add --site hospital-a`) sees only hospital-a's alerts in
the list, the overview and the CSV/XLSX exports, gets 404 for hospital-b's alert page, its actions, its
registration, and hospital-b's checklist and report; a group administrator sees all three sites; an unknown site is
refused with the known ones listed; the per-site checklist (CLI and web) and monthly report carry that site's rows
only and say what is kept only on the sensor. Screenshots (Japanese and English) of the overview as the group
administrator and as the site administrator go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import shared_data_dir
from tests.integration.browser import SCREENSHOTS, chromium, log_in, open_page
from tests.integration.central_stack import CentralStack, missing_tools, start_stack
from tests.integration.conftest import MAMORI, run_mamori
from tests.integration.dashboard import Client, Dashboard, add_user, start_dashboard

pytestmark = pytest.mark.slow

SITES = ("hospital-a", "hospital-b", "hospital-c")
# hospital-a registers the lab's dialysis system, so the hping3 flood on port 6000 is also an unregistered
# terminal there: its checklist has unregistered-terminal alerts, the others none.
LAB_SYSTEMS = """\
systems:
  - name: 透析システム
    servers: [{ip: 10.231.0.2, mac: "02:00:00:00:0b:01"}]
    ports: [6000]
    terminals:
      - {name: dialysis-pc-1, mac: "02:00:00:00:0c:01", ip: 10.231.0.3}
"""
CAPTURES = {
    "hospital-a": "scan_hping3_flood_S_p6000.pcap",
    "hospital-b": "nmap_sS_1-1000.pcap",
    "hospital-c": "scan_nmap_sX_1-1000.pcap",
}
GROUP = ("group-admin", "Group-admin-pass-2026!")
AUDITOR = ("auditor", "Auditor-pass-2026!")
SITE_ADMIN = ("a-admin", "Site-a-admin-pass-2026!")


@dataclass
class Central:
    stack: CentralStack
    config: Path
    web: Dashboard
    uids: dict[str, set[str]]  # site -> its alerts' uids in the central store


def _central_uids(stack: CentralStack) -> dict[str, set[str]]:
    with stack.pg.connect() as c:
        rows = c.execute("SELECT site, uid FROM mamori_alert").fetchall()
    found: dict[str, set[str]] = {s: set() for s in SITES}
    for site, uid in rows:
        found.setdefault(site, set()).add(uid)
    return found


def _sensor_count(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return int(c.execute("SELECT COUNT(*) FROM mamori_alert").fetchone()[0])


def _user(config: Path, *args: str, password: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [MAMORI, "user", *args[:1], "--config", str(config), *args[1:]],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def central() -> Iterator[Central]:
    missing = missing_tools()
    if missing:
        pytest.skip(f"missing: {', '.join(missing)} (scripts/test.sh installs them)")
    lab_pcaps = shared_data_dir() / "pcap" / "lab"
    if not lab_pcaps.is_dir():
        pytest.skip(f"real captures not available at {lab_pcaps}")
    folder = Path(tempfile.mkdtemp(prefix="i14-roles-"))
    stack = start_stack(folder, SITES)
    consumer: subprocess.Popen[bytes] | None = None
    web: Dashboard | None = None
    try:
        config = stack.central_settings(web="web: {secret_key_file: web-secret.key}\n")
        with (folder / "central.log").open("ab") as log:  # the consumer makes the stream the sensors publish to
            consumer = subprocess.Popen(
                [MAMORI, "central", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        sensors = {site: folder / f"{site}.db" for site in SITES}
        for site, db in sensors.items():
            cfg = stack.sensor_settings(site, db, extra=LAB_SYSTEMS if site == "hospital-a" else "")
            run_mamori("analyze", "--config", str(cfg), str(lab_pcaps / CAPTURES[site]), timeout=180)
            run_mamori("publish", "--config", str(cfg), "--until-empty", timeout=120)
        deadline = time.monotonic() + 90
        want = {site: _sensor_count(db) for site, db in sensors.items()}
        while {s: len(u) for s, u in _central_uids(stack).items() if s in SITES} != want:
            assert time.monotonic() < deadline, (want, (folder / "central.log").read_text()[-2000:])
            time.sleep(0.5)
        consumer.terminate()
        consumer.wait(30)
        assert all(n > 0 for n in want.values()), want
        add_user(config, GROUP[0], "admin", GROUP[1])
        _user(config, "add", SITE_ADMIN[0], "--role", "admin", "--site", "hospital-a", password=SITE_ADMIN[1])
        web = start_dashboard(config)
        yield Central(stack, config, web, _central_uids(stack))
    finally:
        if web is not None:
            web.stop()
        if consumer is not None and consumer.poll() is None:
            consumer.kill()
            consumer.wait(10)
        stack.close()
        if not os.environ.get("MAMORI_KEEP_CENTRAL"):
            shutil.rmtree(folder, ignore_errors=True)


def _client(central: Central, account: tuple[str, str]) -> Client:
    client = Client(central.web)
    status, _headers, _body = client.login(*account)
    assert status == 302, status
    return client


def _masked(body: bytes, uid: str) -> str:
    """A page without the asked uid and the CSRF token (which differs on every answer)."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", body.decode().replace(uid, "UID"))


def _csv_uids(body: bytes) -> set[str]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    return {row[-1] for row in rows[1:]}


def _xlsx_uids(body: bytes) -> set[str]:
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    return {str(row[-1]) for row in rows[1:] if row[-1]}


def test_an_unknown_site_is_refused_with_the_known_ones(central: Central) -> None:
    result = _user(central.config, "add", "nobody", "--role", "viewer", "--site", "hospital-z", check=False)
    assert result.returncode == 2
    assert "hospital-z" in result.stderr and all(site in result.stderr for site in SITES), result.stderr
    listed = _user(central.config, "list").stdout
    assert f"{SITE_ADMIN[0]}\thospital-a:admin" in listed and f"{GROUP[0]}\tadmin" in listed
    assert "nobody" not in listed


def test_a_site_admin_sees_only_their_site(central: Central) -> None:
    client = _client(central, SITE_ADMIN)
    a, b = central.uids["hospital-a"], central.uids["hospital-b"]
    status, _h, body = client.get("/")
    page = body.decode()
    assert status == 200 and 'data-site="hospital-a"' in page
    assert 'data-site="hospital-b"' not in page and 'data-site="hospital-c"' not in page
    status, _h, body = client.get("/alerts/")
    page = body.decode()
    assert status == 200 and '<td class="nowrap" data-test="site">hospital-a</td>' in page
    assert "hospital-b" not in page and "hospital-c" not in page
    status, _h, body = client.get("/alerts/export/?format=csv")
    assert status == 200 and _csv_uids(body) == a
    status, _h, body = client.get("/alerts/export/?format=xlsx&site=hospital-b")  # another site: never listed
    assert status == 200 and _xlsx_uids(body) == a
    other = sorted(b)[0]
    absent = "0" * 32  # no such alert anywhere: another site's answers exactly as this one
    for path in (f"/alerts/{other}/", f"/alerts/{other}/register/"):
        status, _h, body = client.get(path)
        _s, _h, nothing = client.get(path.replace(other, absent))
        assert status == 404 and _masked(body, other) == _masked(nothing, absent), path
    token = client.token(f"/alerts/{sorted(a)[0]}/")
    status, _h, _b = client.post(f"/alerts/{other}/action/", {"action": "resolve", "comment": "x", "csrf_token": token})
    assert status == 404
    for path in ("/checklist/?site=hospital-b", "/reports/monthly.pdf?site=hospital-b", "/terminals/", "/admin/users/"):
        status, _h, _b = client.get(path)
        assert status == 404, path
    # their own site's alert: shown, and they may handle it
    mine = sorted(a)[0]
    status, _h, body = client.get(f"/alerts/{mine}/")
    assert status == 200 and f'action="/alerts/{mine}/action/"' in body.decode()
    status, _h, _b = client.post(f"/alerts/{mine}/action/", {"action": "acknowledge", "csrf_token": token})
    assert status == 302
    with central.stack.pg.connect() as c:
        row = c.execute("SELECT status, status_by FROM mamori_alert WHERE uid = %s", [mine]).fetchone()
    assert row == ("acknowledged", SITE_ADMIN[0])


def test_a_group_admin_sees_all_three_sites(central: Central) -> None:
    client = _client(central, GROUP)
    status, _h, body = client.get("/")
    page = body.decode()
    assert status == 200 and all(f'data-site="{site}"' in page for site in SITES)
    status, _h, body = client.get("/alerts/export/?format=csv")
    assert status == 200 and _csv_uids(body) == set().union(*central.uids.values())
    status, _h, body = client.get("/alerts/export/?format=csv&site=hospital-c")
    assert _csv_uids(body) == central.uids["hospital-c"]
    status, _h, body = client.get(f"/alerts/{sorted(central.uids['hospital-b'])[0]}/")
    assert status == 200
    status, _h, body = client.get("/admin/users/")
    page = body.decode()
    assert status == 200 and 'data-user="a-admin"' in page and 'data-site="hospital-a"' in page


def _xlsx_text(data: bytes) -> str:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return "\n".join(str(c) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for c in row if c)


def _months(central: Central, site: str) -> list[str]:
    with central.stack.pg.connect() as c:
        rows = c.execute(
            "SELECT DISTINCT to_char(first_seen AT TIME ZONE 'UTC', 'YYYY-MM') FROM mamori_alert WHERE site = %s",
            [site],
        ).fetchall()
    return sorted(r[0] for r in rows)


def _pdf_text(data: bytes, folder: Path) -> str:
    path = folder / "report.pdf"
    path.write_bytes(data)
    result = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_checklist_and_report_of_one_site_hold_its_rows_only(central: Central, tmp_path: Path) -> None:
    # the CLI: `mamori checklist --site`, each site's with its own count of unregistered terminals
    with central.stack.pg.connect() as c:
        unregistered = dict(
            c.execute(
                "SELECT site, COUNT(*) FROM mamori_alert WHERE rule = 'unregistered-terminal' "
                "AND last_seen > now() - interval '30 days' GROUP BY site"
            ).fetchall()
        )
    assert unregistered.get("hospital-a", 0) > 0 and "hospital-b" not in unregistered
    for site in ("hospital-a", "hospital-b"):
        out = tmp_path / f"{site}.xlsx"
        run_mamori("checklist", "--config", str(central.config), "--site", site, "-o", str(out), timeout=120)
        text = _xlsx_text(out.read_bytes())
        assert site in text and not any(other in text for other in SITES if other != site)
        assert "センサーにだけあり" in text and "kept only on the sensor" in text
        n = unregistered.get(site, 0)
        assert f"Connections from unregistered terminals detected at site {site} in the last 30 days: {n}." in text
    refused = subprocess.run(
        [MAMORI, "checklist", "--config", str(central.config), "--site", "hospital-z", "-o", str(tmp_path / "z")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and "hospital-a" in refused.stderr
    # the web: the site admin's checklist is hospital-a's (no site asked), the group admin's hospital-b's on request
    client = _client(central, SITE_ADMIN)
    status, _h, body = client.get("/checklist/")
    page = body.decode()
    assert status == 200 and 'data-test="site-note"' in page and "hospital-a" in page and "hospital-b" not in page
    status, _h, body = client.get("/checklist/export/?form=medical&format=xlsx")
    assert status == 200
    cells = _xlsx_text(body)
    assert "hospital-a" in cells and "hospital-b" not in cells and "kept only on the sensor" in cells
    # the monthly report of the month of hospital-a's alerts: its alerts only, and what is on the sensor said
    month = _months(central, "hospital-a")[-1]
    status, _h, body = client.get(f"/reports/monthly.pdf?month={month}")
    assert status == 200
    report = _pdf_text(body, tmp_path)
    with central.stack.pg.connect() as c:
        n_a = c.execute(
            "SELECT COUNT(*) FROM mamori_alert WHERE site = 'hospital-a' AND to_char(first_seen AT TIME ZONE 'UTC', "
            "'YYYY-MM') = %s",
            [month],
        ).fetchone()[0]
    assert f"検知したアラート / Alerts: {n_a} 件" in report, report[:1500]
    assert "hospital-a" in report and "hospital-b" not in report
    assert "センサーにだけある記録 / Kept only on the sensor" in report
    # the inspection pack of the site: its checklists and monthly reports, and notes for what is on the sensor
    status, _h, body = client.get("/checklist/pack.zip")
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as pack:
        names = pack.namelist()
        note = pack.read("archive/README.txt").decode()
    assert "ledger/README.txt" in names and not any(n.startswith("ledger/assets") for n in names)
    assert "hospital-a" in note and "センサー" in note and "sensor" in note


# -- the overview in a real browser, screenshots in both languages ---------------------------------------------------


def _browser_overview(central: Central, account: tuple[str, str], name: str) -> dict[str, str]:
    seen: dict[str, str] = {}
    with chromium() as browser:
        page = open_page(browser, central.web.base)
        log_in(page, account)
        page.wait_for_url(f"{central.web.base}/")
        seen["ja"] = page.locator("[data-test=sites]").inner_text()
        seen["nav_ja"] = page.locator("nav.main").inner_text()
        page.screenshot(path=str(SCREENSHOTS / f"central-{name}-ja.png"), full_page=True)
        page.click("[data-test=lang-en]")
        page.wait_for_load_state()
        seen["en"] = page.locator("[data-test=sites]").inner_text()
        seen["role_en"] = page.locator("[data-test=role]").inner_text()
        page.screenshot(path=str(SCREENSHOTS / f"central-{name}-en.png"), full_page=True)
        page.click("[data-test=lang-ja]")  # leave the account in Japanese for the other tests
        page.wait_for_load_state()
    return seen


def test_the_overview_in_a_browser_as_group_and_site_admin(central: Central) -> None:
    group = _browser_overview(central, GROUP, "group-admin")
    assert all(site in group["ja"] and site in group["en"] for site in SITES)
    assert "管理" in group["nav_ja"]  # the administration menu
    site = _browser_overview(central, SITE_ADMIN, "site-admin")
    assert "hospital-a" in site["ja"] and "hospital-b" not in site["ja"] and "hospital-c" not in site["en"]
    assert "hospital-a" in site["role_en"] and "administrator" in site["role_en"]
    assert "端末" not in site["nav_ja"] and "監査" not in site["nav_ja"]  # no pages of the central box's own


def _roles(central: Central, name: str) -> str:
    listed = _user(central.config, "list").stdout
    return next((line for line in listed.splitlines() if line.split() and line.split()[0] == name), "")


def test_the_users_page_binds_removes_and_gives_group_roles_in_a_browser(central: Central) -> None:
    """Administration -> Users and sites, as a group administrator does it: bind an account to a site, remove the
    binding (after the confirmation), give a role on every site; the administrator's own account is not offered and
    a forged request to change it is refused with the reason."""
    _user(central.config, "add", AUDITOR[0], "--role", "viewer", password=AUDITOR[1])
    with chromium() as browser:
        page = open_page(browser, central.web.base)
        page.on("dialog", lambda d: d.accept())
        log_in(page, GROUP)
        page.goto("/admin/users/")
        form = page.locator("[data-test=bind-form]")
        assert GROUP[0] not in form.locator("select[name=user]").inner_text()  # not oneself
        form.locator("select[name=user]").select_option("auditor")
        form.locator("select[name=site]").select_option("hospital-b")
        form.locator("select[name=role]").select_option("viewer")
        form.locator("button").click()
        page.wait_for_load_state()
        assert "hospital-b:viewer" in _roles(central, "auditor")
        row = page.locator("tr[data-user=auditor]")
        assert "hospital-b" in row.inner_text() and "閲覧者" in row.inner_text()
        page.screenshot(path=str(SCREENSHOTS / "central-users-ja.png"), full_page=True)
        row.locator("[data-test=unbind]").click()
        page.wait_for_load_state()
        assert "hospital-b" not in _roles(central, "auditor")
        assert "ログインできません" in page.locator("tr[data-user=auditor]").inner_text()  # no role left
        group = page.locator("[data-test=group-form]")
        group.locator("select[name=user]").select_option("auditor")
        group.locator("select[name=role]").select_option("viewer")
        group.locator("[data-test=group-role]").click()
        page.wait_for_load_state()
        assert "全拠点の閲覧者" in page.locator("tr[data-user=auditor]").inner_text()
        assert _roles(central, "auditor").split("\t")[1] == "viewer"
        page.click("[data-test=lang-en]")
        page.wait_for_load_state()
        assert "viewer of every site" in page.locator("tr[data-user=auditor]").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "central-users-en.png"), full_page=True)
        page.click("[data-test=lang-ja]")
        page.wait_for_load_state()
    # A request the page never offers: the administrator demoting their own account.
    client = _client(central, GROUP)
    token = client.token("/admin/users/")
    form = {"user": GROUP[0], "action": "group", "role": "viewer", "csrf_token": token}
    assert client.post("/admin/users/", form)[0] == 302
    assert "自分のアカウントの役割は変更できません" in client.get("/admin/users/")[2].decode()
    assert _roles(central, GROUP[0]).split("\t")[1] == "admin", _roles(central, GROUP[0])
