"""The backup rules: a folder of generations with controlled times, judged by the checker on an injected clock
(backup-missed and backup-generations fire exactly when they should, one alert per state); Windows Server Backup's
events and shadow-copy deletions built as the other event tests build theirs, through real .evtx files; the real
attack samples; the offline copy seen on the wire in and out of its window."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from mamori.config.windows import WindowsSettings
from mamori.detection import Engine
from mamori.detection.backups import BackupChecker, in_window
from mamori.detection.book import AlertBook
from mamori.detection.windows.backup import deletion_of
from mamori.detection.windows.engine import WindowsEngine
from mamori.ingest.backups import read_folder, wsb_evidence
from mamori.ingest.files import open_log
from mamori.model import SYN, ArpObservation, BackupJob, ConnectionAttempt, OfflineCopy
from mamori.rules import render
from mamori.testing import FakeClock
from mamori.testing.evtx_writer import write_evtx
from mamori.testing.winevents import event
from tests.conftest import make_settings

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
H = 3600.0
JOB = BackupJob(name="電子カルテ", kind="folder", every=24 * H, generations=3, margin=2 * H, path="")
_SYSMON = "Microsoft-Windows-Sysmon/Operational"
_WSB = "Microsoft-Windows-Backup"


def generations(folder: Path, times: list[float]) -> BackupJob:
    """One dated folder per generation, its file's modification time set (os.utime)."""
    folder.mkdir(exist_ok=True)
    for n, ts in enumerate(times):
        gen = folder / f"emr-{n:02d}"
        gen.mkdir(exist_ok=True)
        (gen / "db.bak").write_bytes(b"x")
        os.utime(gen / "db.bak", (ts, ts))
    return BackupJob(**{**JOB.__dict__, "path": str(folder)})


def checker() -> tuple[BackupChecker, AlertBook]:
    uids = iter(f"u{n}" for n in range(1000))
    book = AlertBook(new_uid=lambda: next(uids))
    return BackupChecker(book, local=lambda ts: dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%m-%d %H:%M")), book


def test_folder_generations_and_the_newest_files_age(tmp_path: Path) -> None:
    job = generations(tmp_path / "emr", [T0 - 72 * H, T0 - 48 * H, T0 - 24 * H])
    (tmp_path / "emr" / ".snapshot").mkdir()  # hidden: not a generation
    (tmp_path / "emr" / "lost+found").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "new.bak").write_bytes(b"x")  # newer, but only reachable through a link
    (tmp_path / "emr" / "link").symlink_to(tmp_path / "outside")
    (tmp_path / "emr" / "emr-02" / "escape").symlink_to(tmp_path / "outside" / "new.bak")
    found = read_folder(job, T0)
    assert (found.generations, found.last_success, found.oldest) == (3, T0 - 24 * H, T0 - 72 * H)
    assert found.skipped == 2 and found.error == ""  # two links counted, never followed
    bounded = read_folder(job, T0, max_entries=2)
    assert bounded.generations == 1 and "only 2" in bounded.error


def test_missed_fires_after_every_plus_margin_and_stays_one_alert_until_a_success(tmp_path: Path) -> None:
    folder = tmp_path / "emr"
    job = generations(folder, [T0 - 48 * H, T0 - 24 * H, T0])
    check, book = checker()
    clock = FakeClock(T0)

    def at(hours: float) -> str:
        clock.set(T0 + hours * H)
        return check.check(job, read_folder(job, clock.now()), clock.now()).state

    assert at(1) == "ok" and book.collect_changes() == []
    assert at(26) == "ok" and book.collect_changes() == []  # every (24 h) + margin (2 h): not yet
    assert at(26.1) == "missed"
    first = book.collect_changes()
    assert [(a.rule, a.uid, a.count) for a in first] == [("backup-missed", "u0", 1)]
    assert first[0].details["age_hours"] == 26.1 and first[0].details["last_success"] == "01-15 08:00"
    assert render.summary(first[0], "en").startswith("Backup “電子カルテ” (folder) has not succeeded for 26.1 h")
    assert at(30) == "missed" and at(40) == "missed"
    again = book.collect_changes()
    assert [(a.uid, a.count) for a in again] == [("u0", 3)]  # the same alert, updated
    generations(folder, [T0 + 41 * H])  # a new backup
    assert at(41) == "ok"
    recovered = book.collect_changes()
    assert [(a.uid, a.details["recovered_at"]) for a in recovered] == [("u0", "01-17 01:00")]
    assert "recovered" in render.summary(recovered[0], "en")
    assert at(41 + 27) == "missed"
    assert [a.uid for a in book.collect_changes()] == ["u1"]  # a new miss is a new alert


