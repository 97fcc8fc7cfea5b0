"""Exposure wired together: ``mamori scan`` (nmap -> XML reader -> judgement -> store -> alerts) and the memory of
services seen answering, saved on the alert writer's thread (detection never imports storage)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mamori.config import Settings
from mamori.detection.book import AlertBook
from mamori.detection.exposure import RULE, HostJudgement, judge_host, raise_scan_alerts, scan_key
from mamori.detection.site_index import SiteIndex
from mamori.errors import MamoriError, StorageError
from mamori.model import Alert, KnownService, ScanReport, ScanScope, Site

if TYPE_CHECKING:  # loaded when a scan runs or a store is given: analyze --no-store needs none of them
    from mamori.scanner import NmapRun
    from mamori.storage import AlertWriter, Store

__all__ = ["ScanOutcome", "StoredServices", "continue_scan_alerts", "run_scan", "scope_record", "stored_services"]

log = logging.getLogger(__name__)

_APPROVALS_EVERY = 10.0  # seconds between reads of the approved baseline by the sensor
_CONTINUE_HORIZON = 400 * 86400.0  # a host's scan alert is continued by any later run within this (scans are rare)


class StoredServices:
    """The exposure rule's memory of services seen answering: loaded once, saved by the writer's thread."""

    def __init__(
        self,
        store: Store,
        writer: AlertWriter | None,
        max_services: int,
        *,
        approvals_every: float = _APPROVALS_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.writer = writer
        self.max_services = max_services
        self.approvals_every = approvals_every
        self.clock = clock
        self._approved: dict[str, frozenset[str]] = {}
        self._approved_at: float | None = None

    def approved(self) -> Mapping[str, Collection[str]]:
        """The approved baseline, read again from the store at most every ``approvals_every`` seconds (an approval
        made on the dashboard reaches the sensor within that)."""
        now = self.clock()
        if self._approved_at is not None and now - self._approved_at < self.approvals_every:
            return self._approved
        self._approved_at = now
        try:
            from mamori.storage import ExposureTable

            self._approved = {h: frozenset(p) for h, p in ExposureTable(self.store).baselines().items()}
        except StorageError as exc:
            log.error("cannot read the approved exposure baseline (kept as last read): %s", exc)
        return self._approved

    def load(self) -> Iterable[KnownService]:
        try:
            from mamori.storage import ExposureTable

            services = ExposureTable(self.store).load_services()
        except StorageError as exc:
            log.error("%s (services seen answering are learned again from now on)", exc)
            return []
        if services:
            log.info("exposure: %d service(s) seen answering before", len(services))
        return services

    def save(self, services: Sequence[KnownService]) -> None:
        if self.writer is not None:
            self.writer.submit_services(services, max_services=self.max_services)
            return
        try:
            from mamori.storage import ExposureTable

            ExposureTable(self.store).save_services(services, max_services=self.max_services)
        except StorageError as exc:
            log.error("%s", exc)


def stored_services(settings: Settings, store: Store | None, writer: AlertWriter | None) -> StoredServices | None:
    e = settings.detection.exposure
    if store is None or not (e.enabled and e.passive):
        return None
    return StoredServices(store, writer, e.max_services)


@dataclass
class ScanOutcome:
    run_id: int
    scope: ScanScope
    argv: tuple[str, ...]
    seconds: float
    observer: str
    report: ScanReport | None
    error: str = ""
    judgements: list[HostJudgement] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def scope_record(scope: ScanScope) -> dict[str, object]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(scope).items()}


def run_scan(
    site: Site,
    store: Store,
    *,
    nmap: str | None = None,
    clock: Callable[[], float] = time.time,
    book: AlertBook | None = None,
) -> ScanOutcome:
    """Scan the site model's scope once, store the run (failed runs too), and return it with its alerts (one per
    host whose judgement alerts). Raises ValueError when the site has no ``scan:`` section."""
    scope = site.scan
    if scope is None:
        raise ValueError("the settings have no scan: section (targets, exclude, rate)")
    from mamori.ingest.nmap_xml import read_nmap_xml
    from mamori.scanner import run_nmap, source_address
    from mamori.storage import ExposureTable

    table = ExposureTable(store)
    observer = source_address(scope.targets) or ""
    started = clock()
    began = time.monotonic()
    run: NmapRun | None = None
    try:
        run = run_nmap(scope, nmap=nmap)
        report = read_nmap_xml(run.xml)
    except MamoriError as exc:
        argv = run.argv if run is not None else ()
        run_id = table.save_run(
            started=started,
            scope=scope_record(scope),
            argv=argv,
            seconds=time.monotonic() - began,
            observer=observer,
            error=str(exc),
        )
        return ScanOutcome(run_id, scope, tuple(argv), time.monotonic() - began, observer, None, str(exc))
    finally:
        if run is not None:
            run.cleanup()
    index = SiteIndex(site)
    hosts = [h.address for h in report.hosts]
    previous = table.previous_ports(hosts)
    baselines = table.baselines()
    judgements = [
        judge_host(
            index,
            h.address,
            [f"{p.proto}/{p.port}" for p in h.open_ports()],
            previous=previous.get(h.address),
            baseline=baselines.get(h.address),
            observer=observer,
        )
        for h in report.hosts
    ]
    reasons = {j.host: {k: j.reasons(k) for k in j.open_ports} for j in judgements}
    run_id = table.save_run(
        started=started,
        scope=scope_record(scope),
        argv=run.argv,
        seconds=run.seconds,
        observer=observer,
        report=report,
        reasons=reasons,
    )
    services = {
        h.address: {f"{p.proto}/{p.port}": _service_words(p.service, p.product, p.version) for p in h.open_ports()}
        for h in report.hosts
    }
    book = book or AlertBook()
    continue_scan_alerts(book, store, [h.address for h in report.hosts], started)
    raise_scan_alerts(
        book, index, judgements, scan_id=run_id, ts=report.started or started, observer=observer, services=services
    )
    changes = book.collect_changes()
    store.upsert_alerts(changes, origin="scan")  # the ended ones too: they are stored as ended, not delivered
    alerts = [a for a in changes if a.details.get("ended_scan_id") is None]
    table.set_alerts(run_id, len(alerts))
    return ScanOutcome(run_id, scope, run.argv, run.seconds, observer, report, "", judgements, alerts)


def continue_scan_alerts(book: AlertBook, store: Store, hosts: Sequence[str], now: float) -> int:
    """Put the hosts' open scan alerts of earlier runs (other processes) back into ``book`` so that a finding that
    persists updates its alert instead of raising a new one each run. Alerts resolved (or marked false positive)
    on the dashboard, and those a later run ended, are not continued. Returns how many were put back."""
    wanted = {scan_key(h) for h in hosts}
    try:
        alerts = store.recent_open_alerts(
            now - _CONTINUE_HORIZON, origin="scan", rules=(RULE,), statuses=("open", "acknowledged")
        )
    except StorageError as exc:
        log.error("cannot read the open exposure alerts (this run's findings raise new ones): %s", exc)
        return 0
    latest: dict[str, Alert] = {}
    for alert in alerts:  # oldest first: the latest episode of a host wins
        if alert.key in wanted and alert.details.get("ended_scan_id") is None:
            latest[alert.key] = alert
    for alert in latest.values():
        book.restore(alert)
    return len(latest)


def _service_words(service: str, product: str, version: str) -> str:
    detail = " ".join(x for x in (product, version) if x)
    return f"{service} ({detail})" if service and detail else service or detail
