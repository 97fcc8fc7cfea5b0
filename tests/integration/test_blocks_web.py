"""The Blocked devices page in a real browser (Debian's chromium via Playwright), ja and en, with a real block: the
block manager shuts a port of the simulated switch (snmpsim), whose description is hostile text; an administrator
releases it with one click (CSRF-checked POST); the manager carries the release out and the switch port comes back
up. The manager is wired as the sensor wires it (runtime/blocking.build_block_manager: the store, an alert writer),
so the block and its release are on the audit page too, worded in Japanese and English.
Screenshots: test-artifacts/screenshots/blocked-*.png, audit-blocks-*.png."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mamori.blocking import BlockEvent, BlockManager
from mamori.config import SnmpPortAction, load_settings
from mamori.model import Alert, Severity
from mamori.runtime.blocking import block_alert
from mamori.testing import FakeClock
from tests.integration.browser import SCREENSHOTS, chromium, log_in, open_page, playwright_api
from tests.integration.dashboard import Dashboard, add_user, demo_site, start_dashboard
from tests.integration.snmp_agent import Agent, admin_status, simulated_switch

playwright_api()

ADMIN = ("kanri", "Kanri-pass-2026!")
VIEWER = ("etsuran", "Etsuran-pass-2026!")
HOSTILE_MAC = "02:4b:00:00:00:aa"  # on Gi1/0/11, whose description is a script tag and a spreadsheet formula


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dashboard, BlockManager, Agent, Any]]:
    from mamori.runtime.blocking import build_block_manager
    from mamori.storage import AlertWriter, Store

    folder = tmp_path_factory.mktemp("blocks-web")
    config = demo_site(folder)
    add_user(config, ADMIN[0], "admin", ADMIN[1])
    add_user(config, VIEWER[0], "viewer", VIEWER[1])
    with simulated_switch(folder) as agent:
        with config.open("a", encoding="utf-8") as f:  # the switch, and the action the sensor would run
            f.write(agent.switch_yaml("2c") + "actions:\n  - {name: shut-port, type: snmp-port}\n")
        settings = load_settings(config)
        store = Store(settings.database_path)
        writer = AlertWriter(store, interval=0.1)
        manager = build_block_manager(
            settings, settings.site, [], store=store, writer=writer, dispatcher=lambda: None,
            record=writer.submit_deliveries, clock=FakeClock(),
        )  # fmt: skip
        assert manager is not None
        server = start_dashboard(config)
        try:
            yield server, manager, agent, writer
        finally:
            server.stop()
            writer.close()


def _page(browser: Any, base: str, locale: str) -> Any:
    return open_page(browser, base, locale=locale, viewport={"width": 1400, "height": 900})


def test_blocked_devices_page_and_one_click_release(setup: tuple[Dashboard, BlockManager, Agent, Any]) -> None:
    server, manager, agent, writer = setup
    action = SnmpPortAction(name="shut-port", type="snmp-port")
    alert = Alert(uid="f" * 32, rule="unregistered-terminal", key=HOSTILE_MAC, severity=Severity.HIGH,
                  first_seen=1.0, last_seen=1.0, count=1, src_mac=HOSTILE_MAC, src_ip="10.1.0.170")  # fmt: skip
    record = manager.block_port(alert, action)
    assert record.state == "active", record
    assert admin_status(agent, 11) == 2
    # the database work above first: Playwright's sync API runs an event loop in this thread, where Django's
    # ORM refuses to be called
    with chromium() as browser:
        viewer = _page(browser, server.base, "ja-JP")
        log_in(viewer, VIEWER)
        viewer.goto("/blocks/")
        assert viewer.locator("[data-test=release]").count() == 0  # a viewer sees, but cannot release
        page = _page(browser, server.base, "ja-JP")
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
        log_in(page, ADMIN)
        page.goto("/blocks/")
        row = page.locator(f"tr[data-block='{record.id}']")
        assert row.count() == 1
        text = row.inner_text()
        assert "遮断中" in text and "Gi1/0/11" in text
        assert "<script>alert('x')</script>=cmd|' /C calc'!A0" in text  # shown as text, never run
        assert page.locator("script:text('alert')").count() == 0
        page.screenshot(path=str(SCREENSHOTS / "blocked-ja.png"), full_page=True)
        page.click(f"tr[data-block='{record.id}'] [data-test=release]")
        page.wait_for_load_state()
        assert dialogs and "解除" in dialogs[0]
        assert "解除を依頼済み" in page.locator(f"tr[data-block='{record.id}']").inner_text()
        # The sensor's timer tick carries the request out (on a thread of its own, as in the sensor: Playwright's
        # event loop runs in this one).
        tick = threading.Thread(target=manager.check)
        tick.start()
        tick.join(30)
        assert admin_status(agent, 11) == 1
        page.goto("/blocks/")
        assert page.locator("[data-test=none-blocked]").count() == 1
        history = page.locator("[data-test=blocks-history]").inner_text()
        assert "解除済み" in history and ADMIN[0] in history
        page.screenshot(path=str(SCREENSHOTS / "blocked-released-ja.png"), full_page=True)
        # The audit page: the block the sensor made, the administrator's request, the sensor's release.
        page.goto("/admin/audit/")
        made = page.locator("tr[data-action='block.blocked']")
        assert made.count() == 1
        text = made.inner_text()
        assert "センサー（mamori watch）" in text and "機器を遮断" in text and HOSTILE_MAC in text
        assert "Gi1/0/11" in text and "<script>alert('x')</script>=cmd|' /C calc'!A0" in text  # as text
        assert page.locator("main script").count() == 0
        requested = page.locator("tr[data-action='block.release']").inner_text()
        assert ADMIN[0] in requested and "遮断の解除を依頼" in requested
        released = page.locator("tr[data-action='block.released']").inner_text()
        assert "遮断を解除" in released and f"requested by: {ADMIN[0]}" in released
        page.screenshot(path=str(SCREENSHOTS / "audit-blocks-ja.png"), full_page=True)
        english = _page(browser, server.base, "en-US")
        log_in(english, ADMIN)
        english.goto("/blocks/")
        english.click("[data-test=lang-en]")
        english.wait_for_load_state()
        assert english.locator("h1").inner_text() == "Blocked devices"
        assert "released" in english.locator("[data-test=blocks-history]").inner_text()
        english.screenshot(path=str(SCREENSHOTS / "blocked-en.png"), full_page=True)
        english.goto("/admin/audit/")
        made_en = english.locator("tr[data-action='block.blocked']").inner_text()
        assert "Sensor (mamori watch)" in made_en and "Device blocked" in made_en
        assert "Block released" in english.locator("tr[data-action='block.released']").inner_text()
        english.screenshot(path=str(SCREENSHOTS / "audit-blocks-en.png"), full_page=True)
        # The device-blocked alert the sensor raised is on the alert page, its port as the switch named it.
        writer.flush()
        uid = block_alert(BlockEvent(record, "blocked"), 0.0)
        assert uid is not None
        english.goto(f"/alerts/{uid.uid}/")  # the administrator chose English above: the account's language now
        shown = english.locator("main").inner_text()
        assert "Device blocked" in shown and "was released" in shown and "Gi1/0/11" in shown
        assert "<script>alert('x')</script>=cmd|' /C calc'!A0" in shown and english.locator("main script").count() == 0
