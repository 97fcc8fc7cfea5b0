"""The terminal ledger on a real SQLite file: upsert counts, retire, re-activate, IP-only terminals, dry runs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mamori.storage import ImportResult, Ledger, LedgerEntry, Store, active_terminals_in
from mamori.testing import FakeClock

DIALYSIS = "透析システム"
LAB = "検査システム"


def _entries() -> list[LedgerEntry]:
    return [
        LedgerEntry(DIALYSIS, "透析端末-1", "02:10:00:00:02:01", "192.168.10.101", "2 階 透析室"),
        LedgerEntry(DIALYSIS, "透析端末-2", "02:10:00:00:02:02", None),
        LedgerEntry(LAB, "検査端末-1", "02:10:00:00:03:01", "192.168.10.121"),
    ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_000.0)


@pytest.fixture
def ledger(tmp_path: Path, clock: FakeClock) -> Ledger:
    return Ledger(Store(tmp_path / "m.db"), clock=clock.now)


def test_upsert_counts_added_unchanged_updated(ledger: Ledger, clock: FakeClock) -> None:
    assert ledger.upsert(_entries(), "import") == ImportResult(added=3)
    clock.advance(60)
    assert ledger.upsert(_entries(), "import") == ImportResult(unchanged=3)
    changed = [*_entries()[:2], LedgerEntry(LAB, "検査端末-1", "02:10:00:00:03:01", "192.168.10.199", "移設")]
    clock.advance(60)
    assert ledger.upsert(changed, "learn") == ImportResult(updated=1, unchanged=2)
    terminals = {t.mac: t for t in ledger.terminals()}
    assert [t.name for t in ledger.terminals()] == ["検査端末-1", "透析端末-1", "透析端末-2"]
    moved = terminals["02:10:00:00:03:01"]
    assert (moved.ip, moved.note, moved.source) == ("192.168.10.199", "移設", "learn")
    assert moved.created_at == 1_800_000_000.0
    assert moved.updated_at == 1_800_000_120.0
    assert terminals["02:10:00:00:02:02"].ip is None
    assert terminals["02:10:00:00:02:01"].source == "import"


def test_retire_and_reactivate(ledger: Ledger, clock: FakeClock) -> None:
    ledger.upsert(_entries(), "import")
    clock.advance(3600)
    assert ledger.retire(DIALYSIS, "02:10:00:00:02:02") is True
    assert ledger.retire(DIALYSIS, "02:10:00:00:02:02") is False  # already retired
    assert ledger.retire(LAB, "02:10:00:00:02:02") is False  # another system's terminal
    assert "02:10:00:00:02:02" not in {t.mac for t in ledger.terminals()}
    retired = [t for t in ledger.terminals(include_retired=True) if not t.active]
    assert [(t.mac, t.retired_at) for t in retired] == [("02:10:00:00:02:02", 1_800_003_600.0)]
    assert ledger.upsert(_entries(), "import") == ImportResult(unchanged=2, reactivated=1)
    assert all(t.active for t in ledger.terminals(include_retired=True))


def test_terminals_behind_a_router_are_kept_by_ip(ledger: Ledger) -> None:
    routed = [
        LedgerEntry(LAB, "via-router", "", "10.20.0.55", "ルータ経由"),
        LedgerEntry(LAB, "via-router", "", "10.20.0.56"),
        LedgerEntry(LAB, "via-router", "", "2001:db8::56"),
    ]
    assert ledger.upsert(routed, "learn") == ImportResult(added=3)
    assert ledger.upsert(routed, "learn") == ImportResult(unchanged=3)
    assert sorted((t.mac, t.ip) for t in ledger.terminals()) == [
        ("", "10.20.0.55"),
        ("", "10.20.0.56"),
        ("", "2001:db8::56"),
    ]
    assert ledger.retire(LAB, "", ip="10.20.0.56") is True
    assert {t.ip for t in ledger.terminals()} == {"10.20.0.55", "2001:db8::56"}
    with pytest.raises(ValueError, match="neither a MAC nor an IP"):
        ledger.upsert([LedgerEntry(LAB, "x", "", None)], "import")
    with pytest.raises(ValueError, match="needs a MAC"):
        ledger.retire(LAB, "")


def test_dry_run_counts_and_writes_nothing(ledger: Ledger, tmp_path: Path) -> None:
    assert ledger.upsert(_entries(), "import", dry_run=True) == ImportResult(added=3)
    assert ledger.terminals() == []
    with sqlite3.connect(tmp_path / "m.db") as db:
        assert db.execute("SELECT count(*) FROM mamori_terminal").fetchone()[0] == 0


def test_last_duplicate_wins_and_unknown_source_is_refused(ledger: Ledger) -> None:
    first, *_ = _entries()
    again = LedgerEntry(first.system, "改名", first.mac, first.ip)
    assert ledger.upsert([first, again], "import") == ImportResult(added=1)
    assert [t.name for t in ledger.terminals()] == ["改名"]
    with pytest.raises(ValueError, match="known: import, learn, web"):
        ledger.upsert([first], "excel")


def test_a_second_store_on_the_same_file_reads_the_ledger(tmp_path: Path) -> None:
    Ledger(Store(tmp_path / "m.db")).upsert(_entries(), "import")
    assert len(Ledger(Store(tmp_path / "m.db")).terminals()) == 3


def test_the_read_only_query_gives_what_the_orm_gives(ledger: Ledger, clock: FakeClock, tmp_path: Path) -> None:
    """``analyze --no-store`` reads the ledger with one sqlite3 query (no Django): the same entries, in the same
    order, retired ones left out, IP-only terminals with mac ""."""
    clock.advance(0.123456)  # a fraction of a second, as stored times have
    ledger.upsert([*_entries(), LedgerEntry(LAB, "via-router", "", "10.20.0.55", "ルータ経由")], "learn")
    clock.advance(60)
    ledger.retire(DIALYSIS, "02:10:00:00:02:02")
    read = active_terminals_in(tmp_path / "m.db")
    assert read == ledger.terminals()
    assert read is not None and len(read) == 3 and read[0].created_at == 1_800_000_000.123456


def test_the_read_only_query_declines_what_it_cannot_read(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("not a database")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE mamori_terminal (id integer, system text)")  # another layout
    assert active_terminals_in(notes) is None
    assert active_terminals_in(other) is None
    assert active_terminals_in(tmp_path / "missing.db") is None
    assert not (tmp_path / "missing.db").exists()  # read-only: nothing created


def test_the_read_only_query_does_not_import_django(ledger: Ledger, tmp_path: Path) -> None:
    ledger.upsert(_entries(), "import")
    code = (
        "import sys; from pathlib import Path; from mamori.storage import active_terminals_in; "
        f"n = len(active_terminals_in(Path({str(tmp_path / 'm.db')!r}))); "
        "print(n, 'django' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["3", "False"]
