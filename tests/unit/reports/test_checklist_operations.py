"""The evidence providers of backups (3-②), exposure (2-⑫, 2-⑬) and remote maintenance (2-②, each vendor's form):
each one's lines and proposal against a site whose state the test sets, on a real SQLite store (exact lines)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mamori.config import settings_from_text
from mamori.detection.exposure import judge_host
from mamori.detection.site_index import SiteIndex
from mamori.ingest.nmap_xml import read_nmap_xml
from mamori.model import BackupStatus, MaintenanceSession, RestoreTest, Site
from mamori.reports.checklist import BUILTIN_PROVIDERS, EvidenceContext, build_checklist
from mamori.reports.checklist.operations import backup_evidence, exposure_evidence, maintenance_evidence
from mamori.storage import BackupTable, ExposureTable, SessionTable, Store
from tests.unit.test_exposure import SITE as EXPOSURE_SITE
from tests.unit.test_exposure import _xml

NOW = 1_796_000_000.0  # 2026-11-30 (UTC)
HOUR = 3600.0
DAY = 86400.0

BACKUP_SITE = """\
backups:
  - {name: 電子カルテ, path: /mnt/backup/emr, every: 24h, generations: 7,
     offline: {host: 10.4.0.50, online: "02:00-04:00", timezone: Asia/Tokyo}}
  - {name: PACS, kind: restic, path: /mnt/backup/pacs, password_file: /etc/mamori/restic.pass, every: 24h,
     generations: 7}
"""

VENDOR_SITE = """\
site: {time_zone: Asia/Tokyo}
vendors:
  - name: 東和メディカル
    sources: [10.20.0.0/24]
    devices: [192.168.10.11, dialysis-srv]
    work_plans:
      - {every: month, day: 10, time: "13:00", duration: 2h, targets: [192.168.10.11], ports: [3389]}
  - name: 北陸システム
    sources: [10.30.0.5]
