"""Imports every built-in action module, each of which registers its type (explicit, no scanning)."""

from mamori.alerting import block_actions, email, script, syslog, webhook, zabbix

__all__ = ["block_actions", "email", "script", "syslog", "webhook", "zabbix"]
