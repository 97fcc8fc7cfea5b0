"""The backups page in a real browser (Debian's chromium through Playwright): jobs checked by `mamori backups`, in
every state, a restore test recorded through the form, screenshots in Japanese and English for a person to look at
(test-artifacts/screenshots/backups-ja.png, backups-en.png)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser import open_page
from tests.integration.conftest import run_mamori
from tests.integration.dashboard import Dashboard, add_user, start_dashboard
from tests.integration.test_web_browser import (
    ADMIN,
    VIEWER,
    login,
    open_menu,
    shot,
)

DAY = 86400.0


def _generations(folder: Path, ages_in_days: list[float]) -> None:
    now = time.time()
    for n, age in enumerate(ages_in_days):
        gen = folder / f"emr-2026-11-{n + 1:02d}"
        gen.mkdir(parents=True)
        (gen / "karte.dump").write_bytes(b"x" * 100)
        os.utime(gen / "karte.dump", (now - age * DAY, now - age * DAY))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("backups-web")
    _generations(folder / "emr", [6, 5, 4, 3, 2, 1, 0.3])  # seven generations, the newest 7 h old
    _generations(folder / "pacs", [9, 8])  # too few, and the newest 8 days old
    config = folder / "site.yaml"
    config.write_text(
        "site: {name: みなと総合病院}\n"
        "storage: {path: mamori.db}\n"
        "web: {secret_key_file: web-secret.key}\n"
        "backups:\n"
        "  - name: 電子カルテ\n"
        f"    path: {folder / 'emr'}\n"
        "    every: 24h\n    generations: 7\n    what: 電子カルテの DB ダンプ\n"
        '    offline: {host: 10.4.0.50, online: "02:00-04:00", timezone: Asia/Tokyo}\n'
        f"  - {{name: PACS 画像, path: {folder / 'pacs'}, every: 24h, generations: 7, what: 医用画像}}\n"
        "  - {name: ファイルサーバ, kind: wsb, computer: FS01, logs: [missing-logs], every: 24h, generations: 7}\n",
        encoding="utf-8",
    )
    run_mamori("backups", "--config", str(config))
    add_user(config, *ADMIN[:1], "admin", ADMIN[1])
    add_user(config, VIEWER[0], "viewer", VIEWER[1])
    server = start_dashboard(config)
    yield server
    server.stop()


def page_for(browser: Any, dashboard: Dashboard) -> Any:
    return open_page(browser, dashboard.base)


def test_the_backups_page_shows_each_jobs_state_and_records_a_restore_test(browser: Any, site: Dashboard) -> None:
    page = page_for(browser, site)
    login(page, ADMIN)
    open_menu(page, "運用", "バックアップ")
    page.wait_for_url("**/backups/")
    rows = page.locator("table.backups tbody tr")
    assert rows.count() == 3
    emr, pacs, fs = (rows.nth(i).inner_text() for i in range(3))
    assert "電子カルテ" in emr and "正常" in emr and "7（設定 7）" in emr and "10.4.0.50" in emr
    assert "時間前" in emr
    assert "未実施（期限切れ）" in pacs and "2（設定 7）" in pacs and "8 日前" in pacs
    assert "バックアップの未実施" in pacs and "バックアップの世代不足" in pacs  # the open alerts, linked
    assert "確認できない" in fs and "ログのファイルが見つかりません" in fs and "were not found" not in fs
    page.select_option("select[name=job]", "電子カルテ")
    page.fill("input[name=tested_on]", "2026-11-20")
    page.fill("input[name=what]", "患者 3 名分のカルテを検証用サーバに復元")
    page.fill("input[name=by]", "情報システム課 山田")
    page.click("[data-test=restore-form] button[type=submit]")
    page.wait_for_url("**/backups/")
    emr = page.locator("table.backups tbody tr").nth(0).inner_text()
    assert "2026-11-20 情報システム課 山田: 患者 3 名分のカルテを検証用サーバに復元" in emr and "日前" in emr
    assert "患者 3 名分" in page.locator("[data-test=restore-tests]").inner_text()
    shot(page, "backups-ja")
    page.click("[data-test=lang-en]")
    page.wait_for_load_state()
    text = page.locator("table.backups").inner_text()
    assert "Missed (overdue)" in text and "2 (declared 7)" in text and "days ago" in text
    assert "Backup missed" in text and "Too few backup generations" in text
    assert "the log files were not found" in text and "見つかりません" not in text
    shot(page, "backups-en")
    page.click("[data-test=lang-ja]")
    page.wait_for_load_state()


def test_a_future_day_is_refused_and_a_viewer_cannot_record(browser: Any, site: Dashboard) -> None:
    page = page_for(browser, site)
    login(page, ADMIN)
    page.goto("/backups/")
    page.evaluate("document.querySelector('input[name=tested_on]').removeAttribute('max')")
    page.fill("input[name=tested_on]", "2999-01-01")
    page.fill("input[name=what]", "x")
    page.fill("input[name=by]", "y")
    page.click("[data-test=restore-form] button[type=submit]")
    assert "未来の日付は使えません。" in page.content()
    viewer = page_for(browser, site)
    login(viewer, VIEWER)
    viewer.goto("/backups/")
    assert viewer.locator("[data-test=restore-form]").count() == 0
    assert "復元テストを記録できるのは管理者だけです。" in viewer.content()
