"""The dashboard's Django app, and what its views need (docs/design.md §11).

The composition root (``mamori.cli``) configures Django once for the run, opens the store, and hands the app
exactly what the views use: the site model (filters, registration), the ``web:`` section, the actions (to redact
their secrets from delivery records), the store, the ledger, and what the checklist's evidence providers read.
The views ask :func:`dashboard` for them; nothing reads the settings file or mamori's settings back out of Django's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.apps import AppConfig, apps

if TYPE_CHECKING:
    from mamori.config import ActionSettings
    from mamori.config.web import WebSettings
    from mamori.model import Site
    from mamori.reports.checklist import EvidenceContext
    from mamori.storage import Ledger, Store

__all__ = ["Dashboard", "WebConfig", "dashboard", "provide"]

LABEL = "web"


@dataclass(frozen=True)
class Dashboard:
    """The dashboard's parts, built by the composition root once Django is configured."""

    site: Site
    web: WebSettings
    actions: tuple[ActionSettings, ...]
    store: Store
    ledger: Ledger
    listen: str  # the address served (``--listen``, else ``web.listen``); the host names are allowed for it
    evidence: Callable[[], EvidenceContext]  # what the checklist's evidence providers read, as of now
    silent_after: float = 600.0  # central: a site heard from less recently is shown silent (central.silent_after)


class WebConfig(AppConfig):
    name = "mamori.web"
    label = LABEL
    verbose_name = "mamori dashboard"
    default_auto_field = "django.db.models.BigAutoField"
    parts: Dashboard | None = None


def provide(parts: Dashboard) -> None:
    """Give the dashboard its parts (the composition root, after configuring Django)."""
    config = apps.get_app_config(LABEL)
    if not isinstance(config, WebConfig):
        raise RuntimeError(f"the app labelled {LABEL!r} is not mamori's dashboard")
    config.parts = parts


def dashboard() -> Dashboard:
    """The parts the composition root gave the dashboard."""
    config = apps.get_app_config(LABEL)
    parts = config.parts if isinstance(config, WebConfig) else None
    if parts is None:
        raise RuntimeError("the dashboard has no parts: mamori.cli composes it (mamori.web.apps.provide)")
    return parts
