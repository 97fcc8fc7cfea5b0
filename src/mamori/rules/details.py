"""Typed alert details: the facts of one alert, declared per rule as a frozen dataclass.

A detector keeps its working facts in a plain dict while an episode grows (cheap on the hot path); when the episode
is snapshotted the dict becomes the rule's :class:`Details` type (``from_facts``). The store keeps details as JSON
with the schema version under ``_v`` (``to_json``) and reads them back into the type (``from_json``); rows written
before details were typed carry no version and are read by the same code, field by field. A key the type does not
declare is never dropped: it is kept in ``extra`` and shown with the rest.

Details are also a read-only mapping of their JSON form, so generic outputs (``--json``, the evidence table) list
them without knowing the rule.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, ClassVar, Self

__all__ = ["SCHEMA_KEY", "Details", "RawDetails"]

SCHEMA_KEY = "_v"


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` (from JSON or a detector's working dict) in the form the declared type ``hint`` asks for.
    Values that do not fit are kept as they are rather than lost."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        for option in options:
            if _fits(value, option):
                return _coerce(value, option)
        return _coerce(value, options[0]) if len(options) == 1 else value
    if hint is Any:
        return _plain(value)
    if origin is tuple:
        args = typing.get_args(hint)
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
            return value
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        item_hint = args[0] if args else Any
        return tuple(_coerce(v, item_hint) for v in items)
    if origin in (Mapping, dict) or hint in (dict, Mapping):
        args = typing.get_args(hint)
        value_hint = args[1] if len(args) == 2 else Any
        if not isinstance(value, Mapping):
            return value
        return {str(k): _coerce(v, value_hint) for k, v in value.items()}
    return _scalar(value, hint)


def _scalar(value: Any, hint: Any) -> Any:
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if hint is int and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if hint is str and not isinstance(value, str) and isinstance(value, int | float):
        return str(value)
    return _plain(value)


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    if origin is tuple:
        return isinstance(value, list | tuple | set | frozenset)
    if origin in (Mapping, dict):
        return isinstance(value, Mapping)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is Any:
        return True
    return isinstance(origin, type) and isinstance(value, origin)


def _plain(value: Any) -> Any:
    """Sets, tuples and nested mappings of a free-form value made JSON-ready (sets sorted)."""
    if isinstance(value, set | frozenset):
        return [_plain(v) for v in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class Details(Mapping[str, Any]):
    """Base of every rule's details. Subclasses are ``@dataclass(frozen=True, kw_only=True)`` whose fields all have
    defaults (a row written by an older version may lack a field). ``schema`` is raised when a field changes meaning;
    ``upgrade`` then turns an older row into the current form."""

    schema: ClassVar[int] = 1
    hidden: ClassVar[frozenset[str]] = frozenset()  # fields kept but not part of the facts shown
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    # -- building ------------------------------------------------------------------------------------------------

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> Self:
        """From a detector's working dict (sets become sorted tuples). Unknown keys go to ``extra``."""
        hints = _hints(cls)
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, value in facts.items():
            if name in hints and name != "extra":
                known[name] = _coerce(value, hints[name])
            elif name != SCHEMA_KEY:
                extra[name] = _plain(value)
        return cls(**known, extra=extra)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Self:
        """From the stored JSON form, of this schema or an older one (``upgrade``), or of a row stored before
        details had a schema (no ``_v``)."""
        data = dict(data or {})
        version = data.pop(SCHEMA_KEY, 0)
        saved_extra = data.pop("extra", None)
        if isinstance(version, int) and version < cls.schema:
            data = cls.upgrade(data, version)
        built = cls.from_facts(data)
        if isinstance(saved_extra, Mapping) and saved_extra:
            built = dataclasses.replace(built, extra={**saved_extra, **built.extra})
        return built

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Turn a row of an older ``schema`` (0: stored before details were typed) into the current form."""
        return data

    # -- reading -------------------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The stored form: every declared field, ``extra`` merged back, and the schema version."""
        out: dict[str, Any] = {SCHEMA_KEY: self.schema}
        out.update(self._fields())
        return out

    def _fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            if f.name in self.hidden:
                continue
            out[f.name] = _json_value(getattr(self, f.name))
        for name, value in self.extra.items():
            out.setdefault(name, _json_value(value))
        return out

    def words(self, lang: str) -> Mapping[str, Any]:
        """Values computed for the summary templates in language ``lang`` (e.g. "3 アカウント" / "3 accounts")."""
        return {}

    def alert_words(self, lang: str, alert: Any) -> Mapping[str, Any]:
        """Like ``words``, for values that also depend on the alert's own fields (its source address...)."""
        return {}

    # -- the read-only mapping of the JSON form (generic outputs) -------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        fields = self._fields()
        if name in fields:
            return fields[name]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())


@dataclasses.dataclass(frozen=True, kw_only=True)
class RawDetails(Details):
    """The details of a rule this installation does not know (a plugin since removed): kept, shown as they are,
    with the summaries stored when the alert was written."""

    hidden: ClassVar[frozenset[str]] = frozenset({"summary_ja", "summary_en"})
    summary_ja: str = ""
    summary_en: str = ""
