"""The evidence archive: hash chain, crash recovery, compression, retention, mirror, and tamper detection that
names the exact file, line and record."""

from __future__ import annotations

import datetime as dt
import errno
import gzip
import json
import os
import zoneinfo
from pathlib import Path

import pytest

from mamori.storage import archive as archive_module
from mamori.storage.archive import Archive, ArchiveWriteError, manifest_path
from mamori.storage.archive_format import day_path, iter_lines, parse_record
from mamori.storage.archive_keys import generate_key, load_signer, load_verifier
from mamori.storage.archive_maintenance import apply_retention, compress_closed_days, retention_days, sync_mirror
from mamori.storage.archive_verify import verify_archive
from mamori.testing import FakeClock

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
DAY1 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=TOKYO).timestamp()


@pytest.fixture
def keyfile(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "archive.key"
    generate_key(path)
    return path


def make(root: Path, keyfile: Path | None, clock: FakeClock) -> Archive:
    signer = load_signer(keyfile) if keyfile else None
    archive = Archive(root, signer=signer, clock=clock.now, zone=TOKYO, checkpoint_interval=0.0)
    archive.open()
    return archive


def lines(n: int, start: float, tag: str = "m", step: float = 1.0) -> list[tuple[float, str, str, int, bytes]]:
    return [
        (start + i * step, "udp", "192.0.2.1", 514, f"<13>{tag} {i} tab\there \\ nl\nend".encode()) for i in range(n)
    ]


def errors(root: Path, keyfile: Path | None, **kw: object) -> list[str]:
    verifier = load_verifier(keyfile) if keyfile else None
    report = verify_archive(root, verifier, **kw)  # type: ignore[arg-type]
    return sorted(str(f) for f in report.errors)


def two_days(tmp_path: Path, keyfile: Path) -> Path:
    root = tmp_path / "archive"
    clock = FakeClock(DAY1)
    archive = make(root, keyfile, clock)
    archive.append(lines(50, DAY1, "d1"))
    clock.set(DAY1 + 86400)
    archive.append(lines(50, DAY1 + 86400, "d2"))
    archive.close()
    return root


def rewrite(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    data = path.read_bytes().split(b"\n")
    edit(data)
    path.write_bytes(b"\n".join(data))


# -- writing and reading back -----------------------------------------------------------------------------------


def test_records_chain_across_days_and_verify_clean(tmp_path: Path, keyfile: Path) -> None:
    root = two_days(tmp_path, keyfile)
    assert errors(root, keyfile) == []
    report = verify_archive(root, load_verifier(keyfile))
    assert (report.records, report.first_seq, report.last_seq, report.days) == (100, 1, 100, 2)
    assert report.signatures == 2  # the closed day's manifest and the open day's head checkpoint
    manifest = json.loads(manifest_path(root, "2026-11-23").read_text())
    assert (manifest["records"], manifest["first_seq"], manifest["last_seq"]) == (50, 1, 50)
    assert manifest["algorithm"] == "ed25519" and manifest["signature"]
    header = next(iter_lines(day_path(root, "2026-11-24")))[1]
    assert f"prev={manifest['last_hash']}".encode() in header  # the second day links to the first


def test_raw_bytes_come_back_exactly(tmp_path: Path) -> None:
    root = tmp_path / "a"
    archive = make(root, None, FakeClock(DAY1))
    raw = b"<13>\x00\x01 tab\t back\\slash \\n not-newline\nnewline\r\xff\xfe"
    archive.append([(DAY1 + 0.123456, "tcp", "2001:db8::1", 6514, raw)])
    archive.close()
    (_, _, _), (_, line, complete) = list(iter_lines(day_path(root, "2026-11-23")))
    record = parse_record(line)
    assert complete and record is not None
    assert (record.raw, record.transport, record.sender, record.sender_port, record.seq) == (
        raw,
        "tcp",
        "2001:db8::1",
        6514,
        1,
    )
    assert record.received_at == "2026-11-23T09:00:00.123456+09:00"


def test_hmac_keys_sign_and_verify(tmp_path: Path) -> None:
    key = tmp_path / "k" / "hmac.key"
    generate_key(key, algorithm="hmac-sha256")
    root = two_days(tmp_path, key)
    assert errors(root, key) == []
    other = tmp_path / "k" / "other.key"
    generate_key(other, algorithm="hmac-sha256")
    assert any("signature" in e for e in errors(root, other))


def test_keygen_refuses_to_overwrite_and_is_private(tmp_path: Path) -> None:
    key = tmp_path / "archive.key"
    key_id, public = generate_key(key)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert public is not None and load_verifier(public).key_id == key_id == load_signer(key).key_id
    with pytest.raises(Exception, match="exists"):
        generate_key(key)


@pytest.mark.parametrize("algorithm", ["ed25519", "hmac-sha256"])
def test_no_key_material_in_a_repr(tmp_path: Path, algorithm: str) -> None:
    """A signer or verifier printed in a log line, an error or a traceback's locals shows no key bytes."""
    key = tmp_path / "archive.key"
    generate_key(key, algorithm=algorithm)
    signer = load_signer(key)
    secret = signer._secret
    for shown in (repr(signer), str(signer), repr(signer.verifier()), repr([signer])):
        assert repr(secret) not in shown and secret.hex() not in shown, shown
        assert signer.key_id in shown  # which key it is, still


# -- crashes and failures ---------------------------------------------------------------------------------------


def test_a_torn_last_record_is_cut_off_and_the_chain_continues(tmp_path: Path, keyfile: Path) -> None:
    root = tmp_path / "archive"
    clock = FakeClock(DAY1)
    archive = make(root, keyfile, clock)
    archive.append(lines(10, DAY1))
    archive.close()
    path = day_path(root, "2026-11-23")
    with path.open("ab") as f:
        f.write(b"11\t2026-11-23T09:00:10.000000+09:00\tudp\t192.0.2.1\t514\t<13>half a rec")  # killed mid-write
    assert any(
        e.endswith("the last record is incomplete (cut off by a crash or a copy)")
        for e in [str(f) for f in verify_archive(root, load_verifier(keyfile)).findings]
    )
    again = make(root, keyfile, clock)
    assert any("cut off" in note for note in again.notes)
    assert again.seq == 10
    again.append(lines(5, DAY1 + 100, "after"))
    again.close()
    assert errors(root, keyfile) == []
    assert verify_archive(root, None).records == 15


def test_a_day_left_open_is_closed_at_the_next_start(tmp_path: Path, keyfile: Path) -> None:
    root = tmp_path / "archive"
    clock = FakeClock(DAY1)
    archive = make(root, keyfile, clock)
    archive.append(lines(3, DAY1))
    archive.close()  # stopped; restarted two days later
    clock.set(DAY1 + 2 * 86400)
    again = make(root, keyfile, clock)
    assert manifest_path(root, "2026-11-23").exists()
    again.append(lines(3, clock.now(), "later"))
    again.close()
    assert errors(root, keyfile) == []


def test_a_failed_write_commits_nothing_and_can_be_retried(tmp_path: Path, keyfile: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "archive"
    archive = make(root, keyfile, FakeClock(DAY1))
    archive.append(lines(5, DAY1))
    real_write = os.write
    calls = {"n": 0}

    def half_then_full(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[:7]))  # a partial write...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(archive_module.os, "write", half_then_full)
    with pytest.raises(ArchiveWriteError) as caught:
        archive.append(lines(5, DAY1 + 10, "lost?"))
    assert caught.value.errno == errno.ENOSPC
    assert archive.seq == 5
    monkeypatch.setattr(archive_module.os, "write", real_write)
    archive.append(lines(5, DAY1 + 10, "retried"))
    archive.close()
    assert errors(root, keyfile) == []
    assert verify_archive(root, None).records == 10


def test_the_midnight_roll_over_closes_a_quiet_day(tmp_path: Path, keyfile: Path) -> None:
    root = tmp_path / "archive"
    clock = FakeClock(DAY1)
    archive = make(root, keyfile, clock)
    archive.append(lines(2, DAY1))
    clock.set(DAY1 + 86400)
    archive.roll_over()
    assert manifest_path(root, "2026-11-23").exists()
    assert archive.open_day is None


# -- compression, retention, mirror -----------------------------------------------------------------------------


def test_compression_keeps_the_chain(tmp_path: Path, keyfile: Path) -> None:
    root = two_days(tmp_path, keyfile)
    notes = compress_closed_days(root)
    assert any("compressed" in n for n in notes)
    assert day_path(root, "2026-11-23", compressed=True).exists()
    assert not day_path(root, "2026-11-23").exists()
    assert day_path(root, "2026-11-24").exists()  # the open day stays plain
    assert errors(root, keyfile) == []
    assert compress_closed_days(root) == []  # nothing left to do


def test_retention_removes_old_days_and_keeps_their_manifests(tmp_path: Path, keyfile: Path) -> None:
    root = two_days(tmp_path, keyfile)
    compress_closed_days(root)
    today = dt.date(2026, 11, 24) + dt.timedelta(days=retention_days(1))
    removed = apply_retention(root, retention_days(1), today)
    assert [Path(p).name for p in removed] == ["2026-11-23.log.gz"]
    assert manifest_path(root, "2026-11-23").exists()
    report = verify_archive(root, load_verifier(keyfile), keep_days=retention_days(1), today=today)
    assert report.ok
    assert any(f.kind == "retention" for f in report.findings)
    # within the retention period the same gap is a deletion
    assert any("deleted" in e for e in errors(root, keyfile, keep_days=retention_days(5), today=today))


def test_mirror_follows_appends_compression_and_sets_aside_what_disagrees(tmp_path: Path, keyfile: Path) -> None:
    root = tmp_path / "archive"
    mirror = tmp_path / "mirror"
    clock = FakeClock(DAY1)
    archive = make(root, keyfile, clock)
    archive.append(lines(10, DAY1))
    sync_mirror(root, mirror)
    archive.append(lines(10, DAY1 + 20, "more"))
    result = sync_mirror(root, mirror)
    assert result.appended_bytes > 0
    clock.set(DAY1 + 86400)
    archive.append(lines(3, DAY1 + 86400, "d2"))
    archive.close()
    compress_closed_days(root)
    sync_mirror(root, mirror)
    assert day_path(mirror, "2026-11-23", compressed=True).exists()
    assert not day_path(mirror, "2026-11-23").exists()
    assert errors(mirror, keyfile) == []
    # the mirror's copy of the open day ends differently (altered there): it is set aside, never overwritten
    rewrite(day_path(mirror, "2026-11-24"), lambda d: d.__setitem__(-2, d[-2].replace(b"d2 2", b"d2 X")))
    archive = make(root, keyfile, clock)
    archive.append(lines(2, DAY1 + 86400 + 10, "d2b"))
    archive.close()
    result = sync_mirror(root, mirror)
    assert len(result.set_aside) == 1 and ".diverged-" in result.set_aside[0]
    assert errors(mirror, keyfile) == []


# -- tampering, reported precisely ------------------------------------------------------------------------------


def test_one_changed_byte_is_named_by_file_line_and_record(tmp_path: Path, keyfile: Path) -> None:
    root = two_days(tmp_path, keyfile)
    rewrite(day_path(root, "2026-11-24"), lambda d: d.__setitem__(10, d[10].replace(b"d2 9 ", b"d2 8 ")))
    found = errors(root, keyfile)
    assert (
        "2026/2026-11-24.log:11: record 60: altered: its content or hash was altered: it does not match the hash chain"
        in found
    )
    assert len([e for e in found if "record" in e]) == 1


def test_a_deleted_record(tmp_path: Path, keyfile: Path) -> None:
    root = two_days(tmp_path, keyfile)
    rewrite(day_path(root, "2026-11-24"), lambda d: d.pop(20))  # record 70, on line 21
    found = errors(root, keyfile)
    assert found == [
        "2026/2026-11-24.log:21: record 70: deleted: record 70 is missing (before line 21): deleted from the archive"
    ]


def test_two_swapped_records(tmp_path: Path, keyfile: Path) -> None:
    root = two_days(tmp_path, keyfile)

    def swap(d: list[bytes]) -> None:
        d[30], d[31] = d[31], d[30]  # records 80 and 81, on lines 31 and 32

    rewrite(day_path(root, "2026-11-24"), swap)
    found = errors(root, keyfile)
    assert found == [
        "2026/2026-11-24.log:32: record 80: reordered: records 80 and 81 are swapped (record 81 is on line 31)"
    ]


def test_an_inserted_record(tmp_path: Path, keyfile: Path) -> None:
    root = two_days(tmp_path, keyfile)
    rewrite(day_path(root, "2026-11-24"), lambda d: d.insert(5, d[5].replace(b"d2 4 ", b"d2 X ")))
    found = errors(root, keyfile)
    assert any(e.startswith("2026/2026-11-24.log:7: record 55: inserted") for e in found)
    assert not any("altered" in e for e in found)


def test_tampering_inside_a_compressed_day_and_its_manifest(tmp_path: Path, keyfile: Path) -> None:
    root = two_days(tmp_path, keyfile)
    compress_closed_days(root)
    packed = day_path(root, "2026-11-23", compressed=True)
    data = gzip.decompress(packed.read_bytes()).replace(b"d1 3 tab", b"d1 3 TAB")
    packed.write_bytes(gzip.compress(data))
    found = errors(root, keyfile)
    assert (
        "2026/2026-11-23.log.gz:5: record 4: altered: its content or hash was altered: it does not match the hash chain"
        in found
    )
    assert any("content_sha256" in e for e in found)
    manifest = manifest_path(root, "2026-11-23")
    doc = json.loads(manifest.read_text())
    doc["records"] = 49
    manifest.write_text(json.dumps(doc))
    assert any("signature is bad" in e for e in errors(root, keyfile))


def test_records_cut_off_the_open_day_are_caught_by_the_signed_checkpoint(tmp_path: Path, keyfile: Path) -> None:
    root = two_days(tmp_path, keyfile)
    rewrite(day_path(root, "2026-11-24"), lambda d: d.__delitem__(slice(-4, -1)))  # the last three records
    found = errors(root, keyfile)
    assert found == [
        "2026/2026-11-24.log: record 98: deleted: the day ends at record 97, but the signed checkpoint of "
        "2026-11-24T09:00:00.000000+09:00 saw record 100: records at the end were removed"
    ]


def test_a_deleted_day_file_breaks_the_chain(tmp_path: Path, keyfile: Path) -> None:
    root = tmp_path / "archive"
    clock = FakeClock(DAY1)
    archive = make(root, keyfile, clock)
    for day in range(3):
        clock.set(DAY1 + day * 86400)
        archive.append(lines(5, clock.now(), f"day{day}"))
    archive.close()
    day_path(root, "2026-11-24").unlink()
    manifest_path(root, "2026-11-24").unlink()
    found = errors(root, keyfile)
    assert any("2026/2026-11-25.log:1: record 11: chain: the day does not continue the day before" in e for e in found)


def test_one_writer_per_archive(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    first = make(root, None, FakeClock(DAY1))
    with pytest.raises(Exception, match="being written by another process"):
        make(root, None, FakeClock(DAY1))
    first.close()
    make(root, None, FakeClock(DAY1)).close()
