"""Alerts as JSON objects and as lines of text: the one form shared by analyze, watch and alerts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from mamori.model import Alert

__all__ = ["alert_line", "alert_to_dict", "alert_to_json", "iso_time", "local_time"]

_BASE = (
    "uid",
    "rule",
    "severity",
    "first_seen",
    "last_seen",
    "count",
    "src_mac",
    "src_ip",
    "dst_ip",
    "dst_port",
    "system",
    "summary_ja",
    "summary_en",
)


def iso_time(ts: float) -> str:
    """POSIX seconds -> ISO 8601 in UTC with an explicit offset, e.g. 2026-11-23T02:15:02.123456+00:00."""
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat()


def local_time(ts: float) -> str:
    """For people: the machine's local time (JST at a Japanese hospital), to the second."""
    return dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def alert_to_dict(alert: Alert, *, samples: bool = True) -> dict[str, Any]:
    """The alert's fields, its rule details at the top level (e.g. ``scan_type``, ``ports``), and its samples."""
    out: dict[str, Any] = {
        "uid": alert.uid,
        "rule": alert.rule,
        "severity": alert.severity.label,
        "first_seen": iso_time(alert.first_seen),
        "last_seen": iso_time(alert.last_seen),
        "count": alert.count,
        "src_mac": alert.src_mac,
        "src_ip": alert.src_ip,
        "dst_ip": alert.dst_ip,
        "dst_port": alert.dst_port,
        "system": alert.system,
        "summary_ja": alert.summary_ja,
        "summary_en": alert.summary_en,
    }
    for name, value in alert.details.items():
        if name not in _BASE:
            out[name] = value
    out["details"] = dict(alert.details)
    if samples:
        out["samples"] = [
            {**s, "ts": iso_time(s["ts"])} if isinstance(s.get("ts"), int | float) else dict(s) for s in alert.samples
        ]
    return out


def alert_to_json(alert: Alert, *, samples: bool = True) -> str:
    return json.dumps(alert_to_dict(alert, samples=samples), ensure_ascii=False, sort_keys=False, default=str)


def alert_line(alert: Alert, lang: str = "ja") -> str:
    summary = alert.summary_ja if lang == "ja" else alert.summary_en
    return f"{local_time(alert.last_seen)} [{alert.severity.label}] {alert.rule}: {summary}"
