"""The effective site model: the settings file's site plus the active terminals of the ledger in the database
(and the work plans entered on the dashboard, ``runtime.maintenance``).

The settings file stays authoritative: a ledger terminal whose MAC (or, behind a router, IP) is already registered
for the same system in the file is merged into the file's entry, and a ledger terminal of a system the file does
not define is left out with a warning, never an error (the sensor must start even when the two disagree).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from mamori.config import Settings
from mamori.model import DepartmentSystem, Gateway, Site, Terminal

if TYPE_CHECKING:  # the store is loaded only when there is one (`analyze --no-store` reads none)
    from mamori.storage import LedgerEntry, Store

__all__ = ["effective_site", "merge_ledger"]

log = logging.getLogger(__name__)

Warn = Callable[[str], None]


def effective_site(settings: Settings, store: Store | None, *, warn: Warn | None = None) -> Site:
    """The site of ``settings`` with the ledger's active terminals added (``store`` None: the file's site).
    Disagreements are reported through ``warn`` (default: a logged warning)."""
    if store is None:
        return settings.site
    from mamori.runtime.maintenance import site_with_plans
    from mamori.storage import Ledger

    return site_with_plans(merge_ledger(settings.site, Ledger(store).terminals(), warn=warn), store)


def merge_ledger(site: Site, entries: Iterable[LedgerEntry], *, warn: Warn | None = None) -> Site:
    """``site`` with ``entries`` added to their systems (pure; see :func:`effective_site`)."""
    warn = warn or log.warning
    by_system: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        if entry.active:
            by_system.setdefault(entry.system, []).append(entry)
    known = {s.name for s in site.systems}
    unknown = Counter({name: len(items) for name, items in by_system.items() if name not in known})
    for name, count in sorted(unknown.items()):
        warn(
            f"台帳の端末 {count} 台のシステム {name!r} は設定ファイルにないため使いません / "
            f"{count} ledger terminal(s) of system {name!r}, which the settings file does not define, are not used"
        )
    if not by_system.keys() & known:
        return site
    ip_only = any(not e.mac for name in known for e in by_system.get(name, ()))
    if ip_only and not site.gateways:
        warn(
            "設定ファイルにルータ (gateways) がないため、IP だけで登録した端末は MAC のないログとだけ照合します / "
            "no gateways in the settings file: terminals registered by IP only match only sources without a MAC"
        )
    systems = tuple(_merge_system(s, by_system.get(s.name, ()), site.gateways, warn) for s in site.systems)
    return dataclasses.replace(site, systems=systems)


def _merge_system(
    system: DepartmentSystem, entries: Iterable[LedgerEntry], gateways: tuple[Gateway, ...], warn: Warn
) -> DepartmentSystem:
    file_macs = {t.mac: t for t in system.terminals}
    file_ips = {t.ip for t in system.terminals if t.ip}
    added: list[Terminal] = []
    for entry in entries:
        name = entry.name or entry.mac or entry.ip or ""
        if entry.mac:
            registered = file_macs.get(entry.mac)
            if registered is not None:
                if registered.ip != entry.ip:
                    warn(
                        f"{system.name}: 台帳の端末 {name} ({entry.mac}, IP {entry.ip or '任意'}) は設定ファイルにも"
                        f"登録されているため、設定ファイルの登録 (IP {registered.ip or '任意'}) を使います / "
                        f"ledger terminal {name} ({entry.mac}, IP {entry.ip or 'any'}) is also in the settings file; "
                        f"the file's entry (IP {registered.ip or 'any'}) is used"
                    )
                continue
            file_macs[entry.mac] = Terminal(name=name, mac=entry.mac, ip=entry.ip, note=entry.note)
            added.append(file_macs[entry.mac])
        elif entry.ip and entry.ip not in file_ips:
            file_ips.add(entry.ip)
            added.extend(_routed_terminals(name, entry.ip, entry.note, gateways))
    if not added:
        return system
    return dataclasses.replace(system, terminals=(*system.terminals, *added))


def _routed_terminals(name: str, ip: str, note: str, gateways: tuple[Gateway, ...]) -> list[Terminal]:
    """A terminal known by IP only arrives with a router's MAC: registered as (router MAC, IP) for each router,
    which is what the unregistered-terminal check sees. Without routers, a MAC-less entry (log sources)."""
    if not gateways:
        return [Terminal(name=name, mac="", ip=ip, note=note)]
    return [Terminal(name=name, mac=g.mac, ip=ip, note=note) for g in gateways]
