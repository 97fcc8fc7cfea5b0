"""The response actions of a settings file, wired to the store's delivery records."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import BaseModel

from mamori.alerting import Action, ActionTypes, Dispatcher, build_action
from mamori.alerting.dispatcher import TRACK_TTL
from mamori.config import Settings
from mamori.errors import ConfigError, ConfigProblem
from mamori.model import Clock, Delivery

__all__ = ["build_dispatcher", "log_deliveries"]

log = logging.getLogger(__name__)


def build_dispatcher(
    settings: Settings,
    record: Callable[[list[Delivery]], None],
    *,
    heartbeat: bool = True,
    action_types: ActionTypes | None = None,
    clock: Clock | None = None,
    prepare: Callable[[list[Action]], None] | None = None,
) -> Dispatcher | None:
    """A dispatcher for the enabled actions, or None when there are none. A broken action (say, a password
    file that cannot be read) is a settings problem reported before anything runs. ``heartbeat``: whether this
    process sends the actions' periodic signs of life (one process per sensor box should). ``action_types``: the
    action registry to build them from (default: this installation's, mamori.alerting.registry)."""
    enabled = [a for a in settings.actions if a.enabled]
    if not enabled:
        return None
    actions = []
    problems = []
    for index, action_settings in enumerate(settings.actions):
        if not action_settings.enabled:
            continue
        try:
            actions.append(build_action(action_settings, action_types))
        except (ValueError, OSError) as exc:
            problems.append(ConfigProblem(settings.source, None, None, f"actions[{index}]", str(exc)))
    if problems:
        raise ConfigError(problems)
    if prepare is not None:
        prepare(actions)  # the sensor attaches its block manager to the block actions
    log.info("actions: %s", ", ".join(f"{a.name} ({a.type})" for a in actions))
    # An alert's delivery state outlives its episode: a quiet spell shorter than the rule's quiet period continues it.
    ttl = max(TRACK_TTL, 2 * _longest_quiet_period(settings.detection), 2 * _longest_quiet_period(settings.windows))
    return Dispatcher(enabled, actions, record=record, heartbeat=heartbeat, track_ttl=ttl, clock=clock)


def _longest_quiet_period(section: object) -> float:
    """The largest ``quiet_period`` anywhere in a settings section (0 if none)."""
    if not isinstance(section, BaseModel):
        return 0.0
    longest = 0.0
    for name in type(section).model_fields:
        value = getattr(section, name)
        if name == "quiet_period" and isinstance(value, int | float):
            longest = max(longest, float(value))
        elif isinstance(value, BaseModel):
            longest = max(longest, _longest_quiet_period(value))
        elif isinstance(value, dict):
            longest = max([longest, *(_longest_quiet_period(v) for v in value.values())])
    return longest


def log_deliveries(deliveries: list[Delivery]) -> None:
    """Where delivery records go when there is no store: the log."""
    for d in deliveries:
        state = "ok" if d.ok else "failed"
        log.info("action %s: %s attempt %d for %s: %s", d.action, state, d.attempt, d.alert_uid, d.detail)
