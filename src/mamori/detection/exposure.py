"""``exposure``: what a host offers that its role does not need, or did not offer before.

Two kinds of evidence, one judgement (:func:`judge_host`):

- **A scan** (``mamori scan``: nmap over the site model's scope): per host that is up, the open ports compared with
  the host's previous run, its approved baseline, and what its role needs. :func:`raise_scan_alerts` opens one
  alert per host and run, listing the ports.
- **Services seen answering** (:class:`ExposureDetector`): a SYN-ACK from a host's port on the wire is that service
  answering, like Zeek's known-services. The services are remembered (:class:`ServiceMemory`, wired to the store by
  the runtime; detection never imports storage) with their first and last seen, so that a hospital that may not
  scan still gets the table. A service seen for the first time that its role does not need (or a database port
  answering another segment) is an alert, one per host and burst of observations.

What the role needs (the choices are written in docs/design.md §10):

- **unneeded**: a port on the dangerous-port list (``dangerous_ports``: Telnet, FTP, SMB, RDP...) that no department
  system lists for this host (its servers' ``ports``).
- **database**: a database port (1433, 1521, 3306, 5432) answering an address in another segment than the host's
  (the scanner's source address, or the client a SYN-ACK went to) that is not a registered terminal of a department
  system listing that port on that host; without segments, a database port no system lists for the host.
- **new**: open now, not open in the host's previous run (a first run has no new ports).
- Ports in the host's approved baseline never raise an alert (they are still listed in the table), whether a scan
  or the wire found them.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from mamori.config import ExposureSettings
from mamori.detection.book import AlertBook
from mamori.detection.site_index import SiteIndex
from mamori.detection.zones import EXTERNAL, IGNORED, SegmentMap
from mamori.model import KnownService, PortResponse, Severity

__all__ = [
    "DATABASE_PORTS",
    "RULE",
    "ExposureDetector",
    "HostJudgement",
    "ServiceMemory",
    "judge_host",
    "port_key",
    "raise_scan_alerts",
    "scan_key",
]

RULE = "exposure"
DATABASE_PORTS = frozenset({1433, 1521, 3306, 5432})
_SEVERE = frozenset({23, 3389, 445, 139, 21})  # remote control and file sharing left open
_DYNAMIC = 49152  # from here on ports are ephemeral (IANA): answers from them are not services unless listed
_LAST_SEEN_STEP = 3600  # last-seen is kept to the hour: fewer writes


def port_key(proto: str, port: int) -> str:
    return f"{proto}/{port}"


class ServiceMemory(Protocol):
    """Where the services seen answering live between runs (the store, wired by the runtime). ``save`` hands over
    the services new or seen again since the last call and must not block for long."""

    def load(self) -> Iterable[KnownService]: ...

    def save(self, services: Sequence[KnownService]) -> None: ...

    def approved(self) -> Mapping[str, Collection[str]]:
        """The approved baseline: host -> port keys ("tcp/445") approved on the dashboard. Called at every refresh
        (about once a second): an implementation that reads a database caches it for a while."""
        ...


@dataclass(frozen=True)
class HostJudgement:
    """The verdict on one host's open ports. Port keys are "tcp/445"."""

    host: str
    open_ports: tuple[str, ...]
    new: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    unneeded: tuple[str, ...] = ()
    database: tuple[str, ...] = ()
    approved: tuple[str, ...] = ()  # open and in the baseline (never alerted)
    segment: str | None = None

    @property
    def alerting(self) -> bool:
        return bool(self.new or self.unneeded or self.database)

    def reasons(self, key: str) -> tuple[str, ...]:
        """Why ``key`` is in the verdict: new, unneeded, database, approved."""
        found = tuple(
            name
            for name, keys in (("new", self.new), ("unneeded", self.unneeded), ("database", self.database))
            if key in keys
        )
        return (*found, "approved") if key in self.approved else found

    def severity(self) -> Severity:
        ports = {int(k.partition("/")[2]) for k in (*self.unneeded, *self.database)}
        if self.database or ports & _SEVERE:
            return Severity.HIGH
        return Severity.MEDIUM if self.unneeded else Severity.LOW