def test_generations_fire_when_fewer_than_declared_and_clear_when_back(tmp_path: Path) -> None:
    folder = tmp_path / "emr"
    job = generations(folder, [T0 - 2 * H, T0 - H])
    check, book = checker()
    assert check.check(job, read_folder(job, T0), T0).state == "few-generations"
    (alert,) = book.collect_changes()
    assert (alert.rule, alert.details["generations"], alert.details["expected"]) == ("backup-generations", 2, 3)
    assert (
        render.summary(alert, "ja")
        == "バックアップ「電子カルテ」（フォルダ）の世代が 2 個しかありません（3 世代を保つ設定）"
    )
    check.check(job, read_folder(job, T0 + 60), T0 + 60)
    assert [(a.uid, a.count) for a in book.collect_changes()] == [(alert.uid, 2)]
    generations(folder, [T0 - 2 * H, T0 - H, T0])
    assert check.check(job, read_folder(job, T0 + 120), T0 + 120).state == "ok"
    (done,) = book.collect_changes()
    assert done.uid == alert.uid and done.details["recovered_at"] and done.details["generations"] == 3


def test_an_unreadable_folder_is_a_missed_backup_that_says_why(tmp_path: Path) -> None:
    job = BackupJob(**{**JOB.__dict__, "path": str(tmp_path / "not-mounted")})
    check, book = checker()
    assert check.check(job, read_folder(job, T0), T0).state == "unreadable"
    (alert,) = book.collect_changes()
    assert alert.rule == "backup-missed" and "not mounted" in render.summary(alert, "en")


def test_restored_alerts_continue_in_a_new_checker(tmp_path: Path) -> None:
    job = generations(tmp_path / "emr", [T0 - 30 * H, T0 - 29 * H, T0 - 28 * H])
    first, book = checker()
    first.check(job, read_folder(job, T0), T0)
    opened = book.collect_changes()
    second, book2 = checker()
    assert second.restore(opened) == 1
    second.check(job, read_folder(job, T0 + H), T0 + H)
    assert [(a.uid, a.count) for a in book2.collect_changes()] == [(opened[0].uid, 2)]


# -- Windows Server Backup and deletions through real .evtx files ----------------------------------------------------


def wsb(ts: float, event_id: int, computer: str = "FS01", **fields: str) -> object:
    return event(ts, event_id, dict(fields), channel=_WSB, provider=_WSB, computer=computer)


def test_windows_server_backup_success_failure_and_other_computers(tmp_path: Path) -> None:
    path = tmp_path / "Microsoft-Windows-Backup.evtx"
    write_evtx(
        path,
        [
            wsb(T0, 4),
            wsb(T0 + 86400, 517, HRESULT="0x807800C5"),
            wsb(T0 + 86400 + 10, 4, computer="OTHER"),
            wsb(T0 + 2 * 86400, 521),
        ],
    )
    events = [e for batch in open_log(path).batches() for e in batch]
    job = BackupJob(name="FS", kind="wsb", every=86400, generations=2, margin=3600, computer="fs01.example.local")
    found = wsb_evidence(job, T0 + 3 * 86400, events)
    assert (found.last_success, found.last_failure, found.skipped) == (T0, T0 + 2 * 86400, 1)
    assert found.failure == "Windows Server Backup 521" and found.generations is None
    check, book = checker()
    assert check.check(job, found, T0 + 3 * 86400).state == "missed"
    (alert,) = book.collect_changes()
    assert "last failure" in render.summary(alert, "en") and "521" in render.summary(alert, "en")
    none = wsb_evidence(job, T0, [e for e in events if e.computer == "OTHER"])
    assert none.last_success is None and "no Windows Server Backup events of fs01.example.local" in none.error


def test_deletions_of_shadow_copies_and_the_catalog_are_one_critical_alert_per_computer(tmp_path: Path) -> None:
    path = tmp_path / "mixed.evtx"
    write_evtx(
        path,
        [
            event(T0, 4688, {"SubjectUserName": "attacker", "CommandLine": "vssadmin.exe  Delete Shadows /All /Quiet"}),
            event(
                T0 + 1, 1, {"User": "PC\\x", "CommandLine": "wmic shadowcopy delete /nointeractive"}, channel=_SYSMON
            ),
            event(T0 + 2, 4688, {"CommandLine": "wbadmin delete catalog -quiet"}),
            event(T0 + 3, 4688, {"CommandLine": "bcdedit /set {default} recoveryenabled No"}),
            wsb(T0 + 4, 524, computer="KYUSHOKU-SV01"),
            event(T0 + 5, 4688, {"CommandLine": "vssadmin list shadows"}),  # listing is not deleting
            event(T0 + 6, 4688, {"CommandLine": "vssadmin delete shadows /all"}, computer="OTHER-PC"),
        ],
    )
    engine = WindowsEngine(WindowsSettings())
    for batch in open_log(path).batches():
        engine.feed(batch)
    alerts = {a.details["computer"]: a for a in engine.collect_changes() if a.rule == "backup-deleted"}
    assert set(alerts) == {"KYUSHOKU-SV01", "OTHER-PC"}
    main = alerts["KYUSHOKU-SV01"]
    assert main.severity.label == "critical" and main.count == 5 and main.details["actor"] == "attacker"
    assert main.details["deleted"] == ["shadow-copies", "catalog", "recovery"]
    assert render.summary(main, "en") == (
        "Backups deleted on KYUSHOKU-SV01: shadow copies deleted, backup catalog deleted, Windows recovery disabled"
    )
    assert engine.handover_filter() is not None  # process creations that delete nothing are still dropped early


