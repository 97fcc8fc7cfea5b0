"""Work plans' windows in the site's time zone, and the vendors' addresses, accounts and targets.

Pure functions over the site model (no clock of their own: the time is always passed in), shared by the
remote-maintenance detector and the work report. A recurring window is computed from the local date in the site's
time zone (``Site.time_zone``, Asia/Tokyo by default), so "every month on the 1st at 10:00" is 10:00 in Tokyo
whatever zone the sensor's machine is set to, and a month boundary is the site's.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import zoneinfo
from collections.abc import Iterable, Iterator

from mamori.model import Vendor, WorkPlan

__all__ = ["Targets", "VendorIndex", "account_key", "window_at", "windows_between"]

_DAY = 86400.0


@functools.lru_cache(maxsize=16)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _fires(plan: WorkPlan, day: dt.date) -> bool:
    if plan.every == "day":
        return True
    if plan.every == "week":
        return day.weekday() == plan.weekday
    if plan.every == "month":
        return day.day == plan.day
    return False


def _start_on(plan: WorkPlan, day: dt.date, zone: zoneinfo.ZoneInfo) -> float:
    hour, _, minute = plan.time.partition(":")
    return dt.datetime(day.year, day.month, day.day, int(hour), int(minute or 0), tzinfo=zone).timestamp()


def window_at(plan: WorkPlan, ts: float, time_zone: str) -> tuple[float, float] | None:
    """The window of ``plan`` that contains ``ts`` (start inclusive, end exclusive), or None."""
    if plan.start is not None and plan.end is not None:
        return (plan.start, plan.end) if plan.start <= ts < plan.end else None
    if plan.every is None or plan.duration <= 0:
        return None
    zone = _zone(time_zone)
    today = dt.datetime.fromtimestamp(ts, zone).date()
    for back in range(int(plan.duration // _DAY) + 2):  # a window started up to `duration` before may still run
        day = today - dt.timedelta(days=back)
        if _fires(plan, day):
            start = _start_on(plan, day, zone)
            if start <= ts < start + plan.duration:
                return start, start + plan.duration
    return None


def windows_between(plan: WorkPlan, since: float, until: float, time_zone: str) -> Iterator[tuple[float, float]]:
    """Every window of ``plan`` that overlaps [since, until), in order."""
    if plan.start is not None and plan.end is not None:
        if plan.start < until and plan.end > since:
            yield plan.start, plan.end
        return
    if plan.every is None or plan.duration <= 0:
        return
    zone = _zone(time_zone)
    day = dt.datetime.fromtimestamp(since - plan.duration, zone).date()
    last = dt.datetime.fromtimestamp(until, zone).date()
    while day <= last:
        if _fires(plan, day):
            start = _start_on(plan, day, zone)
            if start < until and start + plan.duration > since:
                yield start, start + plan.duration
        day += dt.timedelta(days=1)


def account_key(account: str) -> str:
    """``HOSPITAL\\vendor-dia`` / ``vendor-dia@hospital.local`` / ``Vendor-Dia`` -> ``vendor-dia``."""
    name = account.strip().rsplit("\\", 1)[-1]
    return name.split("@", 1)[0].casefold()


class Targets:
    """A list of addresses, networks and computer names; ``in`` takes an address or a computer name."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.names: set[str] = set()
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry.casefold())
                self.names.add(entry.split(".", 1)[0].casefold())
        self.empty = not self.networks and not self.names

    def __contains__(self, target: str) -> bool:
        try:
            address = ipaddress.ip_address(target)
        except ValueError:
            name = target.casefold()
            return name in self.names or name.split(".", 1)[0] in self.names
        return any(address.version == net.version and address in net for net in self.networks)


class VendorIndex:
    """Which vendor an address or an account belongs to (the most specific source network wins)."""

    def __init__(self, vendors: Iterable[Vendor]) -> None:
        self.vendors = tuple(vendors)
        nets = [
            (ipaddress.ip_network(source, strict=False), vendor) for vendor in self.vendors for source in vendor.sources
        ]
        nets.sort(key=lambda item: -item[0].prefixlen)
        self._nets = nets
        self._accounts = {account_key(a): v for v in self.vendors for a in v.accounts}
        self._cache: dict[str, Vendor | None] = {}

    def by_address(self, ip: str | None) -> Vendor | None:
        if not ip:
            return None
        if ip in self._cache:
            return self._cache[ip]
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            found = None
        else:
            found = next((v for net, v in self._nets if net.version == address.version and address in net), None)
        if len(self._cache) > 65536:
            self._cache.clear()
        self._cache[ip] = found
        return found

    def by_account(self, account: str | None) -> Vendor | None:
        return self._accounts.get(account_key(account)) if account else None
