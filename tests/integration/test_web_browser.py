"""The dashboard in a real browser: Debian's chromium driven by Playwright, against `mamori web` on the demo data.

The demo (`mamori demo --no-web`) gives the seven alerts of the demo hospital's morning; an administrator and a
viewer are made with `mamori user add`. Screenshots of the main pages go to test-artifacts/screenshots/ (git-ignored)
for a person to look at: they must read well in Japanese.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, log_in, playwright_api
from tests.integration.dashboard import Dashboard, add_user, demo_site, start_dashboard

sync_api = playwright_api()
__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "SCREENSHOTS", "sync_api"]  # imported by other tests from here

ADMIN = ("kanri", "Kanri-pass-2026!")
VIEWER = ("etsuran", "Etsuran-pass-2026!")
LOCKED = ("kensa", "Kensa-pass-2026!")  # the account the lockout test locks; nobody else uses it
VENDOR_MAC = "02:66:00:00:be:ef"  # the demo's vendor laptop (mamori.demo.scenario.VENDOR_LAPTOP)
FAILURE_LIMIT = 5  # web.lockout.failures, the default (the demo site file does not set it)

Page = Any  # playwright.sync_api.Page


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("web-browser")
    config = demo_site(folder)
    add_user(config, *ADMIN[:1], "admin", ADMIN[1])
    add_user(config, VIEWER[0], "viewer", VIEWER[1])
    add_user(config, LOCKED[0], "viewer", LOCKED[1])
    server = start_dashboard(config)
    yield server
    server.stop()


@pytest.fixture
def new_page(browser: Any, dashboard: Dashboard) -> Iterator[Any]:
    """Pages in fresh browser contexts (no cookies), Japanese locale, every request recorded."""
    contexts: list[Any] = []

    def make() -> Page:
        context = browser.new_context(
            base_url=dashboard.base,
            locale="ja-JP",
            timezone_id="Asia/Tokyo",
            viewport={"width": 1280, "height": 900},
            accept_downloads=True,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        return page

    yield make
    for context in contexts:
        context.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def login(page: Page, account: tuple[str, str], *, expect_ok: bool = True) -> None:
    log_in(page, account)
    if expect_ok:
        assert not page.url.split("?")[0].endswith("/login/"), page.content()


def open_menu(page: Page, menu: str, item: str) -> None:
    """Follow a link of the navigation bar's menu ``menu`` (the menus open on hover and on keyboard focus)."""
    group = page.locator("nav.main .menu", has=page.locator(".menu-label", has_text=menu))
    group.hover()
    group.locator(".submenu a", has_text=item).first.click()


def alert_rows(page: Page) -> Any:
    return page.locator("#alert-table table.alerts tbody tr")


def open_alert(page: Page, rule: str, text: str = "") -> str:
    """Open the alert of ``rule`` whose row contains ``text``; returns its uid."""
    page.goto(f"/alerts/?rule={rule}")
    row = alert_rows(page).filter(has_text=text)
    assert row.count() == 1, page.content()
    uid = row.get_attribute("data-uid")
    row.locator("a").first.click()
    page.wait_for_url(f"**/alerts/{uid}/")
    return str(uid)


def filter_by(page: Page, name: str, value: str) -> None:
    """Choose a filter value: htmx reloads the table (and puts the filter in the address)."""
    with page.expect_response(lambda r: "/alerts/?" in r.url and f"{name}={value}" in r.url):
        page.select_option(f"form.filters select[name={name}]", value)
    page.wait_for_url(re.compile(rf"{name}={value}"))


