"""Response actions: routing, dedup, throttling, retries, and the built-in actions (script, Zabbix, syslog,
e-mail, webhook) listed in the action registry. Imports only model, rules and config (docs/design.md §3)."""

from mamori.alerting.base import Action, Notification, Outcome
from mamori.alerting.dispatcher import Dispatcher
from mamori.alerting.registry import (
    ActionType,
    ActionTypes,
    UnknownActionTypeError,
    available_action_types,
    build_action,
    installed_action_types,
    option_types,
)

__all__ = [
    "Action",
    "ActionType",
    "ActionTypes",
    "Dispatcher",
    "Notification",
    "Outcome",
    "UnknownActionTypeError",
    "available_action_types",
    "build_action",
    "installed_action_types",
    "option_types",
]
