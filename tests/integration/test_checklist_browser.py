"""The checklist and the asset ledger in a real browser (Debian's chromium through Playwright), and the grouped
navigation bar, on the demo hospital plus a remote-maintenance vendor and a backup job checked by `mamori backups`.

An answer confirmed on the page is read back from the XLSX the page gives; devices confirmed and retired and a
comparison recorded on the ledger page change the checklist's 2-① evidence. Screenshots for a person to look at:
test-artifacts/screenshots/checklist-ja.png, checklist-en.png, assets-ja.png, assets-en.png, nav-ja.png.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser import open_page
from tests.integration.conftest import run_mamori
from tests.integration.dashboard import Dashboard, add_user, demo_site, start_dashboard
from tests.integration.test_web_browser import (
    ADMIN,
    CSP_WATCH,
    VENDOR_MAC,
    VIEWER,
    login,
    open_menu,
    shot,
)

openpyxl = pytest.importorskip("openpyxl")

DAY = 86400.0
EXTRA = """
vendors:
  - name: 東和メディカル
    sources: [10.20.0.0/24]
    devices: [192.168.10.11, dialysis-srv]
    work_plans:
      - {{every: month, day: 10, time: "13:00", duration: 2h, targets: [192.168.10.11], ports: [3389]}}
backups:
  - name: 電子カルテ
    path: {backup}
    every: 24h
    generations: 3
    what: 電子カルテの DB ダンプ
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("checklist-web")
    config = demo_site(folder)
    now = time.time()
    for n, age in enumerate((2.0, 1.0, 0.25)):
        gen = folder / "backup" / f"emr-{n}"
        gen.mkdir(parents=True)
        (gen / "karte.dump").write_bytes(b"x" * 64)
        os.utime(gen / "karte.dump", (now - age * DAY, now - age * DAY))
    with config.open("a", encoding="utf-8") as out:
        out.write(EXTRA.format(backup=folder / "backup"))
    run_mamori("backups", "--config", str(config))
    add_user(config, *ADMIN[:1], "admin", ADMIN[1])
    add_user(config, VIEWER[0], "viewer", VIEWER[1])
    server = start_dashboard(config)
    yield server
    server.stop()


def page_for(browser: Any, dashboard: Dashboard, *, account: tuple[str, str] = ADMIN) -> Any:
    page = open_page(browser, dashboard.base, accept_downloads=True)
    login(page, account)
    return page


def row(page: Any, number: str) -> Any:
    return page.locator(f"tr[data-item='{number}']")


def evidence(page: Any, number: str) -> str:
    return str(row(page, number).locator("td.evidence").inner_text())


def test_the_navigation_groups_pages_and_works_with_the_keyboard(browser: Any, site: Dashboard) -> None:
    page = page_for(browser, site)
    nav = page.locator("nav.main")
    top = ["概況", "インシデント", "アラート", "ネットワーク", "運用", "点検・報告", "管理"]
    assert nav.inner_text().split() == top
    network = nav.locator("[data-menu=network]")
    assert not network.locator(".submenu").is_visible()
    network.hover()
    assert network.locator(".submenu a").all_inner_texts() == [
        "端末台帳\n部門システムごとの正規端末",
        "機器台帳\nネットワークで見えたすべての機器",
        "ゾーン\nセグメント間の通信",
        "公開状況\n各ホストが提供しているサービス",
        "遮断中の機器\nネットワークから遮断した機器と、その解除",
    ]
    shot(page, "nav-ja")
    page.mouse.move(1200, 800)
    assert not network.locator(".submenu").is_visible()
    # Keyboard only: Tab to the menu's label opens it, Tab goes into it, Enter follows the link.
    page.locator("a.brand").focus()
    for _ in range(4):  # brand -> overview, incidents, alerts -> the Network label
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "ネットワーク"
    assert network.locator(".submenu").is_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "/assets/"
    page.keyboard.press("Enter")
    page.wait_for_url("**/assets/")
    assert "active" in (network.get_attribute("class") or "")  # the page's menu is marked as the current one
    open_menu(page, "点検・報告", "チェックリスト")
    page.wait_for_url("**/checklist/")
    assert page.locator("h1").inner_text() == "サイバーセキュリティ対策チェックリスト"


