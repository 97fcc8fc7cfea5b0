"""`mamori doctor` reports each block still in force with its age (runtime/doctor.check_blocks): a warning while the
sensor keeps it (the timer will lift it, or only a person will), a problem once it is past its release time or its
release was asked for and it still stands (the sensor is stopped: a switch port shut over SNMP stays shut). The
blocks are written by the block book the sensor uses (storage.BlockTable) into a real database."""

from __future__ import annotations

from pathlib import Path

from mamori.blocking import BlockRecord
from mamori.runtime.doctor import check_blocks
from mamori.storage import BlockTable, Store
from tests.conftest import make_settings

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC: 17:00 in Tokyo


def _record(block_id: str, mac: str, state: str, created: float, **fields: object) -> BlockRecord:
    return BlockRecord(id=block_id, method="snmp-port", action="shut-port", alert_uid="u", rule="unregistered-terminal",
                       mac=mac, ip="10.75.0.66", state=state, created_at=created,
                       place="floor2-access Gi1/0/5 (ifIndex 5)", **fields)  # type: ignore[arg-type]  # fmt: skip


def test_blocks_in_force_are_reported_with_their_age(tmp_path: Path) -> None:
    settings = make_settings(f"storage: {{path: {tmp_path / 'mamori.db'}}}\n", tmp_path)
    assert check_blocks(settings, NOW) == []  # no database yet: nothing to say (check_database says it)
    store = Store(settings.database_path)
    book = BlockTable(store)
    book.save(_record("held", "02:4b:00:00:00:66", "active", NOW - 3 * 86400 - 5 * 3600))  # by hand only
    book.save(_record("timed", "02:4b:00:00:00:67", "active", NOW - 1800, release_at=NOW + 12600))
    book.save(_record("late", "02:4b:00:00:00:68", "active", NOW - 7200, release_at=NOW - 600))
    book.save(_record("asked", "02:4b:00:00:00:69", "active", NOW - 7200, release_requested_at=NOW - 900,
                      release_requested_by="kanri"))  # fmt: skip
    book.save(_record("gone", "02:4b:00:00:00:70", "released", NOW - 7200, released_at=NOW - 3600))
    book.save(_record("dry", "02:4b:00:00:00:71", "dry-run", NOW - 7200))  # nothing cut off
    store.close()

    found = {f.target: f for f in check_blocks(settings, NOW)}
    assert list(found) == ["02:4b:00:00:00:66", "02:4b:00:00:00:68", "02:4b:00:00:00:69", "02:4b:00:00:00:67"]
    held = found["02:4b:00:00:00:66"]
    assert (held.check, held.status) == ("blocks", "warning")
    assert held.found_en == (
        "02:4b:00:00:00:66 (10.75.0.66) is blocked (switch port shut, floor2-access Gi1/0/5 (ifIndex 5), "
        "since 2027-01-12 12:00: 3 d 5 h); it is not released automatically"
    )
    assert "3 日 5 時間" in held.found_ja and "自動では解除されません" in held.found_ja
    assert "Blocked devices page" in held.fix_en and "register it" in held.fix_en
    assert "遮断中の機器" in held.fix_ja and "端末台帳に登録" in held.fix_ja
    timed = found["02:4b:00:00:00:67"]
    assert timed.status == "warning" and "30 min" in timed.found_en and "not released" not in timed.found_en
    for overdue in ("02:4b:00:00:00:68", "02:4b:00:00:00:69"):
        finding = found[overdue]
        assert finding.status == "problem" and "is the sensor stopped?" in finding.found_en, finding
        assert finding.fix_en.startswith("start the sensor (mamori watch)")
        assert "センサー（mamori watch）を起動" in finding.fix_ja
