"""Evidence providers: what mamori observed, as evidence lines for checklist items, each with a proposed answer.

An explicit registry (docs/design.md §10): a :class:`Provider` names the (form, item) pairs it speaks to and one
function that reads through the store and the settings only (``EvidenceContext``) and returns :class:`Evidence`:
lines with figures and a link, and a proposed answer, or ``observed=False`` ("not observed"). Another part of mamori
adds its evidence with one entry in ``BUILTIN_PROVIDERS`` (plugins: the ``mamori.evidence`` entry-point group). A
provider that fails is reported as a line saying so, never dropped: the checklist is still made.

Proposed answers are proposals: an item's answer is final only when a person confirms it (stored with who and
when, ``mamori.storage.AnswerTable``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from mamori.errors import MamoriError
from mamori.plugins import entry_points
from mamori.reports.checklist.base import (
    NO,
    RECENT,
    YES,
    Evidence,
    EvidenceContext,
    EvidenceLine,
    Provider,
    day,
)
from mamori.reports.checklist.lan import LAN_ITEMS, lan_checklist_evidence
from mamori.reports.checklist.operations import (
    MAINTENANCE_ITEMS,
    backup_evidence,
    exposure_evidence,
    maintenance_evidence,
)
from mamori.storage import AssetTable, Ledger

__all__ = [
    "BUILTIN_PROVIDERS",
    "NO",
    "YES",
    "Evidence",
    "EvidenceContext",
    "EvidenceLine",
    "Provider",
    "gather",
    "providers",
]

log = logging.getLogger(__name__)


# -- 2-⑬ and 2-①: registered terminals per department system ------------------------------------------------------


def terminal_evidence(ctx: EvidenceContext) -> Iterable[Evidence]:
    systems = ctx.site.systems
    if not systems:
        line = EvidenceLine(
            "部門システムが設定されていません（接続元制限は観測していません）。",
            "No department system is configured (connection-source restriction not observed).",
            "/terminals/",
        )
        yield Evidence("medical", "2-⑬", "terminals", (line,), None, observed=False)
        return
    counts = {s.name: len(s.terminals) for s in systems}
    if ctx.store is not None:
        for entry in Ledger(ctx.store).terminals():
            if entry.system in counts:
                counts[entry.system] += 1
    restricted = [n for n, c in counts.items() if c > 0]
    none = [n for n, c in counts.items() if c == 0]
    total = sum(counts.values())
    lines = [
        EvidenceLine(
            f"{len(systems)} の部門システムのうち {len(restricted)} が接続元を正規端末（登録 {total} 台）に限定して"
            f"監視しています。" + (f"{len(none)} システムは端末が未登録です: {'、'.join(none)}。" if none else ""),
            f"{len(restricted)} of {len(systems)} department systems restrict connections to registered terminals "
            f"({total} registered)." + (f" {len(none)} have none registered: {', '.join(none)}." if none else ""),
            "/terminals/",
            {"systems": len(systems), "restricted": len(restricted), "none_registered": len(none), "terminals": total},
        )
    ]
    if ctx.store is not None:
        from mamori.storage.models import AlertRecord

        since = dt.datetime.fromtimestamp(ctx.now - RECENT, tz=dt.UTC)
        n = AlertRecord.objects.using(ctx.store.alias).filter(rule="unregistered-terminal", last_seen__gte=since)
        count = n.count()
        lines.append(
            EvidenceLine(
                f"過去30日の未登録端末からの接続の検知: {count} 件。",
                f"Connections from unregistered terminals detected in the last 30 days: {count}.",
                "/alerts/?rule=unregistered-terminal",
                {"unregistered_alerts_30d": count},
            )
        )
    proposed = YES if not none else NO
    yield Evidence("medical", "2-⑬", "terminals", tuple(lines), proposed)
    yield Evidence("vendor", "2-⑬", "terminals", tuple(lines), proposed)


# -- 2-①: the asset ledger from observation ------------------------------------------------------------------------


def asset_evidence(ctx: EvidenceContext) -> Iterable[Evidence]:
    if ctx.store is None:
        return
    table = AssetTable(ctx.store)
    assets = table.assets()
    active = [a for a in assets if a.status != "retired"]
    unknown = [a for a in active if a.status == "unreviewed"]
    confirmed = [a for a in active if a.status == "confirmed"]
    registered = {t.mac for s in ctx.site.systems for t in s.terminals if t.mac}
    registered |= {x.mac for s in ctx.site.systems for x in s.servers if x.mac}
    registered |= {e.mac for e in Ledger(ctx.store).terminals() if e.mac}
    server_ips = {x.ip for s in ctx.site.systems for x in s.servers}
    linked = sum(1 for a in active if a.mac in registered or server_ips.intersection(a.ips))
    comparison = table.last_comparison()
    lines = [
        EvidenceLine(
            f"観測した機器 {len(active)} 台（確認済み {len(confirmed)}、未確認 {len(unknown)}、登録端末・サーバと"
            f"一致 {linked}、廃止 {len(assets) - len(active)}）。",
            f"{len(active)} devices observed ({len(confirmed)} confirmed, {len(unknown)} unknown, {linked} matching "
            f"registered terminals or servers, {len(assets) - len(active)} retired).",
            "/assets/",
            {"devices": len(active), "confirmed": len(confirmed), "unknown": len(unknown), "linked": linked},
        )
    ]
    if comparison is None:
        lines.append(
            EvidenceLine(
                "台帳と実機の照合の記録がありません。", "The ledger has never been compared with reality.", "/assets/"
            )
        )
        proposed = NO
    else:
        lines.append(
            EvidenceLine(
                f"台帳と実機の照合: {day(comparison.ts)}（{comparison.user}）、その時点の未確認機器 "
                f"{comparison.unknown} 台。",
                f"Ledger compared with observation on {day(comparison.ts)} by {comparison.user}: "
                f"{comparison.unknown} unknown devices then.",
                "/assets/",
                {"compared_on": day(comparison.ts), "unknown_then": comparison.unknown},
            )
        )
        fresh = ctx.now - comparison.ts <= 365 * 86400
        proposed = YES if fresh and not unknown else NO
    yield Evidence("medical", "2-①", "assets", tuple(lines), proposed)
    yield Evidence("vendor", "2-①", "assets", tuple(lines), proposed)


# -- logs: the evidence archive and its chain verification ---------------------------------------------------------


def archive_evidence(ctx: EvidenceContext) -> Iterable[Evidence]:
    root = ctx.archive_root
    items = (("heasnet-small", "2-3-4"), ("heasnet-small", "3-5-2"))
    if root is None or not root.is_dir():
        line = EvidenceLine(
            "ログの証跡アーカイブはありません（syslog 収集が未設定）。",
            "No evidence archive of logs (the syslog collector is not set up).",
        )
        for f, i in items:
            yield Evidence(f, i, "archive", (line,), None, observed=False)
        return
    from mamori.storage.archive_verify import verify_archive

    report = ctx.cached("archive", lambda: verify_archive(root, ctx.archive_verifier, keep_days=ctx.archive_keep_days))
    senders = ctx.cached("archive-senders", lambda: _senders(ctx))
    signed = "署名検証済み" if ctx.archive_verifier is not None else "署名は未検査"
    signed_en = "signatures verified" if ctx.archive_verifier is not None else "signatures not checked"
    state_ja = "改ざんなし" if report.ok else f"改ざん・欠落 {len(report.errors)} 件"
    state_en = "no tampering found" if report.ok else f"{len(report.errors)} problems (altered or missing)"
    today = day(ctx.now)
    line = EvidenceLine(
        f"{senders} 台の機器の syslog を証跡として保管（{report.days} 日分、{report.records} 件）。本日 {today} に"
        f"ハッシュ連鎖を検証: {state_ja}（{signed} {report.signatures} 件）。",
        f"syslog from {senders} devices archived ({report.days} days, {report.records} records); hash chain "
        f"verified today ({today}): {state_en} ({signed_en}: {report.signatures}).",
        "/reports/",
        {"senders": senders, "days": report.days, "records": report.records, "ok": report.ok},
    )
    for f, i in items:
        yield Evidence(f, i, "archive", (line,), YES if report.ok else NO)


def _senders(ctx: EvidenceContext) -> int:
    """Distinct devices whose lines are in the archive (one more pass over the day files)."""
    from mamori.storage.archive_format import iter_lines, list_day_files, parse_record

    if ctx.archive_root is None:
        return 0
    senders: set[str] = set()
    for files in list_day_files(ctx.archive_root).values():
        path = next((p for p in files if p.name.endswith(".log")), files[0])
        for _number, line, complete in iter_lines(path):
            if complete and not line.startswith(b"#"):
                record = parse_record(line)
                if record is not None and len(senders) < 100_000:
                    senders.add(record.sender)
    return len(senders)


# -- HEASNET: the zone model ---------------------------------------------------------------------------------------

_ZONE_ITEMS = ("3-2-1", "3-3-1", "3-3-2", "3-5-1", "4-3-1")


def zone_evidence(ctx: EvidenceContext) -> Iterable[Evidence]:
    site = ctx.site
    form = "heasnet-small"
    if not site.segments:
        line = EvidenceLine(
            "セグメントとゾーンが設定されていません（ゾーン分けは観測していません）。",
            "No segments or zones are configured (zoning not observed).",
        )
        for item in ("3-1-1", "3-1-2", *_ZONE_ITEMS):
            yield Evidence(form, item, "zones", (line,), None, observed=False)
        return
    yield from _placement(ctx)
    policy = site.zone_policy
    rules = policy.rules if policy is not None else ()
    alerts = _zone_alerts(ctx)
    for item in _ZONE_ITEMS:
        rows = [r for r in rules if r.ref == item and r.action == "deny"]
        broken = alerts.get(item, 0)
        if not rows:
            line = EvidenceLine(
                f"ゾーンポリシーにこの項目（{item}）を引用する禁止の行がありません。",
                f"The zone policy has no forbidding row citing this item ({item}).",
                "/alerts/?rule=zone-policy",
            )
            yield Evidence(form, item, "zones", (line,), None)
            continue
        pairs = "、".join(f"{r.src}→{r.dst}" for r in rows)
        line = EvidenceLine(
            f"ゾーンポリシーが {len(rows)} 行で禁止（{pairs}）。mamori が監視し、過去30日の違反の検知は {broken} 件。",
            f"The zone policy forbids it in {len(rows)} rows ({pairs.replace('、', ', ')}); mamori watches it: "
            f"{broken} violations detected in the last 30 days.",
            "/alerts/?rule=zone-policy",
            {"rows": len(rows), "violations_30d": broken},
        )
        yield Evidence(form, item, "zones", (line,), YES if broken == 0 else NO)


def _placement(ctx: EvidenceContext) -> Iterable[Evidence]:
    import ipaddress

    nets = [(ipaddress.ip_network(c, strict=False), s) for s in ctx.site.segments for c in s.cidrs]

    def zone_of(ip: str | None) -> str:
        if not ip:
            return ""
        addr = ipaddress.ip_address(ip)
        best = max((n for n in nets if addr in n[0]), key=lambda n: n[0].prefixlen, default=None)
        return best[1].zone if best else "external"

    servers = [(s.name, x.ip) for s in ctx.site.systems for x in s.servers]
    outside = [f"{name} {ip}" for name, ip in servers if zone_of(ip) != "hsz"]
    yield Evidence(
        "heasnet-small",
        "3-1-1",
        "zones",
        (
            EvidenceLine(
                f"部門システムのサーバ {len(servers)} 台のうち High Secure Zone 外: {len(outside)} 台"
                + (f"（{'、'.join(outside)}）" if outside else "")
                + "。",
                f"{len(servers) - len(outside)} of {len(servers)} department servers are in the High Secure Zone"
                + (f"; outside it: {', '.join(outside)}" if outside else "")
                + ".",
                "/terminals/",
                {"servers": len(servers), "outside_hsz": len(outside)},
            ),
        ),
        (YES if not outside else NO) if servers else None,
    )
    terminals = [(s.name, t.ip) for s in ctx.site.systems for t in s.terminals if t.ip]
    misplaced = [f"{n} {ip}" for n, ip in terminals if zone_of(ip) == "hsz"]
    yield Evidence(
        "heasnet-small",
        "3-1-2",
        "zones",
        (
            EvidenceLine(
                f"IP の分かる登録端末 {len(terminals)} 台のうち High Secure Zone にあるもの: {len(misplaced)} 台。",
                f"Of {len(terminals)} registered terminals with a known address, {len(misplaced)} are in the High "
                "Secure Zone.",
                "/terminals/",
                {"terminals": len(terminals), "in_hsz": len(misplaced)},
            ),
        ),
        (YES if not misplaced else NO) if terminals else None,
    )


def _zone_alerts(ctx: EvidenceContext) -> dict[str, int]:
    if ctx.store is None:
        return {}
    from mamori.storage.models import AlertRecord

    since = dt.datetime.fromtimestamp(ctx.now - RECENT, tz=dt.UTC)
    out: dict[str, int] = {}
    rows = AlertRecord.objects.using(ctx.store.alias).filter(rule="zone-policy", last_seen__gte=since)
    for details in rows.values_list("details", flat=True):
        ref = str((details or {}).get("ref", ""))
        out[ref] = out.get(ref, 0) + 1
    return out


BUILTIN_PROVIDERS: tuple[Provider, ...] = (
    Provider("terminals", (("medical", "2-⑬"), ("vendor", "2-⑬")), terminal_evidence),
    Provider("assets", (("medical", "2-①"), ("vendor", "2-①")), asset_evidence),
    Provider("archive", (("heasnet-small", "2-3-4"), ("heasnet-small", "3-5-2")), archive_evidence),
    Provider("zones", tuple(("heasnet-small", i) for i in ("3-1-1", "3-1-2", *_ZONE_ITEMS)), zone_evidence),
    Provider("backups", (("medical", "3-②"), ("vendor", "3-②")), backup_evidence),
    Provider("exposure", tuple((f, i) for f in ("medical", "vendor") for i in ("2-⑫", "2-⑬")), exposure_evidence),
    Provider("maintenance", MAINTENANCE_ITEMS, maintenance_evidence),
    Provider("cleartext", LAN_ITEMS, lan_checklist_evidence),
)


def providers() -> tuple[Provider, ...]:
    """The built-in providers and those plugins declare in the ``mamori.evidence`` entry-point group."""
    found = list(BUILTIN_PROVIDERS)
    for ep in entry_points("mamori.evidence"):
        loaded = ep.load()
        if not isinstance(loaded, Provider):
            raise MamoriError(f"entry point {ep.name!r} of mamori.evidence is not a Provider")
        found.append(loaded)
    return tuple(found)


def gather(ctx: EvidenceContext, registry: Iterable[Provider] | None = None) -> dict[tuple[str, str], list[Evidence]]:
    """Every provider's evidence, by (form, item). A provider that fails gives a line saying so."""
    from mamori.reports.checklist.central import site_evidence

    out: dict[tuple[str, str], list[Evidence]] = {}
    for provider in registry if registry is not None else providers():
        try:
            if ctx.central_site is not None:  # one site on the central server (reports/checklist/central.py)
                found = list(site_evidence(ctx, provider, builtin=provider in BUILTIN_PROVIDERS))
            else:
                found = list(provider.func(ctx))
        except Exception as exc:  # one failing source must not stop the checklist
            log.exception("evidence provider %s failed", provider.name)
            line = EvidenceLine(
                f"証拠を集められませんでした（{provider.name}）: {exc}",
                f"Could not gather this evidence ({provider.name}): {exc}",
            )
            found = [Evidence(f, i, provider.name, (line,), None, observed=False) for f, i in provider.items]
        for ev in found:
            out.setdefault((ev.form, ev.item), []).append(ev)
    return out