def test_confirm_an_answer_and_find_it_in_the_xlsx(browser: Any, site: Dashboard, tmp_path: Path) -> None:
    page = page_for(browser, site)
    page.add_init_script(CSP_WATCH)
    page.goto("/checklist/")
    assert page.locator("[data-test=tab]").all_inner_texts() == [
        "医療機関確認用",
        "HEASNET 小規模機関型",
        "事業者確認用: 東和メディカル",
    ]
    assert row(page, "2-⑬").locator("td").nth(1).inner_text().startswith("接続元制限を実施している。")
    assert row(page, "2-⑦").locator("[data-test=unconfirmed]").inner_text() == "【文言未確認】"
    assert row(page, "2-⑬").locator("[data-test=unconfirmed]").count() == 0
    # The evidence of each part, with links to its page.
    text = evidence(page, "2-⑬")
    assert "3 の部門システムのうち 3 が接続元を正規端末（登録 5 台）に限定して監視しています。" in text
    assert "過去30日の未登録端末からの接続の検知:" in text
    assert row(page, "2-⑬").locator("a[href='/terminals/']").count() == 1
    assert "観測した機器 10 台（確認済み 0、未確認 10" in evidence(page, "2-①")
    assert "提案: いいえ" in evidence(page, "2-①")
    text = evidence(page, "2-②")
    assert "保守業者 1 社のうち保守する機器を登録している業者 1 社（機器 2 件）。" in text
    assert "提案: はい" in text
    text = evidence(page, "3-②")
    assert "バックアップのジョブ 1 件（確認済み 1、正常 1）。正常なジョブの方法: folder、最大 3 世代。" in text
    assert "電子カルテ: 正常、最終成功 " in text and "、世代 3（設定 3）。" in text
    assert "復元テストの記録がありません。" in text
    assert row(page, "3-②").locator("a[href='/backups/']").count() >= 1
    assert "まだありません" in evidence(page, "2-⑫")  # no scan yet: not observed
    assert "mamori では観測できません" in evidence(page, "2-⑫")

    # いいえ needs a target day: refused, nothing stored, the form stays open with the message.
    form = row(page, "2-⑬").locator("[data-test=answer-form]")
    row(page, "2-⑬").locator("details.answer-form summary").click()
    form.locator("input[value=no]").check()
    form.locator("textarea[name=note]").fill("VLAN 分離は来年度")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert row(page, "2-⑬").locator("[data-test=target-error]").inner_text() == (
        "「いいえ」の場合は、対応を終える目標日を入力してください。"
    )
    assert row(page, "2-⑬").locator("[data-test=answer]").inner_text().startswith("未回答")
    form = row(page, "2-⑬").locator("[data-test=answer-form]")
    form.locator("input[name=checked_on]").fill("2026-11-30")
    form.locator("input[name=target_on]").fill("2027-03-31")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    answer = row(page, "2-⑬").locator("[data-test=answer]").inner_text()
    assert answer.startswith("いいえ\n確認日: 2026-11-30\n目標日: 2027-03-31\n回答者: kanri, "), answer
    assert "VLAN 分離は来年度" in answer
    assert "回答済み 1 項目（はい 0、いいえ 1）" in page.locator("[data-test=form-summary]").inner_text()
    assert page.evaluate("window.__csp") == []
    shot(page, "checklist-ja")

    with page.expect_download() as info:
        page.click("[data-test=checklist-xlsx]")
    xlsx = tmp_path / "checklist.xlsx"
    info.value.save_as(xlsx)
    sheet = openpyxl.load_workbook(xlsx).worksheets[0]
    found = [r for r in sheet.iter_rows(values_only=True) if r[0] == "2-⑬"]
    assert len(found) == 1
    assert found[0][2:7] == (None, "○", "2026-11-30", "2027-03-31", "kanri")
    with page.expect_download() as info:
        page.click("[data-test=checklist-pdf]")
    assert Path(info.value.path()).read_bytes().startswith(b"%PDF")

    page.click("[data-test=lang-en]")
    page.wait_for_load_state()
    try:
        assert page.locator("h1").inner_text() == "Cybersecurity checklist"
        assert "3 of 3 department systems restrict connections to registered terminals" in evidence(page, "2-⑬")
        assert row(page, "2-⑦").locator("[data-test=unconfirmed]").inner_text() == "[wording not confirmed]"
        shot(page, "checklist-en")
    finally:
        page.click("[data-test=lang-ja]")
        page.wait_for_load_state()


def test_the_vendor_form_and_the_inspection_pack(browser: Any, site: Dashboard) -> None:
    page = page_for(browser, site)
    page.goto("/checklist/")
    page.click("[data-test=tab] >> text=事業者確認用: 東和メディカル")
    text = evidence(page, "2-②")
    assert "東和メディカル が保守する機器 2 件: 192.168.10.11、dialysis-srv。" in text
    assert "作業計画 1 件（うちダッシュボードで登録 0 件）。過去30日の接続 0 件、うち計画と異なる 0 件。" in text
    with page.expect_download() as info:
        page.click("[data-test=inspection-pack]")
    with zipfile.ZipFile(info.value.path()) as pack:
        names = set(pack.namelist())
    assert {"checklist/medical.xlsx", "checklist/vendor-東和メディカル.pdf", "ledger/assets.csv"} <= names
    assert page.goto("/checklist/?form=vendor:nobody").status == 404


