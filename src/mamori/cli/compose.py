"""The composition root's parts: Django configured once per run, the store, the ledger-aware site, and the
dashboard with everything its views need (docs/design.md §11).

A command builds its parts here from its own sections of the settings and passes them down. ``watch``,
``analyze`` and the other storage commands configure Django for the store alone (the dashboard's apps are never
imported); ``web``, ``demo`` and ``user`` configure it for the dashboard, with the address actually served.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mamori.cli.common import fail, warn
from mamori.config import PostgresSettings, Settings
from mamori.config.web import WebSettings
from mamori.errors import MamoriError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mamori.incidents import IncidentRules
    from mamori.model import Alert
    from mamori.reports.checklist import EvidenceContext
    from mamori.runtime import Sensor
    from mamori.storage import Store
    from mamori.web.apps import Dashboard

__all__ = [
    "WebRun",
    "compose_dashboard",
    "compose_sensor",
    "configure_run",
    "evidence_context",
    "existing_store",
    "local_zone",
    "open_store",
    "warn_if_exposed",
    "with_ledger",
]


@dataclass(frozen=True)
class WebRun:
    """The dashboard of a run: its section of the settings, the address it is served on (``--listen``, else
    ``web.listen``), and the file holding its secret key."""

    web: WebSettings
    listen: str
    key_file: Path


def local_zone() -> str:
    """The machine's zone name for display (Asia/Tokyo at a Japanese hospital); UTC if it cannot be told."""
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            return link.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return os.environ.get("TZ") or "UTC"


def configure_run(database: Path | PostgresSettings, web: WebRun | None = None) -> None:
    """Configure Django for this run, once: the store at ``database``; with ``web``, the dashboard served on
    ``web.listen`` (its host names, cookies and lockout derived from that address and the ``web:`` section)."""
    from mamori.storage.setup import configure_django

    extra = None
    if web is not None:
        from mamori.web.setup import django_settings, secret_key

        extra = django_settings(web.web, listen=web.listen, secret_key=secret_key(web.key_file), time_zone=local_zone())
    configure_django(database, extra)


def open_store(database: Path | PostgresSettings, settings: Settings | None = None) -> Store:
    """The store at ``database``, created if missing. Configures Django for the store alone unless this run has
    configured it already (the dashboard's commands do, before they open their store). A command that writes
    alerts passes its ``settings``: the store groups them into incidents by their ``detection.incidents``."""
    from mamori.storage import Store
    from mamori.storage.setup import django_configured

    try:
        if not django_configured():
            configure_run(database)
        return Store(database, incidents=_incidents(settings))
    except MamoriError as exc:
        fail(str(exc))


def _incidents(settings: Settings | None) -> IncidentRules | None:
    if settings is None:
        return None
    from mamori.runtime import incident_rules

    return incident_rules(settings)


def existing_store(database: Path) -> Store | None:
    """The store at ``database`` if it exists (reading commands do not create one); exits if it cannot be used."""
    from mamori.storage import check_database_path

    try:
        check_database_path(database)
    except MamoriError as exc:
        fail(str(exc))
    return open_store(database) if database.exists() else None


def with_ledger(settings: Settings, store: Store | None) -> Settings:
    """``settings`` whose site includes the ledger's active terminals. Without a store, the database is read if
    it exists (``analyze --no-store`` still honours the ledger)."""
    from mamori.runtime import effective_site, merge_ledger
    from mamori.storage import active_terminals_in

    if store is None:
        if not settings.database_path.exists():
            return settings
        entries = active_terminals_in(settings.database_path)  # a plain read-only query: Django is not needed
        if entries is not None:
            return dataclasses.replace(settings, site=merge_ledger(settings.site, entries, warn=warn))
        store = existing_store(settings.database_path)
        if store is None:
            return settings
    return dataclasses.replace(settings, site=effective_site(settings, store, warn=warn))


