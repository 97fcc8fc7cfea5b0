"""The registry of action types: the built-in ones listed explicitly (docs/design.md §8), plugins through the
``mamori.actions`` entry-point group.

An action type is one declaration, :class:`ActionType`: its name (the ``type:`` of an ``actions:`` entry), its
options (a pydantic model subclassing ``mamori.config.ActionSettings`` with ``type: Literal["its-name"]``: the
settings loader validates an entry with it and reports problems with file, line and field), and its factory (the
options -> an :class:`~mamori.alerting.base.Action`). A plugin names its declaration under the same name::

    [project.entry-points."mamori.actions"]
    pager = "my_package.pager:ACTION"

The composition root (``mamori.cli``) reads the registry once and hands it to the settings loader (which entries are
valid) and to the runtime (how to build them); an unknown type in the settings fails with the list of known ones.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from types import MappingProxyType
from typing import Any

from mamori.alerting.base import Action
from mamori.config import ActionOptionTypes, ActionSettings
from mamori.config import ArpIsolateAction as ArpIsolateOptions
from mamori.config import EmailAction as EmailOptions
from mamori.config import ScriptAction as ScriptOptions
from mamori.config import SnmpPortAction as SnmpPortOptions
from mamori.config import SyslogAction as SyslogOptions
from mamori.config import WebhookAction as WebhookOptions
from mamori.config import ZabbixAction as ZabbixOptions

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "ActionType",
    "ActionTypes",
    "EntryPoints",
    "UnknownActionTypeError",
    "available_action_types",
    "build_action",
    "installed_action_types",
    "option_types",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mamori.actions"


@dataclass(frozen=True)
class ActionType:
    """One kind of action: ``name`` as written in ``type:``, the ``options`` model its entries are validated with,
    and the ``factory`` that builds the action from its validated options (it may raise ValueError or OSError for a
    problem the model could not see, such as an unreadable password file)."""

    name: str
    options: type[ActionSettings]
    factory: Callable[[Any], Action]

    def __post_init__(self) -> None:
        if not (isinstance(self.options, type) and issubclass(self.options, ActionSettings)):
            raise TypeError(f"action type {self.name!r}: options must subclass mamori.config.ActionSettings")
        field = self.options.model_fields.get("type")
        if field is None or getattr(field.annotation, "__args__", None) != (self.name,):
            raise TypeError(f"action type {self.name!r}: its options must declare type: Literal[{self.name!r}]")


ActionTypes = Mapping[str, ActionType]


def _builtin(module: str, name: str) -> Callable[[Any], Action]:
    """The factory of a built-in action, imported when the first action of its type is built: reading the settings
    needs only the options (a command that runs no action never loads the Zabbix, SMTP or HTTP clients)."""

    def factory(settings: Any) -> Action:
        cls: Callable[[Any], Action] = getattr(importlib.import_module(f"mamori.alerting.{module}"), name)
        return cls(settings)

    factory.__qualname__ = factory.__name__ = name
    return factory


class UnknownActionTypeError(ValueError):
    def __init__(self, settings: ActionSettings, known: Iterable[str]) -> None:
        names = ", ".join(sorted(known))
        super().__init__(
            f"アクション {settings.name!r}: type {settings.type!r} はありません。あるもの: {names} / "
            f"action {settings.name!r}: unknown type {settings.type!r}; known: {names}"
        )


BUILTIN: ActionTypes = MappingProxyType(
    {
        "script": ActionType("script", ScriptOptions, _builtin("script", "ScriptAction")),
        "zabbix": ActionType("zabbix", ZabbixOptions, _builtin("zabbix", "ZabbixAction")),
        "syslog": ActionType("syslog", SyslogOptions, _builtin("syslog", "SyslogAction")),
        "email": ActionType("email", EmailOptions, _builtin("email", "EmailAction")),
        "webhook": ActionType("webhook", WebhookOptions, _builtin("webhook", "WebhookAction")),
        "snmp-port": ActionType("snmp-port", SnmpPortOptions, _builtin("block_actions", "SnmpPortAction")),
        "arp-isolate": ActionType("arp-isolate", ArpIsolateOptions, _builtin("block_actions", "ArpIsolateAction")),
    }
)

EntryPoints = Callable[[], Iterable[metadata.EntryPoint]]


def _installed_entry_points() -> Iterable[metadata.EntryPoint]:
    from mamori.plugins import entry_points

    return entry_points(ENTRY_POINT_GROUP)


def available_action_types(entry_points: EntryPoints = _installed_entry_points) -> dict[str, ActionType]:
    """The built-in action types, then the plugins' (a plugin never replaces a built-in type of the same name). A
    plugin that cannot be loaded, or does not declare an ActionType of its entry point's name, is left out and
    says why in the log; the settings then refuse its type as unknown."""
    found: dict[str, ActionType] = dict(BUILTIN)
    for ep in entry_points():
        if ep.name in found:
            log.warning("action plugin %s (%s) ignored: the type exists already", ep.name, ep.value)
            continue
        try:
            declared = ep.load()
        except Exception as exc:  # a broken plugin names itself and does not take the sensor down
            log.error("action plugin %s (%s) could not be loaded: %s", ep.name, ep.value, exc)
            continue
        if not isinstance(declared, ActionType) or declared.name != ep.name:
            log.error("action plugin %s (%s) is not an ActionType named %r", ep.name, ep.value, ep.name)
            continue
        found[ep.name] = declared
    return found


@cache
def installed_action_types() -> ActionTypes:
    """The action types of this installation (built-in, then plugins), read once: plugins are installed packages
    and do not change while mamori runs."""
    return MappingProxyType(available_action_types())


def option_types(types: ActionTypes) -> ActionOptionTypes:
    """What the settings loader needs of the registry: each type's options model."""
    return MappingProxyType({name: kind.options for name, kind in types.items()})


def build_action(settings: ActionSettings, types: ActionTypes | None = None) -> Action:
    """The action for one ``actions:`` entry, from ``types`` (default: this installation's). An unknown type fails
    with the list of known ones."""
    types = installed_action_types() if types is None else types
    kind = types.get(settings.type)
    if kind is None:
        raise UnknownActionTypeError(settings, types)
    if not isinstance(settings, kind.options):
        raise TypeError(f"action {settings.name!r}: options of type {type(settings).__name__}, not {kind.options}")
    return kind.factory(settings)