def test_the_asset_ledger_confirm_retire_compare_and_the_2_1_evidence(browser: Any, site: Dashboard) -> None:
    page = page_for(browser, site)
    page.add_init_script(CSP_WATCH)
    page.goto("/assets/")
    assert page.locator("h1").inner_text() == "機器台帳：ネットワークで見えたすべての機器"
    assert page.locator("[data-test=count-unknown]").inner_text() == "10"
    assert page.locator("[data-test=last-comparison]").inner_text() == "台帳と実機の照合はまだ記録されていません。"
    rows = page.locator("table.assets tbody tr")
    assert rows.count() == 10
    server = page.locator("tr[data-mac='02:10:00:00:01:11']")
    assert "透析システム: dialysis-srv (サーバ)" in server.inner_text()
    assert "6000" in server.inner_text()

    server.locator("[data-test=confirm-form] input[name=name]").fill("透析サーバ（サーバ室ラック3）")
    with page.expect_navigation():
        server.locator("[data-test=confirm-form] button").click()
    assert page.locator("[data-test=count-confirmed]").inner_text() == "1"
    assert page.locator("table.assets tbody tr").last.get_attribute("data-mac") == "02:10:00:00:01:11"  # unknown first
    confirmed = page.locator("tr[data-mac='02:10:00:00:01:11']")
    assert "確認済み" in confirmed.inner_text() and "透析サーバ（サーバ室ラック3）" in confirmed.inner_text()
    assert "kanri" in confirmed.inner_text()
    # A name is needed to confirm.
    laptop = page.locator(f"tr[data-mac='{VENDOR_MAC}']")
    with page.expect_navigation():
        laptop.locator("[data-test=confirm-form] button").click()
    assert "名前が必要です" in page.locator("[data-test=review-error]").inner_text()
    # Retire the vendor's laptop (asked first).
    laptop = page.locator(f"tr[data-mac='{VENDOR_MAC}']")
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        laptop.locator("[data-test=retire-form] button").click()
    assert page.locator("[data-test=count-retired]").inner_text() == "1"
    assert page.locator("table.assets tbody tr").last.get_attribute("data-mac") == VENDOR_MAC
    # Record the comparison with reality.
    page.fill("[data-test=compare-form] input[name=missing]", "1")
    page.fill("[data-test=compare-form] input[name=compare_note]", "2F 検査室のプリンタが見当たらない")
    with page.expect_navigation():
        page.click("[data-test=compare-form] button")
    today = dt.date.today().isoformat()
    last = page.locator("[data-test=last-comparison]").inner_text()
    assert last.startswith(f"前回の照合: {today}") and "kanri" in last
    assert "台帳の機器 9 台、その時点の未確認 8 台、現場で見つからなかった機器 1 台。" in last
    assert page.evaluate("window.__csp") == []
    shot(page, "assets-ja")

    with page.expect_download() as info:
        page.click("[data-test=assets-csv]")
    table = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))
    by_mac = {r[0]: r for r in table[1:]}
    assert by_mac["02:10:00:00:01:11"][9] == "透析サーバ（サーバ室ラック3）"
    assert by_mac[VENDOR_MAC][8] == "廃止 / retired"
    with page.expect_download() as info:
        page.click("[data-test=assets-xlsx]")
    sheet = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).worksheets[0]
    named = [r[9] for r in sheet.iter_rows(values_only=True) if r[0] == "02:10:00:00:01:11"]
    assert named == ["透析サーバ（サーバ室ラック3）"]

    page.goto("/checklist/")
    text = evidence(page, "2-①")
    assert "観測した機器 9 台（確認済み 1、未確認 8、登録端末・サーバと一致 8、廃止 1）。" in text
    assert f"台帳と実機の照合: {today}（kanri）、その時点の未確認機器 8 台。" in text
    assert "提案: いいえ" in text  # 8 devices are still unknown

    page.click("[data-test=lang-en]")
    page.wait_for_load_state()
    try:
        page.goto("/assets/")
        assert page.locator("h1").inner_text() == "Asset ledger: every device seen on the network"
        assert "Last compared on" in page.locator("[data-test=last-comparison]").inner_text()
        shot(page, "assets-en")
    finally:
        page.click("[data-test=lang-ja]")
        page.wait_for_load_state()


def test_a_viewer_sees_the_pages_but_cannot_change_them(browser: Any, site: Dashboard) -> None:
    page = page_for(browser, site, account=VIEWER)
    page.goto("/checklist/")
    assert page.locator("[data-test=answer-form]").count() == 0
    assert "回答を確定できるのは管理者だけです。" in page.content()
    page.goto("/assets/")
    assert page.locator("[data-test=confirm-form], [data-test=compare-form]").count() == 0
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    csrf = {"csrf_token": token}
    for url, form in (
        ("/checklist/answer/", {"form": "medical", "item": "2-①", "answer": "yes", "checked_on": "2026-11-30"}),
        ("/assets/review/", {"mac": "02:10:00:00:01:21", "action": "retire"}),
        ("/assets/compare/", {"missing": "0"}),
    ):
        assert page.request.post(url, form={**csrf, **form}, max_redirects=0).status == 403, url
    page.goto("/assets/")
    assert "未確認" in page.locator("tr[data-mac='02:10:00:00:01:21']").inner_text()  # the viewer retired nothing
