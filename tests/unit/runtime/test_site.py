"""The effective site: the settings file's site plus the ledger, checked by the real detection engine."""

from __future__ import annotations

from pathlib import Path

from mamori.detection import Engine
from mamori.runtime import effective_site, merge_ledger
from mamori.storage import Ledger, LedgerEntry, Store
from tests.conftest import make_settings
from tests.unit.detection.helpers import ROUTER, SITE, STRANGER, TERMINAL, syn

DIALYSIS = "透析システム"
LEDGER_PC = ("02:42:00:00:00:21", "10.77.0.21")
ROUTED_PC = "10.30.0.7"


def _ledger(tmp_path: Path) -> Store:
    store = Store(tmp_path / "m.db")
    Ledger(store).upsert(
        [
            LedgerEntry(DIALYSIS, "ledger-pc", LEDGER_PC[0], LEDGER_PC[1]),
            LedgerEntry(DIALYSIS, "via-router", "", ROUTED_PC, "ルータ経由"),
            LedgerEntry(DIALYSIS, "dup of dialysis-pc-1", TERMINAL[0], "10.77.0.99"),
            LedgerEntry("眼科システム", "eye-pc", "02:42:00:00:00:31", None),
            LedgerEntry("眼科システム", "eye-pc-2", "02:42:00:00:00:32", None),
        ],
        "import",
    )
    return store


def test_ledger_terminals_join_their_systems(tmp_path: Path) -> None:
    settings = make_settings(SITE, tmp_path)
    warnings: list[str] = []
    site = effective_site(settings, _ledger(tmp_path), warn=warnings.append)
    dialysis = next(s for s in site.systems if s.name == DIALYSIS)
    by_name = {t.name: t for t in dialysis.terminals}
    assert by_name["ledger-pc"].mac == LEDGER_PC[0]
    assert by_name["ledger-pc"].ip == LEDGER_PC[1]
    # Behind the router: registered as (router MAC, IP), which is what a routed SYN carries.
    assert (by_name["via-router"].mac, by_name["via-router"].ip) == (ROUTER[0], ROUTED_PC)
    # The settings file's entry for a MAC wins over the ledger's.
    assert [t.ip for t in dialysis.terminals if t.mac == TERMINAL[0]] == [TERMINAL[1]]
    assert "dup of dialysis-pc-1" not in by_name
    assert len(warnings) == 2
    assert "2 ledger terminal(s) of system '眼科システム'" in warnings[0]
    assert "is also in the settings file; the file's entry (IP 10.77.0.12) is used" in warnings[1]
    # The other system and the settings themselves are untouched.
    assert site.systems[1] == settings.site.systems[1]
    assert site.gateways == settings.site.gateways


def test_the_engine_accepts_ledger_terminals_and_still_catches_strangers(tmp_path: Path) -> None:
    settings = make_settings(SITE, tmp_path)
    site = effective_site(settings, _ledger(tmp_path), warn=lambda _m: None)
    engine = Engine(site, settings.detection)
    t = 1_800_000_000.0
    engine.feed(
        [
            syn(t, LEDGER_PC),
            syn(t + 1, (ROUTER[0], ROUTED_PC)),
            syn(t + 2, TERMINAL),
            syn(t + 3, STRANGER),
            syn(t + 4, (ROUTER[0], "10.30.0.8")),
            syn(t + 5, (TERMINAL[0], "10.77.0.99")),  # the ledger's IP for a file terminal does not count
        ]
    )
    alerts = engine.collect_changes()
    assert sorted((a.details["reason"], a.src_ip) for a in alerts) == [
        ("ip-mismatch", "10.77.0.99"),
        ("unregistered-ip", "10.30.0.8"),
        ("unregistered-mac", STRANGER[1]),
    ]


def test_without_a_store_or_ledger_the_site_is_the_files(tmp_path: Path) -> None:
    settings = make_settings(SITE, tmp_path)
    assert effective_site(settings, None) is settings.site
    assert effective_site(settings, Store(tmp_path / "empty.db")) is settings.site
    retired = LedgerEntry(DIALYSIS, "old", "02:42:00:00:00:41", retired_at=1.0)
    assert merge_ledger(settings.site, [retired]) is settings.site


def test_ip_only_terminals_without_routers(tmp_path: Path) -> None:
    settings = make_settings(
        """
        systems:
          - name: 透析システム
            servers: [10.77.0.11]
            ports: [6000]
        """,
        tmp_path,
    )
    warnings: list[str] = []
    site = merge_ledger(settings.site, [LedgerEntry(DIALYSIS, "fw-pc", "", "10.30.0.7")], warn=warnings.append)
    (terminal,) = site.systems[0].terminals
    assert (terminal.mac, terminal.ip) == ("", "10.30.0.7")
    assert warnings and "no gateways" in warnings[0]
