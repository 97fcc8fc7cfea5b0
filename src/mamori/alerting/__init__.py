"""Response actions: routing, dedup, throttling, retries, and the built-in actions (script, Zabbix, syslog,
e-mail, webhook). Imports only model and config (docs/design.md §3)."""

from mamori.alerting.base import ACTION_TYPES, Action, Notification, Outcome, build_action
from mamori.alerting.dispatcher import Dispatcher

__all__ = ["ACTION_TYPES", "Action", "Dispatcher", "Notification", "Outcome", "build_action"]