def test_login_in_japanese_then_overview(new_page: Any, dashboard: Dashboard) -> None:
    page = new_page()
    page.goto("/")
    assert "/login/?next=/" in page.url  # no session: the login page
    assert page.locator("html").get_attribute("lang") == "ja"
    assert page.locator("h1").inner_text() == "ログイン"
    assert page.locator("label", has_text="ユーザー名").count() == 1
    assert page.locator("label", has_text="パスワード").count() == 1
    shot(page, "login")

    login(page, ADMIN)
    assert page.url == dashboard.base + "/"
    assert page.locator("h1").inner_text() == "概況"
    assert page.locator("[data-test=open-critical]").inner_text() == "2"
    assert page.locator("[data-test=open-high]").inner_text() == "5"
    assert page.get_by_text("優先して対応").count() == 1
    assert page.locator("section", has_text="最新のアラート").locator("tbody tr").count() == 7
    assert "demo-" in page.locator("section", has_text="センサーとログ収集").inner_text()  # the capture's health
    # The chart is drawn by the vendored Chart.js: no request leaves the dashboard (no CDN).
    page.wait_for_function("() => window.Chart !== undefined && Chart.getChart('chart') !== undefined")
    assert all(url.startswith(dashboard.base) for url in page.requested), page.requested
    shot(page, "overview")


def test_alert_list_shows_the_demo_alerts_and_filters(new_page: Any) -> None:
    page = new_page()
    login(page, ADMIN)
    page.goto("/alerts/")
    assert alert_rows(page).count() == 7
    assert page.get_by_text("アラート 7 件").count() == 1
    rules = alert_rows(page).locator("td:nth-child(3)").all_inner_texts()
    # the rule catalogue's titles (mamori.rules)
    assert sorted(rules) == sorted(
        ["ARP 詐称・IP-MAC の不一致", "SYN フラッド", "ポートスキャン"] + ["未登録端末の接続"] * 4
    )
    shot(page, "alerts")

    filter_by(page, "rule", "port-scan")
    assert alert_rows(page).count() == 1
    assert "ポートスキャン" in alert_rows(page).first.inner_text()
    filter_by(page, "rule", "unregistered-terminal")
    assert alert_rows(page).count() == 4
    filter_by(page, "severity", "critical")  # critical and above, still unregistered terminals only
    assert alert_rows(page).count() == 1
    assert "10.20.0.55" in alert_rows(page).first.inner_text()
    filter_by(page, "rule", "")
    assert alert_rows(page).count() == 2  # both critical alerts: the router-borne IP and the ARP spoofing
    shot(page, "alerts-filtered")

    page.goto(f"/alerts/?terminal={VENDOR_MAC.upper()}")  # a MAC in capitals finds it too
    assert alert_rows(page).count() == 5
    page.goto("/alerts/?since=2000-01-01&until=2099-12-31")
    assert alert_rows(page).count() == 7
    page.goto("/alerts/?since=2099-01-01")
    assert page.locator("[data-test=no-alerts]").is_visible()


def test_alert_detail_and_acknowledge(new_page: Any) -> None:
    page = new_page()
    login(page, ADMIN)
    uid = open_alert(page, "port-scan", "192.168.10.200")
    assert "ポートスキャン" in page.locator("h1").inner_text()
    assert page.locator("[data-test=status]").inner_text() == "未対応"
    assert page.locator("table.evidence tbody tr").count() > 0  # the packet samples behind the alert
    assert page.get_by_text("通知と対応").count() == 1  # the delivery record (no action in the demo)
    shot(page, "alert-detail")

    page.click("[data-test=acknowledge]")
    page.wait_for_url(f"**/alerts/{uid}/")
    assert page.locator("[data-test=status]").inner_text() == "確認済み"
    assert "kanri" in page.locator("ul.history").inner_text()
    page.goto("/admin/audit/")
    assert page.locator("tbody tr", has_text=uid).filter(has_text="alert.acknowledge").count() == 1


def test_resolve_needs_a_comment(new_page: Any) -> None:
    page = new_page()
    login(page, ADMIN)
    uid = open_alert(page, "syn-flood")
    page.click("[data-test=resolve]")  # no comment: refused
    page.wait_for_load_state()
    assert page.locator("p.error", has_text="コメント").count() == 1
    assert page.locator("[data-test=status]").inner_text() == "未対応"

    comment = "上流スイッチで送信元を遮断し、透析サーバの稼働を確認した。"
    page.fill("[data-test=comment]", comment)
    page.click("[data-test=resolve]")
    page.wait_for_url(f"**/alerts/{uid}/")
    assert page.locator("[data-test=status]").inner_text() == "対応済み"
    assert comment in page.locator("p.comment").inner_text()
    assert comment in page.locator("ul.history").inner_text()