def compose_sensor(
    settings: Settings,
    store: Store,
    *,
    interfaces: list[str] | None,
    on_alerts: Callable[[list[Alert]], None] | None,
) -> Sensor:
    """The live sensor of ``watch``: libpcap on the interfaces (``--interface``, else ``capture.interfaces``) with
    the settings' kernel filter, the installed action types, the store, and the ledger it follows."""
    from mamori.alerting import installed_action_types
    from mamori.runtime.sensor import LedgerSite, Sensor, live_sources

    return Sensor(
        settings,
        open_source=live_sources(settings),
        action_types=installed_action_types(),
        interfaces=interfaces,
        store=store,
        ledger=LedgerSite(settings, store),
        on_alerts=on_alerts,
        environ=dict(os.environ),  # a backup repository's password may be named by an environment variable
    )


def compose_dashboard(settings: Settings, listen: str | None = None) -> Dashboard:
    """Configure Django for the dashboard served on ``listen`` (else ``web.listen``), bring the database up to
    date (every app's tables), and give the dashboard its parts. Returns them."""
    from mamori.storage import Ledger, Store, check_database_path
    from mamori.web.apps import Dashboard, provide

    database = settings.database  # the SQLite file, or PostgreSQL on the central server (docs/design.md §10)
    if not isinstance(database, PostgresSettings):
        check_database_path(database)  # one line naming the file and the reason, before anything is made
    served = listen or settings.web.listen
    key_file = settings.web.secret_key_file or settings.data_dir / "web-secret.key"
    try:
        configure_run(database, WebRun(settings.web, served, key_file))
        # the default database: migrating it migrates the dashboard's apps too
        store = Store(database, incidents=_incidents(settings))
    except MamoriError as exc:
        fail(str(exc))
    parts = Dashboard(
        site=settings.site,
        web=settings.web,
        actions=settings.actions,
        store=store,
        ledger=Ledger(store),
        listen=served,
        evidence=_evidence_factory(settings, store),
        silent_after=settings.central.silent_after if settings.central is not None else 600.0,
    )
    provide(parts)
    return parts


def evidence_context(settings: Settings, store: Store | None, now: float | None = None) -> EvidenceContext:
    """What the evidence providers read: the store, the settings file's site, the evidence archive and its key."""
    import time

    from mamori.reports.checklist import EvidenceContext

    root = verifier = keep = None
    if settings.syslog is not None:
        from mamori.runtime.collector import archive_root, key_path
        from mamori.storage.archive_keys import load_verifier
        from mamori.storage.archive_maintenance import retention_days

        root = archive_root(settings)
        keep = retention_days(settings.syslog.archive.retention_years)
        key = settings.syslog.archive.public_key
        for candidate in [key] if key else [key_path(settings), key_path(settings).with_suffix(".pub")]:
            try:
                verifier = load_verifier(candidate)
                break
            except MamoriError:
                continue
    return EvidenceContext(
        store=store,
        site=settings.site,
        now=time.time() if now is None else now,
        archive_root=root,
        archive_verifier=verifier,
        archive_keep_days=keep,
    )


def _evidence_factory(settings: Settings, store: Store) -> Callable[[], EvidenceContext]:
    """What the dashboard's checklist page reads, made afresh for each page; the evidence archive's verification
    (a pass over every day file) is kept for ``_ARCHIVE_KEPT`` seconds between pages."""
    import time

    shared: dict[str, Any] = {}
    made = [0.0]

    def make() -> EvidenceContext:
        now = time.time()
        if now - made[0] > _ARCHIVE_KEPT:
            shared.clear()
            made[0] = now
        ctx = evidence_context(settings, store, now)
        return dataclasses.replace(ctx, _cache=shared)

    return make


_ARCHIVE_KEPT = 600.0


def warn_if_exposed(web: WebSettings, listen: str) -> None:
    """Beyond this machine without HTTPS, passwords and session cookies cross the network in clear: say so."""
    import ipaddress

    from mamori.config.web import parse_listen

    host, port = parse_listen(listen)
    if web.tls is None and not ipaddress.ip_address(host).is_loopback:
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        warn(
            f"the dashboard listens on {shown} without TLS: passwords and session cookies cross the network "
            "in clear; set web.tls (cert, key) / 警告: TLS なしでこの機械の外に公開しています。パスワードと"
            "セッションが平文で流れます。web.tls（cert、key）を設定してください"
        )
