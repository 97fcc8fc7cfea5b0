"""Evidence from the parts that run the hospital's operations (docs/design.md §10): backups (3-②), exposure (2-⑫,
2-⑬) and remote maintenance (2-②, and each vendor's form). One function per part; each is registered with one
``Provider`` line in ``evidence.BUILTIN_PROVIDERS``. They read through the store and the settings only.

Names from the settings file and text from the tools (job names, errors, vendor names, hosts) are put into the
lines as they are: every output escapes them for its own format.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from mamori.model import MaintenanceSession, Vendor
from mamori.reports.backups import age_text, job_view
from mamori.reports.checklist.base import NO, RECENT, YES, Evidence, EvidenceContext, EvidenceLine, day
from mamori.reports.exposure import checklist_evidence
from mamori.reports.work_report import differences_text, local_time
from mamori.rules.exposure import port_label
from mamori.storage import BackupTable, ExposureTable, SessionTable
from mamori.storage.maintenance import site_with_plans

__all__ = ["MAINTENANCE_ITEMS", "backup_evidence", "exposure_evidence", "maintenance_evidence"]

_LISTED = 5  # hosts, devices or sessions named in a line; the rest are counted
_YEAR = 365 * 86400
_KINDS = {"folder": "folder", "restic": "restic", "borg": "borg", "wsb": "Windows Server Backup"}


def _listed(values: list[str], lang: str) -> str:
    sep = "、" if lang == "ja" else ", "
    shown = sep.join(values[:_LISTED])
    if len(values) > _LISTED:
        shown += f" ほか {len(values) - _LISTED} 件" if lang == "ja" else f" and {len(values) - _LISTED} more"
    return shown


# -- 3-②: backups ---------------------------------------------------------------------------------------------------


def backup_evidence(ctx: EvidenceContext) -> Iterable[Evidence]:
    """Backups taken, several generations by more than one method, an offline or immutable copy, the restore test.

    Proposed はい when every declared job is in order at its latest check, two methods or more keep two
    generations or more, and a restore test was recorded within a year; else いいえ. No job declared: not observed.
    """
    jobs = ctx.site.backups
    if not jobs or ctx.store is None:
        line = EvidenceLine(
            "バックアップのジョブが設定されていません（バックアップは観測していません）。",
            "No backup job is declared (backups not observed).",
            "/backups/",
        )
        for f in ("medical", "vendor"):
            yield Evidence(f, "3-②", "backups", (line,), None, observed=False)
        return
    table = BackupTable(ctx.store)
    posture = table.posture(jobs)
    methods = ", ".join(_KINDS.get(m, m) for m in posture.methods) or "–"
    lines = [
        EvidenceLine(
            f"バックアップのジョブ {posture.jobs} 件（確認済み {posture.checked}、正常 {posture.ok}）。正常なジョブの"
            f"方法: {methods}、最大 {posture.generations} 世代。",
            f"{posture.jobs} backup jobs declared ({posture.checked} checked, {posture.ok} in order). Methods with "
            f"a job in order: {methods}; at most {posture.generations} generations kept.",
            "/backups/",
            {
                "jobs": posture.jobs,
                "checked": posture.checked,
                "ok": posture.ok,
                "methods": list(posture.methods),
                "generations": posture.generations,
            },
        )
    ]
    statuses = {s.job: s for s in posture.statuses}
    for job in jobs:
        ja = job_view(job, statuses.get(job.name), None, ctx.now, "ja")
        en = job_view(job, statuses.get(job.name), None, ctx.now, "en")
        lines.append(
            EvidenceLine(
                f"{job.name}: {ja.state_text}、最終成功 {ja.last_success}（{ja.last_success_age}）、"
                f"世代 {ja.generations}" + (f"、{ja.error}" if ja.error else "") + "。",
                f"{job.name}: {en.state_text}; last success {en.last_success} ({en.last_success_age}); generations "
                f"{en.generations}" + (f"; {en.error}" if en.error else "") + ".",
                "/backups/",
                {"job": job.name, "state": ja.state},
            )
        )
    exposed = _offline_seen(ctx, [j.offline.host for j in jobs if j.offline is not None])
    offline_ok = posture.offline and not exposed
    if not posture.offline:
        lines.append(
            EvidenceLine(
                "オフラインまたは変更不可（immutable）のコピーは設定されていません。",
                "No offline or immutable copy is declared.",
                "/backups/",
            )
        )
    else:
        copies = [j.offline.host for j in jobs if j.offline is not None] + [j.name for j in jobs if j.immutable]
        seen_ja = "".join(f"{h} が時間外にオンライン（最後 {day(ts)}）。" for h, ts in exposed.items())
        seen_en = "".join(f" {h} was online outside its window (last {day(ts)})." for h, ts in exposed.items())
        lines.append(
            EvidenceLine(
                f"オフラインまたは変更不可のコピー: {_listed(copies, 'ja')}。"
                + (seen_ja or "過去30日に時間外のオンラインは見られません。"),
                f"Offline or immutable copy: {_listed(copies, 'en')}."
                + (seen_en or " Not seen online outside its window in the last 30 days."),
                "/backups/",
                {"offline_seen_online": len(exposed)},
            )
        )
    test = posture.last_restore
    tested_at = _tested_at(test.tested_on) if test is not None else None
    if test is None or tested_at is None:
        lines.append(
            EvidenceLine(
                "復元テストの記録がありません。",
                "No restore test has been recorded.",
                "/backups/",
                {"restore_test": ""},
            )
        )
    else:
        lines.append(
            EvidenceLine(
                f"最新の復元テスト: {test.tested_on}（{age_text(ctx.now - tested_at, 'ja')}）{test.job}、{test.by}: "
                f"{test.what}。",
                f"Latest restore test: {test.tested_on} ({age_text(ctx.now - tested_at, 'en')}), {test.job}, by "
                f"{test.by}: {test.what}.",
                "/backups/",
                {"restore_test": test.tested_on},
            )
        )
    fresh_test = tested_at is not None and ctx.now - tested_at <= _YEAR
    reasons = [
        (ja, en)
        for ok, ja, en in (
            (posture.ok == posture.jobs, "正常でないジョブがある", "a job is not in order"),
            (
                posture.several_generations_by_several_methods,
                "2 つ以上の方法で 2 世代以上を保管していない",
                "not two generations or more by two methods or more",
            ),
            (offline_ok, "オフラインまたは変更不可のコピーが確かでない", "no offline or immutable copy that stays so"),
            (fresh_test, "1 年以内の復元テストの記録がない", "no restore test recorded within a year"),
        )
        if not ok
    ]
    if reasons:
        lines.append(
            EvidenceLine(
                "「いいえ」を提案する理由: " + "、".join(r[0] for r in reasons) + "。",
                "Why いいえ (no) is proposed: " + "; ".join(r[1] for r in reasons) + ".",
                "/backups/",
            )
        )
    proposed = NO if reasons else YES
    for f in ("medical", "vendor"):
        yield Evidence(f, "3-②", "backups", tuple(lines), proposed)


def _tested_at(tested_on: str) -> float | None:
    try:
        return dt.datetime.fromisoformat(tested_on).astimezone().timestamp()
    except ValueError:
        return None


def _offline_seen(ctx: EvidenceContext, hosts: list[str]) -> dict[str, float]:
    """The offline copies seen online outside their window in the last 30 days: host -> last time."""
    if not hosts or ctx.store is None:
        return {}
    from mamori.storage.models import AlertRecord

    since = dt.datetime.fromtimestamp(ctx.now - RECENT, tz=dt.UTC)
    rows = AlertRecord.objects.using(ctx.store.alias).filter(
        rule="backup-offline-exposed", key__in=hosts, last_seen__gte=since
    )
    seen: dict[str, float] = {}
    for key, last in rows.values_list("key", "last_seen"):
        seen[key] = max(seen.get(key, 0.0), last.timestamp())
    return seen


# -- 2-⑫ and 2-⑬: exposure --------------------------------------------------------------------------------------------


def exposure_evidence(ctx: EvidenceContext) -> Iterable[Evidence]:
    """Unneeded services still offered (2-⑫) and database ports reachable from other segments (2-⑬), from the
    latest scan and the services seen answering; approved ports are left out."""
    if ctx.store is None:
        return
    found = checklist_evidence(ExposureTable(ctx.store), ctx.site)
    if found.item_ok("2-12") is None:
        line = EvidenceLine(
            "サービスの調査（mamori scan）も、通信で応答するサービスの観測もまだありません。",
            "No service scan (mamori scan) has run and no service has been seen answering yet.",
            "/exposure/",
        )
        for f in ("medical", "vendor"):
            for item in ("2-⑫", "2-⑬"):
                yield Evidence(f, item, "exposure", (line,), None, observed=False)
        return
    if found.last_scan is not None:
        basis_ja = f"最新のスキャン {day(found.last_scan)}（応答したホスト {found.hosts_scanned} 台）"
        basis_en = f"latest scan {day(found.last_scan)} ({found.hosts_scanned} hosts up)"
    else:
        basis_ja, basis_en = "スキャンの記録なし", "no scan recorded"
    basis_ja += f"、通信で応答を確認したサービス {found.services_seen} 件"
    basis_en += f"; {found.services_seen} services seen answering on the network"
    for item, code, hosts, what_ja, what_en in (
        ("2-⑫", "2-12", found.unneeded, "不要なサービスを提供しているホスト", "hosts offering unneeded services"),
        (
            "2-⑬",
            "2-13",
            found.database,
            "他のセグメントから届くデータベースのポートがあるホスト",
            "hosts with a database port reachable from another segment",
        ),
    ):
        named = [f"{h} ({', '.join(port_label(p) for p in ports)})" for h, ports in sorted(hosts.items())]
        line = EvidenceLine(
            f"{basis_ja}。{what_ja}: {len(hosts)} 台" + (f"（{_listed(named, 'ja')}）" if named else "") + "。",
            f"{basis_en[0].upper()}{basis_en[1:]}. {what_en[0].upper()}{what_en[1:]}: {len(hosts)}"
            + (f" ({_listed(named, 'en')})" if named else "")
            + ".",
            "/exposure/",
            {"hosts": len(hosts), "services_seen": found.services_seen},
        )
        proposed = YES if found.item_ok(code) else NO
        for f in ("medical", "vendor"):
            yield Evidence(f, item, "exposure", (line,), proposed)


# -- 2-②: remote maintenance ------------------------------------------------------------------------------------------

MAINTENANCE_ITEMS = (("medical", "2-②"), ("vendor", "2-②"))


def maintenance_evidence(ctx: EvidenceContext) -> Iterable[Evidence]:
    """Which devices each remote-maintenance vendor maintains (2-②), and the last 30 days' sessions compared with
    the work plans; on each vendor's own form (``vendor:<name>``), that vendor's devices, plans and sessions.

    Proposed はい (medical form) when vendors are declared and every one lists the devices it maintains; いいえ when
    one does not, or when remote access was seen that no declared vendor explains; not observed otherwise."""
    site = site_with_plans(ctx.site, ctx.store)
    sessions = SessionTable(ctx.store).between(ctx.now - RECENT, ctx.now + 1) if ctx.store is not None else []
    orphans = [s for s in sessions if not s.vendor]
    vendors = site.vendors
    if not vendors:
        if orphans:
            line = EvidenceLine(
                f"保守業者が登録されていませんが、過去30日に業者不明の VPN 接続が {len(orphans)} 件ありました。",
                f"No remote-maintenance vendor is declared, but {len(orphans)} VPN sessions tied to no vendor were "
                "seen in the last 30 days.",
                "/maintenance/",
                {"vendors": 0, "unattributed": len(orphans)},
            )
            yield Evidence("medical", "2-②", "maintenance", (line,), NO)
            return
        line = EvidenceLine(
            "保守業者が登録されていません（リモートメンテナンスは観測していません）。",
            "No remote-maintenance vendor is declared (remote maintenance not observed).",
            "/maintenance/",
        )
        yield Evidence("medical", "2-②", "maintenance", (line,), None, observed=False)
        return
    listing = [v for v in vendors if v.devices]
    missing = [v.name for v in vendors if not v.devices]
    devices = sum(len(v.devices) for v in vendors)
    off = [s for s in sessions if s.differences]
    lines = (
        EvidenceLine(
            f"保守業者 {len(vendors)} 社のうち保守する機器を登録している業者 {len(listing)} 社（機器 {devices} 件）。"
            + (f"機器が未登録の業者: {_listed(missing, 'ja')}。" if missing else ""),
            f"{len(listing)} of {len(vendors)} remote-maintenance vendors list the devices they maintain ({devices} "
            "devices)." + (f" No devices listed: {_listed(missing, 'en')}." if missing else ""),
            "/maintenance/plans/",
            {"vendors": len(vendors), "listing_devices": len(listing), "devices": devices},
        ),
        EvidenceLine(
            f"過去30日のリモート保守の接続 {len(sessions)} 件: 作業計画どおり {len(sessions) - len(off)} 件、"
            f"計画と異なる {len(off)} 件（うち業者不明の VPN 接続 {len(orphans)} 件）。",
            f"Remote-maintenance sessions in the last 30 days: {len(sessions)}; {len(sessions) - len(off)} as "
            f"planned, {len(off)} differing from the work plans ({len(orphans)} of them VPN sessions tied to no "
            "vendor).",
            "/maintenance/",
            {"sessions": len(sessions), "off_plan": len(off), "unattributed": len(orphans)},
        ),
    )
    yield Evidence("medical", "2-②", "maintenance", lines, YES if not missing and not orphans else NO)
    for vendor in vendors:
        own = [s for s in sessions if s.vendor == vendor.name]
        yield Evidence(
            f"vendor:{vendor.name}", "2-②", "maintenance", _vendor_lines(vendor, own, site.time_zone), _vendor(vendor)
        )


def _vendor(vendor: Vendor) -> str:
    return YES if vendor.devices else NO


def _vendor_lines(vendor: Vendor, sessions: list[MaintenanceSession], zone: str) -> tuple[EvidenceLine, ...]:
    devices = list(vendor.devices)
    plans = vendor.work_plans
    from_dashboard = sum(1 for p in plans if p.origin == "dashboard")
    off = [s for s in sessions if s.differences]
    lines = [
        EvidenceLine(
            f"{vendor.name} が保守する機器 {len(devices)} 件"
            + (f": {_listed(devices, 'ja')}。" if devices else "（登録されていません）。"),
            f"Devices {vendor.name} maintains: {len(devices)}"
            + (f" ({_listed(devices, 'en')})." if devices else " (none listed)."),
            "/maintenance/plans/",
            {"devices": len(devices)},
        ),
        EvidenceLine(
            f"作業計画 {len(plans)} 件（うちダッシュボードで登録 {from_dashboard} 件）。過去30日の接続 {len(sessions)} "
            f"件、うち計画と異なる {len(off)} 件。",
            f"Work plans: {len(plans)} ({from_dashboard} entered on the dashboard). Sessions in the last 30 days: "
            f"{len(sessions)}, {len(off)} of them differing from the plans.",
            "/maintenance/",
            {"plans": len(plans), "sessions": len(sessions), "off_plan": len(off)},
        ),
    ]
    for s in off[:_LISTED]:
        when = local_time(s.start, zone)
        lines.append(
            EvidenceLine(
                f"計画と異なる接続: {when} {s.source} — {differences_text(s, 'ja')}。",
                f"Session differing from the plan: {when} {s.source} — {differences_text(s, 'en')}.",
                f"/alerts/{s.alert_uid}/" if s.alert_uid else "/maintenance/",
            )
        )
    if len(off) > _LISTED:
        lines.append(
            EvidenceLine(
                f"ほか {len(off) - _LISTED} 件（作業報告を参照）。",
                f"{len(off) - _LISTED} more (see the work report).",
                "/maintenance/",
            )
        )
    return tuple(lines)