def test_register_the_vendor_laptop_from_its_alert(new_page: Any) -> None:
    page = new_page()
    login(page, ADMIN)
    uid = open_alert(page, "unregistered-terminal", "透析システム")
    # The laptop also scanned the lab server, flooded the dialysis server and claimed the router's IP: said
    # before anyone clicks.
    warning = page.locator("[data-test=register-warning]").inner_text()
    assert "注意: この送信元は ポートスキャン、SYN フラッド、ARP 詐称・IP-MAC の不一致 も検知されています。" in warning
    shot(page, "register-warning")
    page.click("[data-test=register]")
    page.wait_for_url(f"**/alerts/{uid}/register/")
    confirm = page.locator("dl.facts").inner_text()  # what will be registered, before anything changes
    assert "透析システム" in confirm
    assert VENDOR_MAC in confirm
    others = page.locator("[data-test=other-alerts]")
    assert others.locator("li").count() == 3  # each other alert, with a link to it
    for words in ("ポートスキャン（SYN スキャン）: 192.168.10.200", "SYN フラッド", "ARP 詐称の疑い"):
        assert words in others.inner_text(), words
    box = page.locator("[data-test=confirm-others]")
    label = page.locator("label.confirm").inner_text()
    assert "ポートスキャン、SYN フラッド、ARP 詐称・IP-MAC の不一致 のアラートを確認し" in label
    page.fill("[data-test=terminal-name]", "保守業者ノートPC")
    shot(page, "register-confirm")

    # Without the box ticked, the browser does not send the form, and the server refuses it anyway.
    page.click("[data-test=confirm-register]")
    assert page.url.endswith(f"/alerts/{uid}/register/")
    assert box.evaluate("b => b.validity.valueMissing")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        f"/alerts/{uid}/register/",
        form={"csrf_token": token, "csrfmiddlewaretoken": token, "name": "保守業者ノートPC"},
        max_redirects=0,
    )
    assert answer.status == 400
    assert "チェックを入れてください" in answer.text()
    page.goto("/terminals/")
    assert "保守業者ノートPC" not in page.content()  # nothing registered before the confirmation

    page.go_back()
    page.fill("[data-test=terminal-name]", "保守業者ノートPC")
    box.check()
    page.click("[data-test=confirm-register]")
    page.wait_for_url(f"**/alerts/{uid}/")
    assert page.locator("[data-test=status]").inner_text() == "対応済み"
    assert "保守業者ノートPC" in page.locator("ul.history").inner_text()

    open_menu(page, "ネットワーク", "端末台帳")
    page.wait_for_url("**/terminals/")
    section = page.locator("section.card", has=page.locator("h2", has_text="透析システム"))
    row = section.locator("tbody tr", has_text="保守業者ノートPC")
    assert row.count() == 1
    assert VENDOR_MAC in row.inner_text()
    shot(page, "terminals")


def test_a_false_positive_needs_no_comment_and_a_clean_source_no_warning(new_page: Any) -> None:
    page = new_page()
    login(page, ADMIN)
    uid = open_alert(page, "unregistered-terminal", "10.20.0.55")  # the maintenance VPN, behind the router
    assert page.locator("[data-test=register]").count() == 1
    assert page.locator("[data-test=register-warning]").count() == 0  # it scanned nothing, flooded nothing
    page.click("[data-test=register]")
    page.wait_for_url(f"**/alerts/{uid}/register/")
    assert page.locator("[data-test=other-alerts]").count() == 0
    assert page.locator("[data-test=confirm-others]").count() == 0
    page.goto(f"/alerts/{uid}/")
    page.click("[data-test=false-positive]")  # no comment written
    page.wait_for_url(f"**/alerts/{uid}/")
    assert page.locator("p.error").count() == 0
    assert page.locator("[data-test=status]").inner_text() == "誤検知"
    assert "誤検知" in page.locator("ul.history").inner_text()
    shot(page, "false-positive")


