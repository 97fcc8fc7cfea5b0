"""Imports every built-in action module, each of which registers its type (explicit, no scanning)."""

from mamori.alerting import email, script, syslog, webhook, zabbix

__all__ = ["email", "script", "syslog", "webhook", "zabbix"]
