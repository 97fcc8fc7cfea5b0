"""The Zabbix 6.0 template that shows mamori's alerts as Zabbix problems (``mamori zabbix-template``).

One trapper item per detection rule (``<prefix>.alert[<rule>]``, text) receives one line per notification from the
``zabbix`` action; triggers on it raise a problem whose Zabbix severity follows mamori's. A trapper item
``<prefix>.heartbeat`` receives the sensor's Unix time every ``heartbeat`` seconds, and a ``nodata`` trigger says
when the sensor has gone silent.

The value line (built by :func:`mamori.alerting.zabbix.zabbix_value`) starts with fixed fields that the triggers
match on, then what a person reads in the Zabbix UI::

    high|new|port-scan|<uid>|count=1003|src_mac=..|src_ip=..|dst=10.0.0.2|system=..|<summary_ja> / <summary_en>

The second field is ``new`` the first time the alert is sent, ``escalated`` when its severity rose since the last
value sent, ``update`` otherwise (it only grew). Triggers fire on ``new`` and ``escalated`` so that an ongoing
attack is one Zabbix problem, not one per update; every update is still in the item's history.

UUIDs are derived from the template name and the object's key (uuid5, with the version bits set to 4 because
Zabbix accepts only UUIDv4-shaped values), so importing the template again updates it instead of adding copies.
Pure functions, no I/O: the CLI prints :func:`build_template`'s text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from mamori.rules import Catalogue, Rule, catalogue

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_TEMPLATE",
    "EVENTS_THAT_RAISE",
    "SEPARATOR",
    "SEVERITY_LEVELS",
    "alert_key",
    "build_template",
    "heartbeat_key",
    "template_data",
]

DEFAULT_PREFIX = "mamori"
DEFAULT_TEMPLATE = "mamori"
SEPARATOR = "|"
EVENTS_THAT_RAISE = ("new", "escalated")
_GROUP = "Templates/Security"
_SILENT_MACRO = "{$MAMORI.SILENT}"
_SILENT_DEFAULT = "5m"
_NAMESPACE = uuid.UUID("4d3b5f0e-8a55-4c1e-9a7e-6d616d6f7269")  # fixed: mamori's template objects
_KEY_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class _Level:
    """One trigger per rule and level: which mamori severities it matches and the Zabbix severity it raises."""

    severities: tuple[str, ...]
    priority: str
    ja: str
    en: str


# mamori severity -> Zabbix severity (critical: 致命的な障害, high: 重度の障害, medium: 軽度の障害, low/info: 警告).
SEVERITY_LEVELS = (
    _Level(("critical",), "DISASTER", "重大", "critical"),
    _Level(("high",), "HIGH", "高", "high"),
    _Level(("medium",), "AVERAGE", "中", "medium"),
    _Level(("low", "info"), "WARNING", "低", "low"),
)

_VALUE_FORMAT = (
    "severity|event|rule|uid|count=N|src_mac=..|src_ip=..|dst=..|system=..|summary_ja / summary_en "
    "(event: new, escalated or update; absent fields are left out)"
)


def alert_key(prefix: str, rule: str) -> str:
    """The trapper item of one rule: ``mamori.alert[port-scan]``."""
    return f"{prefix}.alert[{rule}]"


def heartbeat_key(prefix: str) -> str:
    return f"{prefix}.heartbeat"


def _uuid(template: str, *parts: str) -> str:
    """A stable UUIDv4-shaped id (32 hex digits) for one object of one template."""
    derived = uuid.uuid5(_NAMESPACE, "/".join((template, *parts)))
    return uuid.UUID(bytes=derived.bytes, version=4).hex


def _pattern(level: _Level) -> str:
    """A regular expression on the value's first two fields. ``[|]`` keeps it free of backslashes, which Zabbix
    expression strings would need escaped."""
    severities = "|".join(level.severities)
    events = "|".join(EVENTS_THAT_RAISE)
    return f"^({severities})[|]({events})[|]"


def _tags(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"tag": tag, "value": value} for tag, value in pairs]


def _rule_item(template: str, prefix: str, declared: Rule) -> dict[str, Any]:
    rule = declared.id
    name_ja, name_en = declared.title.ja, declared.title.en
    about_ja, about_en = declared.short.ja, declared.short.en
    key = alert_key(prefix, rule)
    triggers = []
    for level in SEVERITY_LEVELS:
        expression = f'find(/{template}/{key},,"regexp","{_pattern(level)}")=1'
        shown = "/".join(level.severities)
        triggers.append(
            {
                "uuid": _uuid(template, "trigger", key, level.priority),
                "expression": expression,
                "name": f"mamori {name_ja}（{level.ja}） / {name_en} ({shown})",
                "event_name": f"mamori {name_ja} / {name_en}: {{ITEM.VALUE}}",
                "priority": level.priority,
                "type": "MULTIPLE",
                "recovery_mode": "NONE",
                "manual_close": "YES",
                "description": (
                    f"{about_ja}\n重大度 {shown} の新しいアラート（または重大度が上がったアラート）ごとに 1 件の"
                    "障害になります。自動では解決しません。対応後に手動でクローズしてください。\n"
                    f"{about_en}\nOne problem per new alert of severity {shown} (or an alert that rose to it). "
                    "It does not resolve by itself: close it by hand once handled."
                ),
                "tags": _tags(("source", "mamori"), ("rule", rule), ("scope", "security")),
            }
        )
    return {
        "uuid": _uuid(template, "item", key),
        "name": f"mamori {name_ja} / {name_en}",
        "type": "TRAP",
        "key": key,
        "delay": "0",
        "history": "365d",
        "trends": "0",
        "value_type": "TEXT",
        "description": (
            f"{about_ja}\nmamori の zabbix アクションが 1 通知につき 1 行を送ります。\n"
            f"{about_en}\nmamori's zabbix action sends one line per notification.\nFormat: {_VALUE_FORMAT}"
        ),
        "tags": _tags(("source", "mamori"), ("rule", rule)),
        "triggers": triggers,
    }


def _heartbeat_item(template: str, prefix: str) -> dict[str, Any]:
    key = heartbeat_key(prefix)
    return {
        "uuid": _uuid(template, "item", key),
        "name": "mamori センサーの生存確認 / sensor heartbeat",
        "type": "TRAP",
        "key": key,
        "delay": "0",
        "history": "7d",
        "trends": "0",
        "value_type": "UNSIGNED",
        "units": "unixtime",
        "description": (
            "mamori センサーが heartbeat 秒ごとに送る現在時刻（Unix 時間）。\n"
            "The sensor's time (Unix seconds), sent every `heartbeat` seconds by the zabbix action."
        ),
        "tags": _tags(("source", "mamori"), ("component", "sensor")),
        "triggers": [
            {
                "uuid": _uuid(template, "trigger", key, "nodata"),
                "expression": f"nodata(/{template}/{key},{_SILENT_MACRO})=1",
                "name": "mamori センサー応答なし / mamori sensor silent",
                "priority": "HIGH",
                "description": (
                    f"{_SILENT_MACRO} の間、センサーから生存確認が届いていません。センサーが停止したか、"
                    "Zabbix に届かない状態です。この間の不正接続は通知されません。\n"
                    f"No heartbeat from the sensor for {_SILENT_MACRO}: it stopped or cannot reach Zabbix, and "
                    "alerts raised meanwhile are not delivered. Resolves when heartbeats return."
                ),
                "tags": _tags(("source", "mamori"), ("component", "sensor")),
            }
        ],
    }


def template_data(
    name: str = DEFAULT_TEMPLATE,
    prefix: str = DEFAULT_PREFIX,
    rules: Sequence[str] | None = None,
    rule_catalogue: Catalogue | None = None,
) -> dict[str, Any]:
    """The template as a ``zabbix_export`` mapping (Zabbix 6.0 import format): one item per rule of the catalogue
    (or of ``rules``, ids from it)."""
    known = rule_catalogue if rule_catalogue is not None else catalogue()
    chosen = [known.rule(r) for r in rules] if rules is not None else list(known.values())
    if not _KEY_PREFIX_RE.match(prefix):
        raise ValueError(f"{prefix!r}: a key prefix uses letters, digits, '_', '.' or '-'")
    if not name.strip() or any(c in name for c in "/\\[]\"'"):
        raise ValueError(f"{name!r}: a template name cannot be empty or contain / \\ [ ] or quotes")
    template = {
        "uuid": _uuid(name, "template"),
        "template": name,
        "name": name,
        "description": (
            "mamori（病院ネットワークのセキュリティ監視）のアラートを障害として表示します。"
            "ホスト名は mamori の zabbix アクションの host と同じにしてください。\n"
            "Shows the alerts of mamori (a security monitor for hospital networks) as problems. "
            "Name the host as the `host` of mamori's zabbix action.\n"
            f"Generated by `mamori zabbix-template --prefix {prefix} --name {name}`."
        ),
        "groups": [{"name": _GROUP}],
        "items": [_rule_item(name, prefix, rule) for rule in chosen] + [_heartbeat_item(name, prefix)],
        "tags": _tags(("source", "mamori")),
        "macros": [
            {
                "macro": _SILENT_MACRO,
                "value": _SILENT_DEFAULT,
                "description": "これだけ生存確認が途絶えたら障害 / no heartbeat for this long raises a problem",
            }
        ],
    }
    return {
        "zabbix_export": {
            "version": "6.0",
            "groups": [{"uuid": _uuid("group", _GROUP), "name": _GROUP}],  # shared by every mamori template
            "templates": [template],
        }
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line descriptions as literal blocks, as Zabbix's own exports write them."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def build_template(
    name: str = DEFAULT_TEMPLATE, prefix: str = DEFAULT_PREFIX, rule_catalogue: Catalogue | None = None
) -> str:
    """The template as YAML text, ready for Zabbix's Configuration → Templates → Import."""
    return yaml.dump(
        template_data(name, prefix, rule_catalogue=rule_catalogue),
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=1000,
        default_flow_style=False,
    )