def test_what_counts_as_a_deletion() -> None:
    assert deletion_of('"C:\\Windows\\system32\\cmd.exe" /c "vssadmin.exe delete shadows /all /quiet"') == (
        "shadow-copies"
    )
    assert deletion_of("vssadmin resize shadowstorage /for=c: /on=c: /maxsize=401MB") == "shadow-storage"
    assert deletion_of("powershell Get-WmiObject Win32_Shadowcopy | ForEach-Object {$_.Delete();}") == "shadow-copies"
    assert deletion_of("wbadmin DELETE SYSTEMSTATEBACKUP -keepVersions:0") == "system-state"
    assert deletion_of("bcdedit.exe /set {default} bootstatuspolicy ignoreallfailures") == "recovery"
    for harmless in (
        "vssadmin create shadow /for=C:",
        'wmic shadowcopy call create "ClientAccessible", "C:\\"',
        "wbadmin start backup -backupTarget:E:",
        "bcdedit /enum",
        "notepad deleteshadows.txt",
    ):
        assert deletion_of(harmless) is None, harmless


def test_the_real_atomic_red_team_sample_and_a_shadow_copy_that_is_only_used(shared_data: Path) -> None:
    samples = shared_data / "evtx" / "evtx-attack-samples"
    engine = WindowsEngine(WindowsSettings())
    for batch in open_log(samples / "AutomatedTestingTools" / "PanacheSysmon_vs_AtomicRedTeam01.evtx").batches():
        engine.feed(batch)
    (alert,) = [a for a in engine.collect_changes() if a.rule == "backup-deleted"]
    assert alert.details["computer"] == "MSEDGEWIN10"
    assert alert.details["deleted"] == ["shadow-copies", "catalog", "recovery"]
    assert any("vssadmin.exe delete shadows /all /quiet" in c for c in alert.details["commands"])
    quiet = WindowsEngine(WindowsSettings())
    for batch in open_log(samples / "Execution" / "sysmon_exec_from_vss_persistence.evtx").batches():
        quiet.feed(batch)  # creates, lists and runs from a shadow copy; deletes nothing
    assert [a for a in quiet.collect_changes() if a.rule == "backup-deleted"] == []


# -- the offline copy -----------------------------------------------------------------------------------------------


SITE = """
backups:
  - name: 電子カルテ
    path: /mnt/backup/emr
    every: 24h
    generations: 7
    offline: {host: 10.4.0.50, online: "02:00-04:00", timezone: Asia/Tokyo}
"""


def jst(hour: int, minute: int = 0) -> float:
    return dt.datetime(2027, 1, 15, hour, minute, tzinfo=dt.timezone(dt.timedelta(hours=9))).timestamp()


def test_windows_in_the_copys_time_zone_and_past_midnight() -> None:
    copy = OfflineCopy(host="10.4.0.50", windows=((120, 240), (1410, 30)), timezone="Asia/Tokyo")
    assert in_window(jst(2), copy) and in_window(jst(3, 59), copy) and in_window(jst(23, 45), copy)
    assert in_window(jst(0, 10), copy)
    assert not in_window(jst(4), copy) and not in_window(jst(13), copy) and not in_window(jst(1, 0), copy)
    assert not in_window(jst(3), OfflineCopy(host="x", windows=()))  # no window: never online


def test_the_offline_copy_seen_outside_its_window_is_one_alert() -> None:
    engine = Engine(make_settings(SITE).site, make_settings(SITE).detection)
    arp = ArpObservation(
        jst(3), 1, "02:00:00:00:04:50", "02:00:00:00:04:50", "10.4.0.50", "00:00:00:00:00:00", "10.4.0.1"
    )
    engine.feed([arp])  # inside the window: nothing
    asked = arp._replace(
        ts=jst(13),
        eth_src="02:00:00:00:04:01",
        sender_ip="10.4.0.1",
        sender_mac="02:00:00:00:04:01",
        target_ip="10.4.0.50",
    )
    engine.feed([asked])  # someone asking for it says nothing about it
    assert engine.collect_changes() == []
    engine.feed([arp._replace(ts=jst(13))])
    syn = ConnectionAttempt(jst(13, 5), "02:00:00:00:04:50", None, "10.4.0.50", "10.1.0.5", "tcp", 40000, 445, SYN)
    engine.feed([syn])
    (alert,) = engine.collect_changes()
    assert (alert.rule, alert.count, alert.src_ip, alert.details["how"]) == (
        "backup-offline-exposed",
        2,
        "10.4.0.50",
        "arp",
    )
    assert alert.details["seen_at"] == "2027-01-15 13:00 +09:00"
    assert render.summary(alert, "ja") == (
        "オフラインのはずのバックアップ先 10.4.0.50（電子カルテ）が 2027-01-15 13:00 +09:00 に"
        "ネットワーク上に見えました"
        "（オンラインにしてよい時間帯: 02:00-04:00 (Asia/Tokyo)）"
    )