class _Role:
    """What the site model says a host needs, and where it stands."""

    def __init__(self, index: SiteIndex) -> None:
        self.index = index
        self.dangerous = frozenset(p.port for p in index.site.dangerous_ports)
        self.segments = SegmentMap(index.site.segments)

    def needs(self, host: str, proto: str, port: int) -> bool:
        services = self.index.tcp_services if proto == "tcp" else self.index.udp_services
        return (host, port) in services

    def segment(self, address: str) -> int:
        return self.segments.lookup(address) if self.index.site.segments else EXTERNAL

    def segment_name(self, address: str) -> str | None:
        found = self.segment(address)
        return self.index.site.segments[found].name if found >= 0 else None

    def from_other_segment(self, host: str, port: int, observer: str) -> bool:
        """A database port answering ``observer``: from another segment, and not one of the system's terminals."""
        if not self.index.site.segments or not observer:
            return not self.needs(host, "tcp", port)
        mine, theirs = self.segment(host), self.segment(observer)
        if theirs in (IGNORED, mine):
            return False
        system = self.index.tcp_services.get((host, port))
        return system is None or observer not in self.index.ips.get(system.name, {})


def judge_host(
    role: _Role | SiteIndex,
    host: str,
    open_now: Iterable[str],
    *,
    previous: Iterable[str] | None = None,
    baseline: Iterable[str] | None = None,
    observer: str = "",
) -> HostJudgement:
    """Judge ``host``'s open ports (keys "tcp/445"): ``previous`` is the host's last run (None: no run before),
    ``baseline`` its approved ports (None: none approved), ``observer`` the address that reached them."""
    r = role if isinstance(role, _Role) else _Role(role)
    ports = tuple(sorted(set(open_now), key=_order))
    approved = set(baseline) if baseline is not None else set()
    before = set(previous) if previous is not None else None
    unneeded: list[str] = []
    database: list[str] = []
    new: list[str] = []
    for key in ports:
        proto, _, number = key.partition("/")
        port = int(number)
        if key in approved:
            continue
        if port in r.dangerous and not r.needs(host, proto, port):
            unneeded.append(key)
        if proto == "tcp" and port in DATABASE_PORTS and r.from_other_segment(host, port, observer):
            database.append(key)
        if before is not None and key not in before:
            new.append(key)
    gone = tuple(sorted(before - set(ports), key=_order)) if before is not None else ()
    return HostJudgement(
        host=host,
        open_ports=ports,
        new=tuple(new),
        gone=gone,
        unneeded=tuple(unneeded),
        database=tuple(database),
        approved=tuple(k for k in ports if k in approved),
        segment=r.segment_name(host),
    )


def _order(key: str) -> tuple[str, int]:
    proto, _, number = key.partition("/")
    return proto, int(number) if number.isdigit() else 0


def scan_key(host: str) -> str:
    """The key of a host's scan alert: one episode per host, continued across runs (each run is a process)."""
    return f"{host}|scan"


def raise_scan_alerts(
    book: AlertBook,
    index: SiteIndex,
    judgements: Iterable[HostJudgement],
    *,
    scan_id: int,
    ts: float,
    observer: str,
    services: Mapping[str, Mapping[str, str]],
) -> None:
    """One alert per host whose findings persist (``services``: host -> port key -> service words).

    ``book`` holds the hosts' open scan alerts of earlier runs (restored by the caller). A run that finds what the
    open alert already lists (or less) updates it: one more run counted, ``last_seen`` and ``scan_id`` moved on,
    the ports as found now. A run that finds a port the open alert does not list ends it (``ended: changed``) and
    opens a new one; a run in which the host is up and has no finding left (fixed, approved, no longer new) ends it
    (``ended: cleared``). A host not up in this run leaves its alert as it is."""
    for j in judgements:
        key = scan_key(j.host)
        state = book.get(RULE, key)
        findings = set(j.unneeded + j.database + j.new)
        if state is not None:
            listed = {
                k for name in ("unneeded_ports", "database_ports", "new_ports") for k in state.details.get(name, ())
            }
            if not findings or findings - listed:
                state.details.update(ended_scan_id=scan_id, ended="changed" if findings else "cleared")
                state.dirty = True
                book.close(RULE, key)
                state = None
        if not findings:
            continue
        first = (j.unneeded or j.database or j.new)[0]
        if state is None:
            state, _created = book.open(
                RULE,
                key,
                ts,
                severity=j.severity(),
                quiet_period=0.0,
                dst_ip=j.host,
                system=index.system_of_server(j.host),
            )
            state.details.update(host=j.host, source="scan", first_scan_id=scan_id)
        state.dst_port = int(first.partition("/")[2])
        state.severity = j.severity()
        state.last_seen = max(state.last_seen, ts)
        state.details.update(
            scan_id=scan_id,
            segment=j.segment,
            observer=observer,
            new_ports=list(j.new),
            unneeded_ports=list(j.unneeded),
            database_ports=list(j.database),
            gone_ports=list(j.gone),
            services={k: v for k, v in services.get(j.host, {}).items() if k in j.open_ports},
        )
        state.count += 1  # the runs that found it (the ports are in the details)
        state.dirty = True


