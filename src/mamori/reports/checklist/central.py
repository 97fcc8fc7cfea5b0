"""The checklist of one site on the central server (docs/design.md §10, central: the checklist per site).

The central store has a site's alerts, remote-maintenance sessions, ledger rows and sources' health, but not its
settings file (systems, segments, zone policy, vendors), its evidence archive, its backup jobs, its exposure scans
or its asset ledger: those stay on the sensor. So a site's checklist gives the evidence the central rows support,
restricted to that site, and for the rest says in both languages that it is on the sensor, rather than proposing
an answer from the central box's own settings or files, which are no site's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from mamori.reports.checklist.base import NO, RECENT, Evidence, EvidenceContext, EvidenceLine, Provider

__all__ = ["SITE_EVIDENCE", "sensor_only", "site_evidence"]

_ZONE_ITEMS = ("3-2-1", "3-3-1", "3-3-2", "3-5-1", "4-3-1")


def _site(ctx: EvidenceContext) -> str:
    return ctx.central_site or ""


def _alias(ctx: EvidenceContext) -> str:
    if ctx.store is None:  # site_evidence gives the sensor-only lines then
        raise ValueError("no store")
    return ctx.store.alias


def sensor_only(ctx: EvidenceContext, provider: Provider) -> Iterable[Evidence]:
    """The provider's items, each with a line saying its evidence is on the site's sensor."""
    site = _site(ctx)
    line = EvidenceLine(
        f"この根拠（{provider.name}）はサイト {site} のセンサーにだけあり、中央サーバにはありません。センサーの"
        "ダッシュボードまたは `mamori checklist` で確認してください。",
        f"This evidence ({provider.name}) is kept only on the sensor of site {site}, not on the central server: "
        "see the sensor's dashboard or `mamori checklist` there.",
        figures={"on_sensor_only": True},
    )
    for form, item in provider.items:
        yield Evidence(form, item, provider.name, (line,), None, observed=False)


def _since(ctx: EvidenceContext) -> dt.datetime:
    return dt.datetime.fromtimestamp(ctx.now - RECENT, tz=dt.UTC)


def _terminals(ctx: EvidenceContext) -> Iterable[Evidence]:
    from mamori.storage.models import AlertRecord, CentralTerminal

    site, alias = _site(ctx), _alias(ctx)
    rows = CentralTerminal.objects.using(alias).filter(site=site, deleted=False, retired_at=None)
    per_system: dict[str, int] = {}
    for system in rows.values_list("system", flat=True):
        per_system[system] = per_system.get(system, 0) + 1
    unregistered = (
        AlertRecord.objects.using(alias)
        .filter(site=site, rule="unregistered-terminal", last_seen__gte=_since(ctx))
        .count()
    )
    listed = "、".join(f"{s} {n}" for s, n in sorted(per_system.items()))
    lines = (
        EvidenceLine(
            f"サイト {site} の端末台帳（センサーから届いた分）: 登録端末 {sum(per_system.values())} 台"
            + (f"（{listed}）" if listed else "")
            + "。部門システムの一覧はセンサーの設定にあるため、端末未登録のシステムの有無はセンサーで"
            "確認してください。",
            f"Site {site}'s terminal ledger (as its sensor sent it): {sum(per_system.values())} registered terminals"
            + (f" ({listed.replace('、', ', ')})" if listed else "")
            + ". The list of department systems is in the sensor's settings: check there whether a system has none.",
            f"/alerts/?site={site}",
            {"terminals": sum(per_system.values()), "systems_with_terminals": len(per_system)},
        ),
        EvidenceLine(
            f"サイト {site} で過去30日の未登録端末からの接続の検知: {unregistered} 件。",
            f"Connections from unregistered terminals detected at site {site} in the last 30 days: {unregistered}.",
            f"/alerts/?site={site}&rule=unregistered-terminal",
            {"unregistered_alerts_30d": unregistered},
        ),
    )
    yield Evidence("medical", "2-⑬", "terminals", lines, NO if unregistered else None)
    yield Evidence("vendor", "2-⑬", "terminals", lines, NO if unregistered else None)


def _zones(ctx: EvidenceContext) -> Iterable[Evidence]:
    from mamori.storage.models import AlertRecord

    site = _site(ctx)
    found: dict[str, int] = {}
    rows = AlertRecord.objects.using(_alias(ctx)).filter(site=site, rule="zone-policy", last_seen__gte=_since(ctx))
    for details in rows.values_list("details", flat=True):
        ref = str((details or {}).get("ref", ""))
        found[ref] = found.get(ref, 0) + 1
    for item in ("3-1-1", "3-1-2"):
        yield from sensor_only(ctx, Provider("zones", (("heasnet-small", item),), _zones))
    for item in _ZONE_ITEMS:
        n = found.get(item, 0)
        line = EvidenceLine(
            f"サイト {site} で過去30日にこの項目（{item}）のゾーンポリシー違反の検知: {n} 件。ゾーンポリシーそのものは"
            "センサーの設定にあります。",
            f"Violations of this item ({item}) of the zone policy detected at site {site} in the last 30 days: {n}. "
            "The zone policy itself is in the sensor's settings.",
            f"/alerts/?site={site}&rule=zone-policy",
            {"violations_30d": n},
        )
        yield Evidence("heasnet-small", item, "zones", (line,), NO if n else None)


def _maintenance(ctx: EvidenceContext) -> Iterable[Evidence]:
    from mamori.storage.models import MaintenanceSessionRecord

    site = _site(ctx)
    sessions = MaintenanceSessionRecord.objects.using(_alias(ctx)).filter(site=site, start__gte=_since(ctx))
    total = sessions.count()
    orphans = sessions.filter(vendor="").count()
    off = sum(1 for d in sessions.values_list("differences", flat=True) if d)
    line = EvidenceLine(
        f"サイト {site} の過去30日のリモート保守の接続 {total} 件: 作業計画と異なる {off} 件（うち業者不明の VPN 接続 "
        f"{orphans} 件）。保守業者と保守する機器の登録はセンサーの設定にあります。",
        f"Remote-maintenance sessions at site {site} in the last 30 days: {total}; {off} differing from the work "
        f"plans ({orphans} of them tied to no vendor). The vendors and the devices they maintain are in the "
        "sensor's settings.",
        "",
        {"sessions": total, "off_plan": off, "unattributed": orphans},
    )
    yield Evidence("medical", "2-②", "maintenance", (line,), NO if orphans else None)


# The built-in providers whose evidence the central rows support, as that site's; the others are on the sensor.
SITE_EVIDENCE = {"terminals": _terminals, "zones": _zones, "maintenance": _maintenance}


def site_evidence(ctx: EvidenceContext, provider: Provider, *, builtin: bool) -> Iterable[Evidence]:
    """What ``provider`` says for the site of ``ctx``: from the central rows for a built-in provider they support,
    else (a plugin's too: it reads what it reads on a sensor) that the evidence is on the sensor."""
    func = SITE_EVIDENCE.get(provider.name) if builtin else None
    if func is None or ctx.store is None:
        return sensor_only(ctx, provider)
    return func(ctx)
