"""The asset ledger from observation (2-①) as a person reads it: each device with its vendor from the OUI registry,
its segment and zone, what it is registered as (a department system's terminal or server, a router), and its
status; unknown devices first. Shared by the dashboard's page, ``mamori assets`` and the inspection pack.

Names and notes come from people and the vendor from a registry file; they are returned as they are: each output
escapes them for its own format (Django's autoescape, ``mamori.escape`` in the CSV and XLSX writers).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mamori.model import Site
from mamori.reports.oui import OuiRegistry
from mamori.rules.zones import ZONE_NAMES
from mamori.storage import Asset, Ledger, Store

__all__ = ["STATUS_ORDER", "AssetView", "asset_views", "counts"]

STATUS_ORDER = {"unreviewed": 0, "confirmed": 1, "retired": 2}


@dataclass(frozen=True)
class AssetView:
    asset: Asset
    vendor: str
    segments: tuple[str, ...]  # "電子カルテ (高セキュアゾーン)": the segments of its addresses, in the reader's words
    registered: tuple[str, ...]  # "透析システム: 透析端末-1", "core-router (router)"...

    @property
    def mac(self) -> str:
        return self.asset.mac

    @property
    def status(self) -> str:
        return self.asset.status


class _Placer:
    def __init__(self, site: Site, lang: str) -> None:
        self.nets = [(ipaddress.ip_network(c, strict=False), s.name, s.zone) for s in site.segments for c in s.cidrs]
        self.lang = lang

    def place(self, ips: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for ip in ips:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                continue
            found = [n for n in self.nets if n[0].version == addr.version and addr in n[0]]
            if not found:
                continue
            _net, name, zone = max(found, key=lambda n: n[0].prefixlen)
            words = ZONE_NAMES.get(zone or "", (zone or "", zone or ""))
            text = f"{name} ({words[0] if self.lang == 'ja' else words[1]})" if zone else name
            if text not in out:
                out.append(text)
        return tuple(out)


def _registered(site: Site, store: Store, lang: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """What each MAC and each server address is registered as."""
    by_mac: dict[str, list[str]] = {}
    by_ip: dict[str, list[str]] = {}
    router = "ルータ" if lang == "ja" else "router"
    for g in site.gateways:
        by_mac.setdefault(g.mac, []).append(f"{g.name} ({router})")
    server = "サーバ" if lang == "ja" else "server"
    for s in site.systems:
        for x in s.servers:
            label = f"{s.name}: {x.name or x.ip} ({server})"
            if x.mac:
                by_mac.setdefault(x.mac, []).append(label)
            else:
                by_ip.setdefault(x.ip, []).append(label)
        for t in s.terminals:
            if t.mac:
                by_mac.setdefault(t.mac, []).append(f"{s.name}: {t.name}")
    for e in Ledger(store).terminals():
        if e.mac:
            by_mac.setdefault(e.mac, []).append(f"{e.system}: {e.name}")
    return by_mac, by_ip


def asset_views(store: Store, site: Site, lang: str, *, oui: OuiRegistry | None = None) -> list[AssetView]:
    """Every device of the ledger, unknown ones first, then confirmed, then retired; most recently seen first."""
    from mamori.storage import AssetTable

    oui = oui or OuiRegistry()
    placer = _Placer(site, lang)
    by_mac, by_ip = _registered(site, store, lang)
    views = []
    for a in AssetTable(store).assets():
        registered = list(dict.fromkeys(by_mac.get(a.mac, [])))
        for ip in a.ips:
            registered += [x for x in by_ip.get(ip, []) if x not in registered]
        views.append(AssetView(a, oui.vendor(a.mac), placer.place(a.ips), tuple(registered)))
    views.sort(key=lambda v: (STATUS_ORDER.get(v.status, 3), -v.asset.last_seen, v.mac))
    return views


def counts(views: list[AssetView]) -> dict[str, int]:
    """Devices in the ledger (not retired), unknown (never reviewed), confirmed, retired."""
    return {
        "devices": sum(1 for v in views if v.status != "retired"),
        "unknown": sum(1 for v in views if v.status == "unreviewed"),
        "confirmed": sum(1 for v in views if v.status == "confirmed"),
        "retired": sum(1 for v in views if v.status == "retired"),
    }
