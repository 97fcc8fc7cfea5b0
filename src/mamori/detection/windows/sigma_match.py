"""Compile a Sigma rule's condition (as pySigma parses it) into a Python predicate over :class:`WindowsEvent`.

pySigma parses rules and applies the value modifiers; it has no matcher of its own. What is matched here: field
equals / ``contains`` / ``startswith`` / ``endswith`` / wildcards (case-insensitive unless ``cased``), ``re``
(with its ``i``/``m``/``s`` flags), numbers, ``cidr``, ``exists``, null, ``lt``/``lte``/``gt``/``gte``, value
lists (any, or all with ``|all``), ``windash``/``base64offset`` expansions, keywords (any field contains), and the
conditions ``and`` / ``or`` / ``not`` / ``1 of`` / ``all of``. Anything else raises :class:`Unsupported` with the
reason, so the loader can report the rule instead of ignoring it silently.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from mamori.model import WindowsEvent

__all__ = ["Predicate", "Unsupported", "compile_condition", "event_ids_of", "field_getter"]

Predicate = Callable[[WindowsEvent], bool]
Getter = Callable[[WindowsEvent], str | None]


class Unsupported(Exception):
    """A Sigma construct this matcher does not evaluate; the message says which."""


# Fields that are the event's header rather than its data (Sigma's Windows field names).
_HEADER: dict[str, Getter] = {
    "eventid": lambda e: str(e.event_id),
    "channel": lambda e: e.channel,
    "provider_name": lambda e: e.provider,
    "computer": lambda e: e.computer,
    "computername": lambda e: e.computer,
    "eventrecordid": lambda e: None if e.record_id is None else str(e.record_id),
}


def field_getter(name: str) -> Getter:
    header = _HEADER.get(name.lower())
    if header is not None:
        return header
    return lambda e: e.fields.get(name)


def _string_parts(value: SigmaString) -> list[str | SpecialChars]:
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            raise Unsupported(f"placeholder %{part.name}% (the expand modifier needs a pipeline)")
        parts.append(part)
    return parts


def _string(get: Getter, value: SigmaString) -> Predicate:
    cased = isinstance(value, SigmaCasedString)
    parts = _string_parts(value)
    plain = [p for p in parts if isinstance(p, str)]
    wild = [p for p in parts if not isinstance(p, str)]
    norm: Callable[[str], str] = (lambda s: s) if cased else str.lower
    if not wild:
        text = norm("".join(plain))
        return lambda e: (v := get(e)) is not None and norm(v) == text
    star = SpecialChars.WILDCARD_MULTI
    if len(parts) == 2 and parts[0] is star and isinstance(parts[1], str):
        tail = norm(parts[1])
        return lambda e: (v := get(e)) is not None and norm(v).endswith(tail)
    if len(parts) == 2 and parts[1] is star and isinstance(parts[0], str):
        head = norm(parts[0])
        return lambda e: (v := get(e)) is not None and norm(v).startswith(head)
    if len(parts) == 3 and parts[0] is star and parts[2] is star and isinstance(parts[1], str):
        middle = norm(parts[1])
        return lambda e: (v := get(e)) is not None and middle in norm(v)
    pattern = "".join(re.escape(p) if isinstance(p, str) else (".*" if p is star else ".") for p in parts)
    regex = re.compile(pattern, re.DOTALL | (0 if cased else re.IGNORECASE))
    return lambda e: (v := get(e)) is not None and regex.fullmatch(v) is not None


def _number(get: Getter, value: SigmaNumber) -> Predicate:
    number = value.number
    text = str(number)

    def match(e: WindowsEvent) -> bool:
        v = get(e)
        if v is None:
            return False
        if v == text:
            return True
        try:
            return float(int(v, 0) if v.lower().startswith("0x") else float(v)) == float(number)
        except ValueError:
            return False

    return match


def _regex(get: Getter, value: SigmaRegularExpression) -> Predicate:
    flags = 0
    for flag in value.flags:
        flags |= {
            SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
            SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
            SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
        }[flag]
    regex = re.compile(str(value.regexp), flags)
    return lambda e: (v := get(e)) is not None and regex.search(v) is not None


_COMPARE = {
    CompareOperators.LT: operator.lt,
    CompareOperators.LTE: operator.le,
    CompareOperators.GT: operator.gt,
    CompareOperators.GTE: operator.ge,
    CompareOperators.NEQ: operator.ne,
}


def _compare(get: Getter, value: SigmaCompareExpression) -> Predicate:
    op = _COMPARE[value.op]
    number = float(value.number.number)

    def match(e: WindowsEvent) -> bool:
        v = get(e)
        try:
            return v is not None and op(float(int(v, 0) if v.lower().startswith("0x") else v), number)
        except ValueError:
            return False

    return match


def _cidr(get: Getter, value: SigmaCIDRExpression) -> Predicate:
    network = value.network

    def match(e: WindowsEvent) -> bool:
        v = get(e)
        if not v:
            return False
        try:
            return ipaddress.ip_address(v.strip("[]")) in network
        except ValueError:
            return False

    return match


def _value(get: Getter, value: Any) -> Predicate:
    if isinstance(value, SigmaString):
        return _string(get, value)
    if isinstance(value, SigmaBool):
        text = "true" if value.boolean else "false"
        return lambda e: (v := get(e)) is not None and v.lower() == text
    if isinstance(value, SigmaNumber):
        return _number(get, value)
    if isinstance(value, SigmaRegularExpression):
        return _regex(get, value)
    if isinstance(value, SigmaNull):
        return lambda e: not get(e)
    if isinstance(value, SigmaExists):
        wanted = bool(value.exists)
        return lambda e: (get(e) is not None) == wanted
    if isinstance(value, SigmaCompareExpression):
        return _compare(get, value)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr(get, value)
    if isinstance(value, SigmaExpansion):
        options = [_value(get, v) for v in value.values]
        return lambda e: any(p(e) for p in options)
    raise Unsupported(f"value type {type(value).__name__} ({value})")


def _keyword(value: Any) -> Predicate:
    """A value without a field: any event data field matches it (as Sigma keywords search the whole event)."""
    holder: dict[str, str] = {}

    def get_any(e: WindowsEvent) -> str | None:
        return holder.get("v")

    inner = _value(get_any, value)

    def match(e: WindowsEvent) -> bool:
        for v in e.fields.values():
            holder["v"] = v
            if inner(e):
                return True
        return False

    return match


def compile_condition(node: Any) -> Predicate:
    """The parsed and post-processed condition tree of one rule -> a predicate."""
    if isinstance(node, ConditionAND):
        parts = [compile_condition(a) for a in node.args]
        return lambda e: all(p(e) for p in parts)
    if isinstance(node, ConditionOR):
        parts = [compile_condition(a) for a in node.args]
        return lambda e: any(p(e) for p in parts)
    if isinstance(node, ConditionNOT):
        inner = compile_condition(node.args[0])
        return lambda e: not inner(e)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _value(field_getter(node.field), node.value)
    if isinstance(node, ConditionValueExpression):
        return _keyword(node.value)
    raise Unsupported(f"condition element {type(node).__name__}")


def _ids_of_value(value: Any) -> set[int] | None:
    if isinstance(value, SigmaNumber) and isinstance(value.number, int):
        return {value.number}
    if isinstance(value, SigmaString) and not value.contains_special() and str(value).isdigit():
        return {int(str(value))}
    return None


def event_ids_of(node: Any) -> set[int] | None:
    """The event ids a condition can match, when it pins them (``EventID: 4625``); None when any id may match."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _ids_of_value(node.value) if node.field.lower() == "eventid" else None
    if isinstance(node, ConditionOR):
        union: set[int] = set()
        for arg in node.args:
            ids = event_ids_of(arg)
            if ids is None:
                return None
            union |= ids
        return union
    if isinstance(node, ConditionAND):
        known = [ids for ids in (event_ids_of(a) for a in node.args) if ids is not None]
        if not known:
            return None
        result = known[0]
        for ids in known[1:]:
            result = result & ids
        return result
    return None
