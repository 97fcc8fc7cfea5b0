"""A Windows event log that ends early, as the dashboard shows it: ``mamori evtx analyze --config`` records each file
it read, and the overview's table of sensors and sources gives the cut file's row where it stops and how many records
were read. Debian's chromium driven by Playwright, against `mamori web`; the log is a real one (DeepBlueCLI, see its
SOURCE.md) cut short in the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser import log_in, open_page, playwright_api
from tests.integration.conftest import run_mamori
from tests.integration.dashboard import Dashboard, add_user, start_dashboard

playwright_api()

ADMIN = ("kanri", "Kanri-pass-2026!")


@pytest.fixture
def cut_log(shared_data: Path, tmp_path: Path) -> Path:
    cut = tmp_path / "logs" / "Security.evtx"
    cut.parent.mkdir()
    with (shared_data / "evtx/deepbluecli/evtx/password-spray.evtx").open("rb") as f:
        cut.write_bytes(f.read(70_000))  # 104 of its 295 records, the file cut inside its second chunk
    return cut


@pytest.fixture
def dashboard(tmp_path: Path, cut_log: Path, shared_data: Path) -> Iterator[Dashboard]:
    config = tmp_path / "site.yaml"
    config.write_text(f"storage: {{path: {tmp_path / 'mamori.db'}}}\n", encoding="utf-8")
    whole = shared_data / "evtx/deepbluecli/evtx/smb-password-guessing-security.evtx"
    run_mamori("evtx", "analyze", "--config", str(config), "--json", str(cut_log), str(whole))
    add_user(config, ADMIN[0], "admin", ADMIN[1])
    server = start_dashboard(config)
    yield server
    server.stop()


def test_the_overview_shows_where_a_cut_evtx_file_stops(dashboard: Dashboard, cut_log: Path, browser: Any) -> None:
    page: Any = open_page(browser, dashboard.base)
    log_in(page, ADMIN)
    page.wait_for_url(dashboard.base + "/")
    section = page.locator("section", has_text="センサーとログ収集")
    table = section.locator("table")
    row = table.locator("tbody tr", has_text=str(cut_log))
    assert row.count() == 1, section.inner_text()
    text = row.inner_text()
    assert "evtx" in text
    assert "ファイルが途中で終わっています: 70,000 バイトで切れています" in text
    assert "読めたレコードは 104 件です" in text
    assert "the file ends early: it stops at byte 70,000 of 200,704" in text
    whole = table.locator("tbody tr", has_text="smb-password-guessing-security.evtx")
    assert whole.count() == 1 and "ends early" not in whole.inner_text()
    page.context.close()