def test_terminal_import_preview_and_confirm(new_page: Any) -> None:
    page = new_page()
    login(page, ADMIN)
    page.goto("/terminals/import/")
    ledger = "システム,端末名,MAC アドレス,IP アドレス,備考\r\n検査システム,検査端末-3,02:10:00:00:03:03,,採血室\r\n"
    page.set_input_files(
        "input[name=file]", {"name": "台帳.csv", "mimeType": "text/csv", "buffer": ledger.encode("cp932")}
    )
    page.click("form[enctype] button[type=submit]")
    page.wait_for_load_state()
    preview = page.locator("table.list tbody tr")
    assert preview.count() == 1
    assert "検査端末-3" in preview.inner_text()
    shot(page, "import-preview")
    page.click("[data-test=confirm-import]")
    page.wait_for_url("**/terminals/")
    assert "追加 1 台" in page.locator("ul.messages").inner_text()
    assert page.locator("tbody tr", has_text="検査端末-3").count() == 1


def test_export_csv_and_xlsx(new_page: Any) -> None:
    from openpyxl import load_workbook

    page = new_page()
    login(page, ADMIN)
    page.goto("/alerts/")
    with page.expect_download() as info:
        page.click("[data-test=export-csv]")
    data = Path(info.value.path()).read_bytes()
    assert info.value.suggested_filename.endswith(".csv")
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["初回検知", "最終検知", "重大度"]
    assert len(rows) == 1 + 7

    with page.expect_download() as info:
        page.click("[data-test=export-xlsx]")
    assert info.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()), read_only=True)
    sheet_rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert sheet_rows[0][:3] == ("初回検知", "最終検知", "重大度")
    assert len(sheet_rows) == 1 + 7

    page.goto("/alerts/?rule=port-scan")  # the export follows the list's filters
    with page.expect_download() as info:
        page.click("[data-test=export-csv]")
    assert len(list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))) == 2


def test_switch_to_english_and_back(new_page: Any) -> None:
    page = new_page()
    login(page, ADMIN)
    page.goto("/alerts/")
    try:
        page.click("[data-test=lang-en]")
        page.wait_for_load_state()
        assert page.url.endswith("/alerts/")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").inner_text() == "Alerts"
        assert page.locator("nav.main").inner_text().split("\n") == [
            "Overview",
            "Incidents",
            "Alerts",
            "Network",
            "Operations",
            "Inspection & reports",
            "Administration",
        ]
        assert "Unregistered terminal" in page.locator("#alert-table").inner_text()
        page.goto("/")
        shot(page, "overview-en")
        second = new_page()  # the choice is the user's: another browser logs in to English
        login(second, ADMIN)
        assert second.locator("h1").inner_text() == "Overview"
    finally:
        page.goto("/")
        if page.locator("[data-test=lang-ja]").count():
            page.click("[data-test=lang-ja]")
            page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "概況"


