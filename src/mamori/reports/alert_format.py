"""Alerts as JSON objects and as lines of text: the one form shared by analyze, watch and alerts."""

from __future__ import annotations

import datetime as dt
import json

from mamori import escape
from mamori.model import Alert, iso_time
from mamori.rules import render
from mamori.rules.render import alert_to_dict

__all__ = ["alert_line", "alert_to_dict", "alert_to_json", "iso_time", "local_time"]


def local_time(ts: float) -> str:
    """For people: the machine's local time (JST at a Japanese hospital), to the second."""
    return dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def alert_to_json(alert: Alert, *, samples: bool = True) -> str:
    return json.dumps(alert_to_dict(alert, samples=samples), ensure_ascii=False, sort_keys=False, default=str)


def alert_line(alert: Alert, lang: str = "ja") -> str:
    summary = escape.one_line(render.summary(alert, lang))  # a terminal line: no escape sequence or CR/LF from logs
    return f"{local_time(alert.last_seen)} [{alert.severity.label}] {alert.rule}: {summary}"
