"""Exposure in the database: every scan run with its hosts and ports, the services seen answering, approvals.

Tables: ``mamori_scan_run`` (one row per ``mamori scan``, failed runs too), ``mamori_scan_host`` and
``mamori_scan_port`` (each port with nmap's state, service, product and version, and the judgement made then in
``reasons``), ``mamori_known_service`` (services seen answering on the wire: host, protocol, port, first and last
seen), ``mamori_exposure_approval`` (a host's approved ports). ``mamori.reports.exposure`` judges and lists them
for the dashboard, the exports and the checklist (docs/design.md §10).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mamori.errors import StorageError
from mamori.model import KnownService, ScanReport
from mamori.storage.store import Store

__all__ = ["ExposureTable", "HostRow", "PortRow", "RunRow", "key_of"]

_CHUNK = 500


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def key_of(proto: str, port: int) -> str:
    return f"{proto}/{port}"


@dataclass(frozen=True)
class PortRow:
    """One port of a host as the site table shows it: from the latest scan and/or seen answering."""

    proto: str
    port: int
    state: str = ""  # from the latest scan ("" if only seen answering)
    service: str = ""
    product: str = ""
    version: str = ""
    reasons: tuple[str, ...] = ()
    first_seen: float | None = None  # seen answering on the wire
    last_seen: float | None = None
    approved: bool = False

    @property
    def key(self) -> str:
        return key_of(self.proto, self.port)


@dataclass(frozen=True)
class HostRow:
    host: str
    hostname: str = ""
    mac: str = ""
    scanned_at: float | None = None  # the latest run that found the host up
    run_id: int | None = None
    ports: tuple[PortRow, ...] = ()
    approved_at: float | None = None
    approved_by: str = ""

    @property
    def findings(self) -> tuple[PortRow, ...]:
        return tuple(p for p in self.ports if p.reasons and not p.approved)


@dataclass(frozen=True)
class RunRow:
    id: int
    started: float
    finished: float | None
    status: str
    error: str
    seconds: float
    hosts_up: int
    hosts_down: int
    alerts: int
    scope: Mapping[str, Any] = field(default_factory=dict)
    observer: str = ""


class ExposureTable:
    def __init__(self, store: Store) -> None:
        from mamori.storage import models

        self.store = store
        self.alias = store.alias
        self.m = models

    def _db(self, what: str, exc: Exception) -> StorageError:
        return StorageError(f"cannot {what} in {self.store.path}: {exc}")

    # -- scans ---------------------------------------------------------------------------------------------------

    def previous_ports(self, hosts: Iterable[str]) -> dict[str, set[str]]:
        """Per host, the open ports of the latest successful run that found it up (hosts never found are absent)."""
        from django.db import DatabaseError

        wanted = list(dict.fromkeys(hosts))
        out: dict[str, set[str]] = {}
        try:
            for begin in range(0, len(wanted), _CHUNK):
                rows = (
                    self.m.ScanHostRecord.objects.using(self.alias)
                    .filter(address__in=wanted[begin : begin + _CHUNK], run__status="ok")
                    .order_by("address", "-run_id")
                    .prefetch_related("ports")
                )
                for row in rows:
                    if row.address not in out:
                        out[row.address] = {key_of(p.proto, p.port) for p in row.ports.all() if p.state == "open"}
        except DatabaseError as exc:
            raise self._db("read the previous scans", exc) from exc
        return out

    def save_run(
        self,
        *,
        started: float,
        scope: Mapping[str, Any],
        argv: Sequence[str],
        seconds: float,
        observer: str,
        report: ScanReport | None = None,
        error: str = "",
        reasons: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> int:
        """Store one run (``report`` None: it failed, ``error`` says why); ``reasons``: host -> port key -> why."""
        from django.db import DatabaseError, transaction

        reasons = reasons or {}
        try:
            with transaction.atomic(using=self.alias):
                run = self.m.ScanRun.objects.using(self.alias).create(
                    started_at=_utc(started),
                    finished_at=_utc(report.finished) if report is not None and report.finished else None,
                    status="ok" if report is not None and not error else "failed",
                    error=error,
                    scope=dict(scope),
                    argv=list(argv),
                    nmap_version=report.version if report is not None else "",
                    observer=observer,
                    seconds=seconds,
                    hosts_up=len(report.hosts) if report is not None else 0,
                    hosts_down=report.hosts_down if report is not None else 0,
                )
                for host in report.hosts if report is not None else ():
                    row = self.m.ScanHostRecord.objects.using(self.alias).create(
                        run=run, address=host.address, hostname=host.hostname, mac=host.mac
                    )
                    why = reasons.get(host.address, {})
                    self.m.ScanPortRecord.objects.using(self.alias).bulk_create(
                        [
                            self.m.ScanPortRecord(
                                host=row,
                                proto=p.proto,
                                port=p.port,
                                state=p.state,
                                service=p.service,
                                product=p.product,
                                version=p.version,
                                reasons=",".join(why.get(key_of(p.proto, p.port), ())),
                            )
                            for p in host.ports
                        ],
                        batch_size=_CHUNK,
                    )
        except DatabaseError as exc:
            raise self._db("store the scan", exc) from exc
        return int(run.id)

    def set_alerts(self, run_id: int, alerts: int) -> None:
        self.m.ScanRun.objects.using(self.alias).filter(id=run_id).update(alerts=alerts)

    def runs(self, limit: int = 50) -> list[RunRow]:
        rows = self.m.ScanRun.objects.using(self.alias).order_by("-started_at", "-id")[:limit]
        return [
            RunRow(
                id=r.id,
                started=r.started_at.timestamp(),
                finished=r.finished_at.timestamp() if r.finished_at else None,
                status=r.status,
                error=r.error,
                seconds=r.seconds,
                hosts_up=r.hosts_up,
                hosts_down=r.hosts_down,
                alerts=r.alerts,
                scope=r.scope,
                observer=r.observer,
            )
            for r in rows
        ]

    # -- services seen answering -------------------------------------------------------------------------------

    def load_services(self) -> list[KnownService]:
        from django.db import DatabaseError

        try:
            rows = self.m.KnownServiceRecord.objects.using(self.alias).values_list(
                "host", "proto", "port", "first_seen", "last_seen", "client"
            )
            return [KnownService(h, pr, p, f.timestamp(), la.timestamp(), c) for h, pr, p, f, la, c in rows]
        except DatabaseError as exc:
            raise self._db("read the services seen answering", exc) from exc

    def save_services(self, services: Sequence[KnownService], *, max_services: int | None = None) -> None:
        """Merge (earliest first seen, latest last seen) and keep the table within ``max_services`` rows."""
        from django.db import DatabaseError, transaction

        manager = self.m.KnownServiceRecord.objects.using(self.alias)
        try:
            with transaction.atomic(using=self.alias):
                for begin in range(0, len(services), _CHUNK):
                    chunk = {(s.host, s.proto, s.port): s for s in services[begin : begin + _CHUNK]}
                    existing = {(r.host, r.proto, r.port): r for r in manager.filter(host__in={k[0] for k in chunk})}
                    new, changed = [], []
                    for key, s in chunk.items():
                        row = existing.get(key)
                        if row is None:
                            new.append(
                                self.m.KnownServiceRecord(
                                    host=s.host,
                                    proto=s.proto,
                                    port=s.port,
                                    first_seen=_utc(s.first_seen),
                                    last_seen=_utc(s.last_seen),
                                    client=s.client,
                                )
                            )
                        else:
                            row.first_seen = min(row.first_seen, _utc(s.first_seen))
                            row.last_seen = max(row.last_seen, _utc(s.last_seen))
                            changed.append(row)
                    manager.bulk_create(new, batch_size=_CHUNK)
                    manager.bulk_update(changed, ["first_seen", "last_seen"], batch_size=_CHUNK)
                if max_services is not None:
                    excess = manager.count() - max_services
                    if excess > 0:
                        oldest = list(manager.order_by("last_seen", "id").values_list("id", flat=True)[:excess])
                        for begin in range(0, len(oldest), _CHUNK):
                            manager.filter(id__in=oldest[begin : begin + _CHUNK]).delete()
        except DatabaseError as exc:
            raise self._db("write the services seen answering", exc) from exc

    # -- approvals -----------------------------------------------------------------------------------------------

    def baselines(self) -> dict[str, set[str]]:
        return {a.host: set(a.ports) for a in self.m.ExposureApproval.objects.using(self.alias).all()}

    def approve(self, hosts: Iterable[str] | None, *, user: str, now: float) -> int:
        """Approve the current state (latest scan's open ports and the services seen answering) of ``hosts``, or of
        every host known when None. Returns the hosts approved."""
        from django.db import transaction

        rows = self.site_table(hosts=None if hosts is None else list(hosts))
        with transaction.atomic(using=self.alias):
            manager = self.m.ExposureApproval.objects.using(self.alias)
            for row in rows:
                ports = sorted({p.key for p in row.ports if p.state in ("open", "")})
                manager.update_or_create(
                    host=row.host, defaults={"ports": ports, "approved_by": user, "approved_at": _utc(now)}
                )
        return len(rows)

    # -- the site table --------------------------------------------------------------------------------------------

    def site_table(self, hosts: list[str] | None = None) -> list[HostRow]:
        """Every host known from scans or the wire (or just ``hosts``), with its ports, sorted by address."""
        import ipaddress

        latest: dict[str, Any] = {}
        scans = self.m.ScanHostRecord.objects.using(self.alias).filter(run__status="ok")
        if hosts is not None:
            scans = scans.filter(address__in=hosts)
        for row in scans.select_related("run").order_by("address", "-run_id").prefetch_related("ports"):
            latest.setdefault(row.address, row)
        services = self.m.KnownServiceRecord.objects.using(self.alias)
        if hosts is not None:
            services = services.filter(host__in=hosts)
        seen: dict[str, list[Any]] = {}
        for s in services:
            seen.setdefault(s.host, []).append(s)
        approvals = {a.host: a for a in self.m.ExposureApproval.objects.using(self.alias).all()}
        out = []
        for address in set(latest) | set(seen):
            out.append(self._host_row(address, latest.get(address), seen.get(address, []), approvals.get(address)))

        def order(r: HostRow) -> tuple[int, int, str]:
            try:
                ip = ipaddress.ip_address(r.host)
                return ip.version, int(ip), ""
            except ValueError:
                return 9, 0, r.host

        return sorted(out, key=order)

    @staticmethod
    def _host_row(address: str, scan: Any, seen: list[Any], approval: Any) -> HostRow:
        approved = set(approval.ports) if approval is not None else set()
        ports: dict[str, PortRow] = {}
        if scan is not None:
            for p in scan.ports.all():
                k = key_of(p.proto, p.port)
                ports[k] = PortRow(
                    p.proto,
                    p.port,
                    p.state,
                    p.service,
                    p.product,
                    p.version,
                    tuple(r for r in p.reasons.split(",") if r and r != "approved"),
                    approved=k in approved,
                )
        for s in seen:
            k = key_of(s.proto, s.port)
            old = ports.get(k)
            first, last = s.first_seen.timestamp(), s.last_seen.timestamp()
            if old is None:
                ports[k] = PortRow(s.proto, s.port, first_seen=first, last_seen=last, approved=k in approved)
            else:
                ports[k] = PortRow(**{**old.__dict__, "first_seen": first, "last_seen": last})
        return HostRow(
            host=address,
            hostname=scan.hostname if scan is not None else "",
            mac=scan.mac if scan is not None else "",
            scanned_at=scan.run.started_at.timestamp() if scan is not None else None,
            run_id=scan.run_id if scan is not None else None,
            ports=tuple(sorted(ports.values(), key=lambda p: (p.proto, p.port))),
            approved_at=approval.approved_at.timestamp() if approval is not None else None,
            approved_by=approval.approved_by if approval is not None else "",
        )

    def host_history(self, host: str, limit: int = 20) -> list[tuple[RunRow, tuple[PortRow, ...]]]:
        """The runs that found ``host`` up, newest first, with its ports in each."""
        rows = (
            self.m.ScanHostRecord.objects.using(self.alias)
            .filter(address=host)
            .select_related("run")
            .order_by("-run_id")
            .prefetch_related("ports")[:limit]
        )
        out = []
        for row in rows:
            r = row.run
            run = RunRow(
                r.id,
                r.started_at.timestamp(),
                r.finished_at.timestamp() if r.finished_at else None,
                r.status,
                r.error,
                r.seconds,
                r.hosts_up,
                r.hosts_down,
                r.alerts,
                r.scope,
                r.observer,
            )
            ports = tuple(
                PortRow(
                    p.proto,
                    p.port,
                    p.state,
                    p.service,
                    p.product,
                    p.version,
                    tuple(x for x in p.reasons.split(",") if x),
                )
                for p in row.ports.all()
            )
            out.append((run, ports))
        return out