def test_viewer_sees_no_change_buttons_and_is_refused(new_page: Any) -> None:
    page = new_page()
    login(page, VIEWER)
    assert "閲覧者" in page.locator(".user").inner_text() or "viewer" in page.locator(".user").inner_text()
    assert page.locator("nav.main .menu-label", has_text="管理").count() == 0
    uid = open_alert(page, "ip-mac-conflict", VENDOR_MAC)
    for button in ("acknowledge", "resolve", "false-positive", "register"):
        assert page.locator(f"[data-test={button}]").count() == 0
    assert page.get_by_text("アラートの状態を変更できるのは管理者だけです。").count() == 1
    page.goto("/terminals/")
    assert page.locator("[data-test=add-terminal]").count() == 0
    assert page.locator("form[action='/terminals/retire/']").count() == 0

    hidden = page.locator("input[name=csrfmiddlewaretoken], input[name=csrf_token]").first
    token = hidden.get_attribute("value")  # a valid token, from a form of the page
    csrf = {"csrfmiddlewaretoken": token, "csrf_token": token}
    answer = page.request.post(f"/alerts/{uid}/action/", form={**csrf, "action": "acknowledge"}, max_redirects=0)
    assert answer.status == 403
    answer = page.request.post(
        "/terminals/edit/",
        form={**csrf, "system": "透析システム", "name": "x", "mac": "02:00:00:00:00:09"},
        max_redirects=0,
    )
    assert answer.status == 403
    page.goto(f"/alerts/{uid}/")
    assert page.locator("[data-test=status]").inner_text() == "未対応"
    assert page.goto("/admin/audit/").status == 403


def test_monthly_pdf(new_page: Any, tmp_path: Path) -> None:
    page = new_page()
    login(page, ADMIN)
    page.goto("/alerts/")
    month = alert_rows(page).first.locator("td.nowrap").inner_text()[:7]  # the demo's month, as YYYY-MM
    page.goto("/reports/")
    assert page.locator("h1").inner_text() == "レポート"
    shot(page, "reports")
    page.select_option("select[name=month]", month)
    with page.expect_download() as info:
        page.click("[data-test=monthly-pdf]")
    pdf = tmp_path / "report.pdf"
    info.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "月次報告" in text
        assert "ポートスキャン" in text  # a high alert's summary, in Japanese
        assert "センサーの稼働" in text


def test_failed_logins_lock_the_account(new_page: Any) -> None:
    page = new_page()
    for attempt in range(1, FAILURE_LIMIT + 1):
        login(page, (LOCKED[0], f"wrong-password-{attempt}"), expect_ok=False)
        error = page.locator("[data-test=login-error]").inner_text()
        if attempt < FAILURE_LIMIT:
            assert error == "ユーザー名またはパスワードが正しくありません。", (attempt, error)
    assert "ロックされています" in error
    page.goto("/login/")
    login(page, LOCKED, expect_ok=False)  # the right password, too late
    assert "ロックされています" in page.locator("[data-test=login-error]").inner_text()
    assert page.locator("input[name=password]").count() == 0
    shot(page, "locked-out")

    admin = new_page()
    login(admin, ADMIN)  # the lock is the user name's (from this address): the administrator still logs in
    admin.goto("/admin/security/")
    lockouts = admin.locator("section.card", has=admin.locator("h2", has_text="ロック"))
    assert lockouts.locator("tbody tr", has_text=LOCKED[0]).count() >= 1
    shot(admin, "security")


