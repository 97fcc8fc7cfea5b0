"""Failed logins against the real dashboard, from several computers (local addresses 127.0.0.1-3 on loopback).

Someone on the LAN who tries the administrator's name with wrong passwords locks that name from their own
computer only: the administrator still logs in at theirs. A password sprayed over many user names from one
computer (one try each, never enough to lock any name) throttles that computer. The security page shows both, in
a real browser; ``mamori user unlock`` lifts either.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.browser import SCREENSHOTS, chromium, log_in, open_page
from tests.integration.conftest import run_mamori
from tests.integration.dashboard import Client, Dashboard, add_user, start_dashboard

ADMIN = ("kanri", "Kanri-pass-2026!")
NURSE = ("kango", "Kango-pass-2026!")
FAILURES, ADDRESS_FAILURES = 3, 6
INTRUDER, SPRAYER = "127.0.0.2", "127.0.0.3"  # the administrator's browser connects from 127.0.0.1


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("web-lockout")
    config = folder / "site.yaml"
    config.write_text(
        "site: {name: テスト病院}\n"
        "storage: {path: mamori.db}\n"
        "web:\n"
        "  secret_key_file: web-secret.key\n"
        f"  lockout: {{failures: {FAILURES}, address_failures: {ADDRESS_FAILURES}, cooloff: 1h}}\n",
        encoding="utf-8",
    )
    add_user(config, ADMIN[0], "admin", ADMIN[1])
    add_user(config, NURSE[0], "viewer", NURSE[1])
    server = start_dashboard(config)
    yield server
    server.stop()


def _login(dashboard: Dashboard, source: str, account: tuple[str, str]) -> tuple[int, str]:
    client = Client(dashboard, source=source)
    status, _headers, body = client.login(*account)
    return status, body.decode()


@pytest.mark.slow
def test_a_lock_is_per_name_and_address_and_a_sprayer_is_throttled(dashboard: Dashboard, tmp_path: Path) -> None:
    # Someone at another computer tries the administrator's name: that name is locked there, right password or not.
    answers = [_login(dashboard, INTRUDER, (ADMIN[0], f"guess-{i}"))[0] for i in range(FAILURES)]
    assert answers == [200] * (FAILURES - 1) + [403]
    status, page_text = _login(dashboard, INTRUDER, ADMIN)
    assert status == 403 and "このコンピュータからはこのアカウントはロックされています" in page_text

    # A password sprayed from a third computer, one try per name: no name is locked, the computer is throttled.
    names = [NURSE[0], "admin", "root", "nurse01", "ishi", "jimu"]
    answers = [_login(dashboard, SPRAYER, (name, "Spring2026!"))[0] for name in names]
    assert answers == [200] * (ADDRESS_FAILURES - 1) + [429]
    status, page_text = _login(dashboard, SPRAYER, NURSE)  # even the right password of a real account
    assert status == 429 and "このコンピュータからのログインの失敗が多すぎる" in page_text
    assert _login(dashboard, INTRUDER, NURSE)[0] == 302  # the nurse at any other computer logs in

    with chromium() as browser:
        page = open_page(browser, dashboard.base)
        log_in(page, ADMIN)  # the administrator at their own desk is not locked out
        assert page.url == f"{dashboard.base}/", page.content()
        page.goto("/admin/security/")
        locked = page.locator("[data-test=locked-pair]")
        assert locked.count() == 1
        # the right password tried while locked counted as one more failure
        assert locked.locator("td").all_inner_texts()[1:] == [ADMIN[0], INTRUDER, str(FAILURES + 1)]
        throttled = page.locator("[data-test=throttled-address]")
        assert throttled.count() == 1
        assert throttled.locator("td").all_inner_texts()[1:] == [SPRAYER, str(len(names)), str(ADDRESS_FAILURES)]
        events = page.locator("section.card", has=page.locator("h2", has_text="アカウントのロック"))
        assert events.locator("tbody tr", has_text="ユーザー名のロック").filter(has_text=INTRUDER).count() == 1
        assert events.locator("tbody tr", has_text="アドレスの停止").filter(has_text=SPRAYER).count() == 1
        page.screenshot(path=str(SCREENSHOTS / "security-lockouts.png"), full_page=True)

    run_mamori("user", "unlock", "--config", str(dashboard.config), "--address", SPRAYER)
    assert _login(dashboard, SPRAYER, NURSE)[0] == 302
    run_mamori("user", "unlock", "--config", str(dashboard.config), ADMIN[0])
    assert _login(dashboard, INTRUDER, ADMIN)[0] == 302
