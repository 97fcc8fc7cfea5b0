"""Debian's chromium driven by Playwright, for the tests that use the dashboard as a person does: where it is, how it
is started, a page in a fresh context (Japanese locale, Tokyo time, a 1280×900 window) and the login form.
Screenshots go to test-artifacts/screenshots/ (git-ignored) for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "SCREENSHOTS", "chromium", "log_in", "open_page", "playwright_api"]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def playwright_api() -> Any:
    """playwright.sync_api; the calling test (or module, at import) is skipped when the browser or Playwright is
    missing (tests/conftest.py turns that skip into a failure under CI)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api")


@contextmanager
def chromium() -> Iterator[Any]:
    """A running chromium (headless), closed afterwards."""
    api = playwright_api()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, base_url: str, *, locale: str = "ja-JP", **options: Any) -> Any:
    """A page in a new browser context (no cookies) on ``base_url``; ``options`` go to ``new_context``."""
    settings: dict[str, Any] = {"timezone_id": "Asia/Tokyo", "viewport": {"width": 1280, "height": 900}}
    settings.update(options)
    context = browser.new_context(base_url=base_url, locale=locale, **settings)
    context.set_default_timeout(15_000)
    return context.new_page()


def log_in(page: Any, account: tuple[str, str]) -> None:
    """Fill in and send the login form (the caller checks where it lands)."""
    page.goto("/login/")
    page.fill("input[name=username]", account[0])
    page.fill("input[name=password]", account[1])
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_load_state()