CSP_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sample || ""));
});
"""


def test_content_security_policy_holds_on_every_page(new_page: Any, dashboard: Dashboard) -> None:
    """Every page answers with a Content-Security-Policy that allows only the dashboard's own files, and no page
    needs more: no violation is reported while pages load, htmx filters the list and Chart.js draws."""
    page = new_page()
    page.add_init_script(CSP_WATCH)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    login(page, ADMIN)
    uid = open_alert(page, "ip-mac-conflict", VENDOR_MAC)
    violations: dict[str, list[str]] = {}
    for url in (
        "/",
        "/alerts/",
        f"/alerts/{uid}/",
        "/terminals/",
        "/terminals/edit/",
        "/terminals/import/",
        "/assets/",
        "/checklist/",
        "/reports/",
        "/admin/audit/",
        "/admin/security/",
    ):
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
        page.wait_for_load_state("networkidle")
        violations[url] = page.evaluate("window.__csp")
    page.goto("/")
    assert page.locator("#chart").evaluate("c => c.width") > 0  # Chart.js ran (a file of the dashboard)
    page.goto("/alerts/")
    filter_by(page, "severity", "high")  # htmx swapped the table
    violations["htmx"] = page.evaluate("window.__csp")
    assert {url: v for url, v in violations.items() if v} == {}
    assert not [text for text in console if "Content Security Policy" in text], console


def test_retiring_a_terminal_asks_first(new_page: Any) -> None:
    """The confirmation before retiring is a script file (data-confirm), not an inline handler the policy blocks."""
    page = new_page()
    login(page, ADMIN)
    page.goto("/terminals/edit/")
    page.fill("input[name=name]", "CSP-確認用端末")
    page.fill("input[name=mac]", "02:00:00:00:c5:01")
    page.click("form[action='/terminals/edit/'] button[type=submit]")
    page.wait_for_url("**/terminals/**")
    row = page.locator("tr", has_text="CSP-確認用端末")
    asked: list[str] = []

    def answer(accept: bool) -> None:
        page.once("dialog", lambda d: (asked.append(d.message), d.accept() if accept else d.dismiss()))

    answer(False)
    row.locator("form[action='/terminals/retire/'] button").click()
    page.wait_for_timeout(300)
    assert asked == ["この端末を廃止しますか？"]
    assert page.locator("tr", has_text="CSP-確認用端末").locator("form[action='/terminals/retire/']").count() == 1
    answer(True)
    with page.expect_navigation():
        row.locator("form[action='/terminals/retire/'] button").click()
    assert len(asked) == 2
    assert page.locator("tr", has_text="CSP-確認用端末").locator("form[action='/terminals/retire/']").count() == 0


def test_the_alert_page_says_what_it_means_and_what_to_do_in_both_languages(new_page: Any) -> None:
    """A non-programmer reads the alert page: the meaning and the response from the rule catalogue, the evidence
    in words (the raw JSON behind a toggle), the other alerts of the same source as links; Japanese and English."""
    page = new_page()
    login(page, ADMIN)
    uid = open_alert(page, "ip-mac-conflict")
    guidance = page.locator("[data-test=guidance]")
    assert "ARP で名乗りました" in guidance.locator("[data-test=meaning]").inner_text()
    assert "直ちに隔離します" in guidance.locator("[data-test=response]").inner_text()
    evidence = page.locator("[data-test=evidence]").inner_text()
    assert "ARP" in evidence and "にあると主張" in evidence
    details = page.locator("[data-test=details]").inner_text()
    assert "名乗った MAC" in details and "登録済みの IP を別の MAC が名乗った" in details, details
    assert "claimed_mac" not in details and "registered-binding" not in details, details
    shown = page.locator("main").inner_text()
    for repr_mark in ("True", "False", "None", "{'", "\\\\"):  # no Python repr reaches the reader
        assert repr_mark not in shown, repr_mark
    raw = page.locator("[data-test=raw] pre")
    assert not raw.is_visible()  # the JSON is there for whoever wants it, folded away
    page.locator("[data-test=raw] summary").click()
    assert '"_v": 1' in raw.inner_text()
    related = page.locator("[data-test=related] a")
    assert related.count() >= 2  # the same laptop scanned and connected too
    assert "ポートスキャン" in page.locator("[data-test=related]").inner_text()
    shot(page, "alert-guidance-ja")
    try:
        page.click("[data-test=lang-en]")
        page.wait_for_load_state()
        page.goto(f"/alerts/{uid}/")
        assert "claimed the IP of a registered server" in page.locator("[data-test=meaning]").inner_text()
        assert "isolate the device" in page.locator("[data-test=response]").inner_text()
        assert "claims" in page.locator("[data-test=evidence]").inner_text()
        details = page.locator("[data-test=details]").inner_text()
        assert "Claiming MAC" in details and "a registered IP claimed by another MAC" in details, details
        assert "Possible ARP spoofing" in page.locator("[data-test=summary]").inner_text()
        shot(page, "alert-guidance-en")
        related.first.click()
        page.wait_for_load_state()
        assert page.locator("[data-test=meaning]").count() == 1  # the related alert explains itself too
    finally:
        page.goto("/")
        if page.locator("[data-test=lang-ja]").count():
            page.click("[data-test=lang-ja]")
            page.wait_for_load_state()
