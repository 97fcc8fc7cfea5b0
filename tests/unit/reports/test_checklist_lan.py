"""Checklist evidence from logins seen in clear text (2-⑫ cleartext methods in use, 2-⑧ password reuse): exact
lines and proposals against a real SQLite store whose logins the test writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.model import CleartextLogin, Site
from mamori.reports.checklist import BUILTIN_PROVIDERS, EvidenceContext
from mamori.reports.checklist.base import NO
from mamori.reports.checklist.lan import lan_checklist_evidence
from mamori.storage import Store
from mamori.storage.lan import CleartextLoginTable

NOW = 1_796_000_000.0  # 2026-11-30 (UTC)
DAY = 86400.0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "mamori.db")


def _by_item(store: Store) -> dict[tuple[str, str], tuple[str | None, str, bool]]:
    found = lan_checklist_evidence(EvidenceContext(store, Site(), NOW))
    return {(e.form, e.item): (e.proposed, e.lines[0].en, e.observed) for e in found}


def test_the_provider_is_registered_for_both_items_of_both_forms() -> None:
    (provider,) = [p for p in BUILTIN_PROVIDERS if p.name == "cleartext"]
    assert set(provider.items) == {("medical", "2-⑫"), ("medical", "2-⑧"), ("vendor", "2-⑫"), ("vendor", "2-⑧")}


def test_nothing_seen_proposes_nothing_and_says_when_it_would_be_seen(store: Store) -> None:
    found = _by_item(store)
    assert set(found) == {("medical", "2-⑫"), ("medical", "2-⑧"), ("vendor", "2-⑫"), ("vendor", "2-⑧")}
    for proposed, line, observed in found.values():
        assert proposed is None and not observed
        assert line.startswith("No login in clear text was recorded in the last 30 days")


def test_cleartext_in_use_proposes_no_and_a_reused_password_proposes_no(store: Store) -> None:
    table = CleartextLoginTable(store)
    table.save(
        [
            CleartextLogin(NOW - DAY, "ftp", "10.1.0.101", "10.1.0.20", 21, "kensa", "a1b2c3"),
            CleartextLogin(NOW - DAY, "ftp", "10.1.0.101", "10.1.0.20", 21, "kensa", "a1b2c3"),
            CleartextLogin(NOW - 2 * DAY, "http", "10.1.0.102", "10.1.0.30", 80, "kensa", "a1b2c3"),
            CleartextLogin(NOW - 2 * DAY, "telnet", "10.1.0.103", "10.1.0.40", 23, "root", "ffff01"),
            CleartextLogin(NOW - 60 * DAY, "pop3", "10.1.0.104", "10.1.0.50", 110, "old", "0000aa"),  # too old
        ]
    )
    found = _by_item(store)
    proposed, line, observed = found["medical", "2-⑫"]
    assert proposed == NO and observed
    assert line == (
        "4 logins in clear text were seen in the last 30 days (3 services: FTP 10.1.0.20:21, HTTP Basic "
        "10.1.0.30:80, Telnet 10.1.0.40:23). Move them to an encrypted method or stop the service."
    )
    proposed, line, observed = found["vendor", "2-⑧"]
    assert proposed == NO and observed
    assert line.startswith("The same password is used on several servers: 1 (kensa → 10.1.0.20, 10.1.0.30 (")
    assert "a1b2c3" not in line  # not even the tag reaches a reader


def test_cleartext_without_reuse_never_proposes_yes_for_password_reuse(store: Store) -> None:
    CleartextLoginTable(store).save([CleartextLogin(NOW - DAY, "ftp", "10.1.0.101", "10.1.0.20", 21, "kensa", "a1")])
    proposed, line, _observed = _by_item(store)["medical", "2-⑧"]
    assert proposed is None
    assert "does not prove there is no reuse" in line