class ExposureDetector:
    """Services seen answering (SYN-ACKs), remembered like Zeek's known-services, judged when first seen."""

    rule = RULE
    response_kinds = frozenset({"synack"})

    def __init__(
        self, index: SiteIndex, settings: ExposureSettings, book: AlertBook, memory: ServiceMemory | None = None
    ) -> None:
        self.book = book
        self.quiet_period = settings.quiet_period
        self.max_services = settings.max_services
        # (host, port) -> [first seen, last seen, client first answered], whole seconds
        self.services: dict[tuple[str, int], tuple[int, int, str]] = {}
        self._pending: set[tuple[str, int]] = set()
        self.memory = memory
        self.evicted = 0
        self.approved: Mapping[str, Collection[str]] = {}  # the approved baseline, as the memory last gave it
        self.use_index(index)
        if memory is not None:
            self.approved = memory.approved()
            loaded = [s for s in memory.load() if s.proto == "tcp"]
            if len(loaded) > self.max_services:
                loaded = heapq.nlargest(self.max_services, loaded, key=lambda s: s.last_seen)
            for s in loaded:
                self.services[(s.host, s.port)] = (int(s.first_seen), int(s.last_seen), s.client)

    def use_index(self, index: SiteIndex) -> None:
        self.index = index
        self.role = _Role(index)

    def on_response(self, obs: PortResponse) -> None:
        key = (obs.src_ip, obs.src_port)
        second = int(obs.ts)
        known = self.services.get(key)
        if known is not None:
            if second - known[1] >= _LAST_SEEN_STEP:
                self.services[key] = (known[0], second, known[2])
                if self.memory is not None:
                    self._pending.add(key)
            return
        if obs.src_port >= _DYNAMIC and not self.role.needs(obs.src_ip, "tcp", obs.src_port):
            return  # an ephemeral port (an FTP data connection, a callback), not a service
        if self.role.segment(obs.src_ip) == IGNORED:
            return
        if len(self.services) >= self.max_services:
            self._forget()
        self.services[key] = (second, second, obs.dst_ip)
        if self.memory is not None:
            self._pending.add(key)
        judged = judge_host(
            self.role,
            obs.src_ip,
            [port_key("tcp", obs.src_port)],
            baseline=self.approved.get(obs.src_ip),
            observer=obs.dst_ip,
        )
        if judged.alerting:
            self._alert(obs, judged)

    def _forget(self) -> None:
        count = max(1, len(self.services) // 100)
        for old in heapq.nsmallest(count, self.services, key=lambda k: self.services[k][1]):
            del self.services[old]
            self._pending.discard(old)
        self.evicted += count

    def _alert(self, obs: PortResponse, judged: HostJudgement) -> None:
        state, created = self.book.open(
            RULE,
            f"{obs.src_ip}|passive",
            obs.ts,
            severity=judged.severity(),
            quiet_period=self.quiet_period,
            dst_ip=obs.src_ip,
            dst_port=obs.src_port,
            system=self.index.system_of_server(obs.src_ip),
        )
        d = state.details
        if created:
            d.update(host=obs.src_ip, source="passive", segment=judged.segment, observer=obs.dst_ip)
        _merge(d, "unneeded_ports", judged.unneeded)
        _merge(d, "database_ports", judged.database)
        state.severity = max(state.severity, judged.severity())
        state.add(obs, obs.ts)

    def known(self) -> list[KnownService]:
        return [KnownService(h, "tcp", p, float(v[0]), float(v[1]), v[2]) for (h, p), v in self.services.items()]

    def flush(self) -> None:
        """Hand the services new or seen again since the last call to the memory."""
        if self.memory is None or not self._pending:
            return
        records = []
        for key in self._pending:
            value = self.services.get(key)
            if value is not None:
                records.append(KnownService(key[0], "tcp", key[1], float(value[0]), float(value[1]), value[2]))
        self._pending.clear()
        self.memory.save(records)

    def refresh(self) -> None:
        self.flush()
        if self.memory is not None:
            self.approved = self.memory.approved()

    def finish(self) -> None:
        self.flush()


def _merge(details: dict[str, object], name: str, keys: tuple[str, ...]) -> None:
    values = details.setdefault(name, [])
    assert isinstance(values, list)  # noqa: S101 - the detector's own working dict
    for key in keys:
        if key not in values and len(values) < 64:
            values.append(key)
