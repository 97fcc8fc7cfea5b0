"""The response actions of a settings file, wired to the store's delivery records."""

from __future__ import annotations

import logging
from collections.abc import Callable

from mamori.alerting import Dispatcher, build_action
from mamori.config import Settings
from mamori.errors import ConfigError, ConfigProblem
from mamori.model import Delivery

__all__ = ["build_dispatcher", "log_deliveries"]

log = logging.getLogger(__name__)


def build_dispatcher(
    settings: Settings, record: Callable[[list[Delivery]], None], *, heartbeat: bool = True
) -> Dispatcher | None:
    """A dispatcher for the enabled actions, or None when there are none. A broken action (say, a password
    file that cannot be read) is a settings problem reported before anything runs. ``heartbeat``: whether this
    process sends the actions' periodic signs of life (one process per sensor box should)."""
    enabled = [a for a in settings.actions if a.enabled]
    if not enabled:
        return None
    actions = []
    problems = []
    for index, action_settings in enumerate(settings.actions):
        if not action_settings.enabled:
            continue
        try:
            actions.append(build_action(action_settings))
        except (ValueError, OSError) as exc:
            problems.append(ConfigProblem(settings.source, None, None, f"actions[{index}]", str(exc)))
    if problems:
        raise ConfigError(problems)
    log.info("actions: %s", ", ".join(f"{a.name} ({a.type})" for a in actions))
    return Dispatcher(enabled, actions, record=record, heartbeat=heartbeat)


def log_deliveries(deliveries: list[Delivery]) -> None:
    """Where delivery records go when there is no store: the log."""
    for d in deliveries:
        state = "ok" if d.ok else "failed"
        log.info("action %s: %s attempt %d for %s: %s", d.action, state, d.attempt, d.alert_uid, d.detail)
