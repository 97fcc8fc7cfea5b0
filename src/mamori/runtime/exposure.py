"""Exposure wired together: ``mamori scan`` (nmap -> XML reader -> judgement -> store -> alerts) and the memory of
services seen answering, saved on the alert writer's thread (detection never imports storage)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from mamori.config import Settings
from mamori.detection.book import AlertBook
from mamori.detection.exposure import HostJudgement, judge_host, raise_scan_alerts
from mamori.detection.site_index import SiteIndex
from mamori.errors import MamoriError, StorageError
from mamori.ingest.nmap_xml import read_nmap_xml
from mamori.model import Alert, KnownService, ScanReport, ScanScope, Site
from mamori.scanner import NmapRun, run_nmap, source_address
from mamori.storage import AlertWriter, ExposureTable, Store

__all__ = ["ScanOutcome", "StoredServices", "run_scan", "scope_record", "stored_services"]

log = logging.getLogger(__name__)


class StoredServices:
    """The exposure rule's memory of services seen answering: loaded once, saved by the writer's thread."""

    def __init__(self, store: Store, writer: AlertWriter | None, max_services: int) -> None:
        self.store = store
        self.writer = writer
        self.max_services = max_services

    def load(self) -> Iterable[KnownService]:
        try:
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
    raise_scan_alerts(
        book, index, judgements, scan_id=run_id, ts=report.started or started, observer=observer, services=services
    )
    alerts = book.collect_changes()
    table.set_alerts(run_id, len(alerts))
    store.upsert_alerts(alerts, origin="scan")
    return ScanOutcome(run_id, scope, run.argv, run.seconds, observer, report, "", judgements, alerts)


def _service_words(service: str, product: str, version: str) -> str:
    detail = " ".join(x for x in (product, version) if x)
    return f"{service} ({detail})" if service and detail else service or detail