"""


def _local(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M")


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).astimezone().strftime("%Y-%m-%d")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "mamori.db")


def _ctx(store: Store | None, site: Site) -> EvidenceContext:
    return EvidenceContext(store=store, site=site, now=NOW)


def _texts(evidence: list, form: str, item: str, lang: str = "ja") -> list[str]:
    (found,) = [e for e in evidence if e.form == form and e.item == item]
    return [line.text(lang) for line in found.lines]


def test_every_part_is_registered_once() -> None:
    names = [p.name for p in BUILTIN_PROVIDERS]
    assert names == ["terminals", "assets", "archive", "zones", "backups", "exposure", "maintenance", "cleartext"]
    assert len(set(names)) == len(names)


# -- backups ----------------------------------------------------------------------------------------------------------


def test_backups_not_declared_is_not_observed(store: Store) -> None:
    found = list(backup_evidence(_ctx(store, Site())))
    assert [(e.form, e.item, e.proposed, e.observed) for e in found] == [
        ("medical", "3-②", None, False),
        ("vendor", "3-②", None, False),
    ]
    assert _texts(found, "medical", "3-②") == [
        "バックアップのジョブが設定されていません（バックアップは観測していません）。"
    ]


def test_backups_in_order_by_two_methods_with_a_restore_test(store: Store) -> None:
    site = settings_from_text(BACKUP_SITE).site
    table = BackupTable(store)
    emr_ok, pacs_ok = NOW - 9 * HOUR, NOW - 3 * HOUR
    table.save_statuses(
        [
            BackupStatus("電子カルテ", "folder", NOW - 60, "ok", 7, last_success=emr_ok, generations=7),
            BackupStatus("PACS", "restic", NOW - 60, "ok", 7, last_success=pacs_ok, generations=9),
        ]
    )
    table.add_restore_test(RestoreTest("電子カルテ", "2026-10-01", "患者 3 名分", "山田", recorded_at=NOW - 60 * DAY))
    found = list(backup_evidence(_ctx(store, site)))
    assert [e.proposed for e in found] == ["yes", "yes"]
    tested = dt.datetime.fromisoformat("2026-10-01").astimezone().timestamp()
    assert _texts(found, "medical", "3-②") == [
        "バックアップのジョブ 2 件（確認済み 2、正常 2）。正常なジョブの方法: folder, restic、最大 9 世代。",
        f"電子カルテ: 正常、最終成功 {_local(emr_ok)}（9 時間前）、世代 7（設定 7）。",
        f"PACS: 正常、最終成功 {_local(pacs_ok)}（3 時間前）、世代 9（設定 7）。",
        "オフラインまたは変更不可のコピー: 10.4.0.50。過去30日に時間外のオンラインは見られません。",
        f"最新の復元テスト: 2026-10-01（{int((NOW - tested) // DAY)} 日前）電子カルテ、山田: 患者 3 名分。",
    ]
    assert _texts(found, "vendor", "3-②", "en")[0] == (
        "2 backup jobs declared (2 checked, 2 in order). Methods with a job in order: folder, restic; at most 9 "
        "generations kept."
    )


def test_backups_missed_one_method_no_restore_test_propose_no(store: Store) -> None:
    site = settings_from_text(BACKUP_SITE).site
    BackupTable(store).save_statuses(
        [
            BackupStatus("電子カルテ", "folder", NOW - 60, "ok", 7, last_success=NOW - HOUR, generations=7),
            BackupStatus("PACS", "restic", NOW - 60, "unreadable", 7, error="リポジトリを読めません / cannot read"),
        ]
    )
    found = list(backup_evidence(_ctx(store, site)))
    assert found[0].proposed == "no"
    lines = _texts(found, "medical", "3-②", "en")
    assert lines[0] == (
        "2 backup jobs declared (2 checked, 1 in order). Methods with a job in order: folder; at most 7 generations "
        "kept."
    )
    assert lines[2] == "PACS: Cannot be checked; last success – (–); generations –; cannot read."
    assert lines[-2:] == [
        "No restore test has been recorded.",
        "Why いいえ (no) is proposed: a job is not in order; not two generations or more by two methods or more; "
        "no restore test recorded within a year.",
    ]


# -- exposure -------------------------------------------------------------------------------------------------------


def test_exposure_without_any_scan_is_not_observed(store: Store) -> None:
    found = list(exposure_evidence(_ctx(store, settings_from_text(EXPOSURE_SITE).site)))
    assert {(e.form, e.item) for e in found} == {(f, i) for f in ("medical", "vendor") for i in ("2-⑫", "2-⑬")}
    assert all(e.proposed is None and not e.observed for e in found)


def test_exposure_unneeded_and_database_ports_then_approved(store: Store, tmp_path: Path) -> None:
    site = settings_from_text(EXPOSURE_SITE).site
    path = tmp_path / "scan.xml"
    path.write_text(_xml(), encoding="utf-8")
    report = read_nmap_xml(path)
    table = ExposureTable(store)
    judged = judge_host(SiteIndex(site), "10.1.0.20", ["tcp/445", "tcp/1433", "tcp/8443"], observer="10.2.0.99")
    table.save_run(
        started=report.started,
        scope={},
        argv=["nmap"],
        seconds=9.0,
        observer="10.2.0.99",
        report=report,
        reasons={"10.1.0.20": {k: judged.reasons(k) for k in judged.open_ports}},
    )
    found = list(exposure_evidence(_ctx(store, site)))
    scanned = _day(report.started)
    assert _texts(found, "medical", "2-⑫") == [
        f"最新のスキャン {scanned}（応答したホスト 1 台）、通信で応答を確認したサービス 0 件。"
        "不要なサービスを提供しているホスト: 1 台（10.1.0.20 (445 (SMB))）。"
    ]
    assert _texts(found, "medical", "2-⑬", "en") == [
        f"Latest scan {scanned} (1 hosts up); 0 services seen answering on the network. Hosts with a database "
        "port reachable from another segment: 1 (10.1.0.20 (1433 (SQL Server)))."
    ]
    assert {(e.item, e.proposed) for e in found} == {("2-⑫", "no"), ("2-⑬", "no")}
    table.approve(["10.1.0.20"], user="kanri", now=report.started + 60)
    found = list(exposure_evidence(_ctx(store, site)))
    assert {(e.item, e.proposed) for e in found} == {("2-⑫", "yes"), ("2-⑬", "yes")}
    assert _texts(found, "medical", "2-⑫")[0].endswith("不要なサービスを提供しているホスト: 0 台。")


# -- remote maintenance ---------------------------------------------------------------------------------------------


def test_no_vendor_is_not_observed_unless_a_vpn_session_was_seen(store: Store) -> None:
    found = list(maintenance_evidence(_ctx(store, Site())))
    assert [(e.form, e.proposed, e.observed) for e in found] == [("medical", None, False)]
    SessionTable(store).save(
        [MaintenanceSession("s1", "", "10.99.0.7", NOW - DAY, NOW - DAY + 600, differences=("vpn-no-plan",))]
    )
    found = list(maintenance_evidence(_ctx(store, Site())))
    assert [(e.form, e.proposed) for e in found] == [("medical", "no")]
    assert _texts(found, "medical", "2-②") == [
        "保守業者が登録されていませんが、過去30日に業者不明の VPN 接続が 1 件ありました。"
    ]


def test_vendors_devices_sessions_and_each_vendors_form(store: Store) -> None:
    site = settings_from_text(VENDOR_SITE).site
    planned = MaintenanceSession("s1", "東和メディカル", "10.20.0.9", NOW - 20 * DAY, NOW - 20 * DAY + 1800)
    late = MaintenanceSession(
        "s2",
        "東和メディカル",
        "10.20.0.9",
        NOW - 2 * DAY,
        NOW - 2 * DAY + 600,
        differences=("outside-window", "port"),
        off_plan=("port:445",),
        alert_uid="abc123",
    )
    old = MaintenanceSession("s0", "北陸システム", "10.30.0.5", NOW - 40 * DAY, NOW - 40 * DAY + 60)
    SessionTable(store).save([planned, late, old])
    found = list(maintenance_evidence(_ctx(store, site)))
    assert [(e.form, e.proposed) for e in found] == [
        ("medical", "no"),
        ("vendor:東和メディカル", "yes"),
        ("vendor:北陸システム", "no"),
    ]
    assert _texts(found, "medical", "2-②") == [
        "保守業者 2 社のうち保守する機器を登録している業者 1 社（機器 2 件）。機器が未登録の業者: 北陸システム。",
        "過去30日のリモート保守の接続 2 件: 作業計画どおり 1 件、計画と異なる 1 件（うち業者不明の VPN 接続 0 件）。",
    ]
    when = dt.datetime.fromtimestamp(late.start, dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert _texts(found, "vendor:東和メディカル", "2-②", "en") == [
        "Devices 東和メディカル maintains: 2 (192.168.10.11, dialysis-srv).",
        "Work plans: 1 (0 entered on the dashboard). Sessions in the last 30 days: 2, 1 of them differing from the "
        "plans.",
        f"Session differing from the plan: {when:%Y-%m-%d %H:%M} 10.20.0.9 — outside every window of the work plan; "
        "a port the plan does not list (445).",
    ]
    (vendor,) = [e for e in found if e.form == "vendor:東和メディカル"]
    assert vendor.lines[2].link == "/alerts/abc123/"
    assert _texts(found, "vendor:北陸システム", "2-②") == [
        "北陸システム が保守する機器 0 件（登録されていません）。",
        "作業計画 0 件（うちダッシュボードで登録 0 件）。過去30日の接続 0 件、うち計画と異なる 0 件。",
    ]
    # On the vendor's own form the vendor's evidence stands beside what every form shares.
    filled = build_checklist("vendor:東和メディカル", _ctx(store, site))
    (row,) = [r for r in filled.rows if r.item.number == "2-②"]
    assert [e.source for e in row.evidence] == ["maintenance"]
    assert row.proposed == "yes"
    other = build_checklist("vendor:北陸システム", _ctx(store, site))
    assert next(r for r in other.rows if r.item.number == "2-②").proposed == "no"
