"""Sigma rules from files (the community's rules, or a hospital's own): parsed with pySigma, matched here.

A rule's log source picks the channels and event ids it can match (``service: security`` -> Security,
``category: process_creation`` -> Sysmon 1 ...), so the readers decode only what some rule wants. Correlation rules
are evaluated in a stream: ``event_count`` (at least N matches within the timespan per group), ``value_count``
(at least N distinct values of a field) and ``temporal`` (every referenced rule matched within the timespan), with
``group-by`` and field aliases. A rule referenced by a correlation raises no alert of its own unless it says
``generate: true``. What cannot be evaluated (another product, an unknown log source, a field reference,
``temporal_ordered``, a ``lt`` count...) is reported with the file and the reason and left out, never ignored
silently.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationConditionOperator, SigmaCorrelationRule, SigmaCorrelationType
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule

from mamori.detection.windows.common import Bounded
from mamori.detection.windows.sigma_match import Predicate, Unsupported, compile_condition, event_ids_of
from mamori.model import Severity, WindowsEvent

__all__ = ["SigmaBase", "SigmaCorrelation", "SigmaProblem", "SigmaRuleSet", "load_sigma"]

_SYSMON = "microsoft-windows-sysmon/operational"
_SERVICES: dict[str, tuple[str, ...]] = {
    "security": ("security",),
    "system": ("system",),
    "application": ("application",),
    "sysmon": (_SYSMON,),
    "powershell": ("microsoft-windows-powershell/operational", "powershellcore/operational"),
    "powershell-classic": ("windows powershell",),
    "taskscheduler": ("microsoft-windows-taskscheduler/operational",),
    "wmi": ("microsoft-windows-wmi-activity/operational",),
    "windefend": ("microsoft-windows-windows defender/operational",),
    "terminalservices-localsessionmanager": ("microsoft-windows-terminalservices-localsessionmanager/operational",),
    "bits-client": ("microsoft-windows-bits-client/operational",),
    "ntlm": ("microsoft-windows-ntlm/operational",),
    "smbclient-security": ("microsoft-windows-smbclient/security",),
    "firewall-as": ("microsoft-windows-windows firewall with advanced security/firewall",),
    "dns-server": ("dns server",),
    "driver-framework": ("microsoft-windows-driverframeworks-usermode/operational",),
    "codeintegrity-operational": ("microsoft-windows-codeintegrity/operational",),
    "printservice-admin": ("microsoft-windows-printservice/admin",),
    "printservice-operational": ("microsoft-windows-printservice/operational",),
    "openssh": ("openssh/operational",),
    "lsa-server": ("microsoft-windows-lsa/operational",),
    "capi2": ("microsoft-windows-capi2/operational",),
    "dhcp": ("microsoft-windows-dhcp-server/operational",),
    "msexchange-management": ("msexchange management",),
    "appxdeployment-server": ("microsoft-windows-appxdeploymentserver/operational",),
    "shell-core": ("microsoft-windows-shell-core/operational",),
    "security-mitigations": ("microsoft-windows-security-mitigations/kernel mode",),
    "applocker": (
        "microsoft-windows-applocker/exe and dll",
        "microsoft-windows-applocker/msi and script",
        "microsoft-windows-applocker/packaged app-deployment",
        "microsoft-windows-applocker/packaged app-execution",
    ),
}
# Sysmon categories (as Sigma's Windows taxonomy maps them) -> event ids; PowerShell's script/module logs.
_CATEGORIES: dict[str, tuple[tuple[str, ...], frozenset[int]]] = {
    "process_creation": ((_SYSMON,), frozenset({1})),
    "network_connection": ((_SYSMON,), frozenset({3})),
    "process_termination": ((_SYSMON,), frozenset({5})),
    "driver_load": ((_SYSMON,), frozenset({6})),
    "image_load": ((_SYSMON,), frozenset({7})),
    "create_remote_thread": ((_SYSMON,), frozenset({8})),
    "raw_access_thread": ((_SYSMON,), frozenset({9})),
    "process_access": ((_SYSMON,), frozenset({10})),
    "file_event": ((_SYSMON,), frozenset({11})),
    "registry_add": ((_SYSMON,), frozenset({12})),
    "registry_delete": ((_SYSMON,), frozenset({12})),
    "registry_set": ((_SYSMON,), frozenset({13})),
    "registry_rename": ((_SYSMON,), frozenset({14})),
    "registry_event": ((_SYSMON,), frozenset({12, 13, 14})),
    "create_stream_hash": ((_SYSMON,), frozenset({15})),
    "pipe_created": ((_SYSMON,), frozenset({17, 18})),
    "wmi_event": ((_SYSMON,), frozenset({19, 20, 21})),
    "dns_query": ((_SYSMON,), frozenset({22})),
    "file_delete": ((_SYSMON,), frozenset({23, 26})),
    "process_tampering": ((_SYSMON,), frozenset({25})),
    "ps_script": (_SERVICES["powershell"], frozenset({4104})),
    "ps_module": (_SERVICES["powershell"], frozenset({4103})),
    "ps_classic_start": (("windows powershell",), frozenset({400})),
    "ps_classic_provider_start": (("windows powershell",), frozenset({600})),
}
_LEVELS = {
    "informational": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


@dataclass(frozen=True)
class SigmaProblem:
    """A rule file, or a rule in it, that is not evaluated, and why."""

    file: str
    rule: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.rule + ': ' if self.rule else ''}{self.reason}"


@dataclass
class SigmaBase:
    """A detection rule: channels and ids it can match, and its predicate."""

    ref: str  # id, else name, else title
    title: str
    file: str
    severity: Severity
    channels: frozenset[str] | None
    event_ids: frozenset[int] | None
    predicate: Predicate
    generate: bool = True
    correlations: list[SigmaCorrelation] = field(default_factory=list)

    def matches(self, event: WindowsEvent) -> bool:
        if self.channels is not None and event.channel.lower() not in self.channels:
            return False
        return self.predicate(event)


@dataclass
class SigmaCorrelation:
    """A correlation rule evaluated as events stream in; state per group, bounded."""

    ref: str
    title: str
    file: str
    severity: Severity
    kind: str  # event_count, value_count, temporal
    rules: tuple[str, ...]
    group_by: tuple[str, ...]
    aliases: dict[str, dict[str, str]]  # alias -> {rule ref -> field}
    timespan: float
    threshold: int
    value_field: str | None = None
    max_groups: int = 50_000
    _groups: Bounded[tuple[str, ...], Any] = field(init=False)

    def __post_init__(self) -> None:
        self._groups = Bounded(self.max_groups)

    def group_of(self, rule_ref: str, event: WindowsEvent) -> tuple[str, ...]:
        out = [event.computer]
        for name in self.group_by:
            real = self.aliases.get(name, {}).get(rule_ref, name)
            out.append(event.fields.get(real) or _header(event, real) or "")
        return tuple(out)

    def feed(self, rule_ref: str, event: WindowsEvent) -> tuple[str, ...] | None:
        """Count one match of a referenced rule; the group when the correlation's condition is met."""
        group = self.group_of(rule_ref, event)
        ts = event.ts
        if self.kind == "event_count":
            times: deque[float] = self._groups.setdefault(group, lambda: deque(maxlen=self.threshold))
            times.append(ts)
            return group if len(times) >= self.threshold and ts - times[0] <= self.timespan else None
        if self.kind == "value_count":
            values: OrderedDict[str, float] = self._groups.setdefault(group, OrderedDict)
            while values and ts - next(iter(values.values())) > self.timespan:
                values.popitem(last=False)
            value = event.fields.get(self.value_field or "") or ""
            values[value] = ts
            values.move_to_end(value)
            if len(values) > 10_000:
                values.popitem(last=False)
            return group if len(values) >= self.threshold else None
        seen: dict[str, float] = self._groups.setdefault(group, dict)
        seen[rule_ref] = ts
        if len(seen) == len(self.rules) and max(seen.values()) - min(seen.values()) <= self.timespan:
            return group
        return None


def _header(event: WindowsEvent, name: str) -> str | None:
    lowered = name.lower()
    if lowered == "eventid":
        return str(event.event_id)
    if lowered in ("computer", "computername"):
        return event.computer
    return None


@dataclass
class SigmaRuleSet:
    bases: list[SigmaBase] = field(default_factory=list)
    correlations: list[SigmaCorrelation] = field(default_factory=list)
    problems: list[SigmaProblem] = field(default_factory=list)
    files: int = 0

    def event_ids(self) -> frozenset[int] | None:
        """Every id some rule can match; None when a rule can match any id (then every record is decoded)."""
        ids: set[int] = set()
        for base in self.bases:
            if base.event_ids is None:
                return None
            ids |= base.event_ids
        return frozenset(ids)


def _ref(rule: SigmaRule | SigmaCorrelationRule) -> str:
    return str(rule.id) if rule.id is not None else (rule.name or rule.title)


def _level(rule: SigmaRule | SigmaCorrelationRule) -> Severity:
    return _LEVELS.get(str(rule.level).lower() if rule.level is not None else "medium", Severity.MEDIUM)


def _logsource(rule: SigmaRule) -> tuple[frozenset[str] | None, frozenset[int] | None]:
    source = rule.logsource
    if source.product not in (None, "windows"):
        raise Unsupported(f"log source product {source.product!r} is not Windows")
    channels: set[str] | None = None
    ids: frozenset[int] | None = None
    if source.category is not None:
        if source.category not in _CATEGORIES:
            raise Unsupported(f"log source category {source.category!r} is not known here")
        category_channels, ids = _CATEGORIES[source.category]
        channels = set(category_channels)
    if source.service is not None:
        if source.service not in _SERVICES:
            raise Unsupported(f"log source service {source.service!r} is not known here")
        service = set(_SERVICES[source.service])
        channels = service if channels is None else channels & service
    if channels is None and source.category is None and source.service is None and source.product is None:
        raise Unsupported("empty log source")
    return (frozenset(channels) if channels is not None else None), ids


def _compile_base(rule: SigmaRule, file: str) -> SigmaBase:
    channels, ids = _logsource(rule)
    conditions = rule.detection.parsed_condition
    if len(conditions) != 1:
        raise Unsupported("several conditions in one rule")
    tree = conditions[0].parsed
    predicate = compile_condition(tree)
    pinned = event_ids_of(tree)
    if ids is not None and pinned is not None:
        ids = ids & frozenset(pinned)
    elif pinned is not None:
        ids = frozenset(pinned)
    return SigmaBase(_ref(rule), rule.title, file, _level(rule), channels, ids, predicate)


_OPS = {SigmaCorrelationConditionOperator.GTE: 0, SigmaCorrelationConditionOperator.GT: 1}
_KINDS = {
    SigmaCorrelationType.EVENT_COUNT: "event_count",
    SigmaCorrelationType.VALUE_COUNT: "value_count",
    SigmaCorrelationType.TEMPORAL: "temporal",
}


def _compile_correlation(rule: SigmaCorrelationRule, file: str, bases: dict[str, SigmaBase]) -> SigmaCorrelation:
    kind = _KINDS.get(rule.type)
    if kind is None:
        raise Unsupported(f"correlation type {rule.type} (supported: event_count, value_count, temporal)")
    refs: list[str] = []
    for reference in rule.rules or ():
        target = getattr(reference, "rule", None)
        if target is None or isinstance(target, SigmaCorrelationRule):
            raise Unsupported(
                f"rule {reference.reference!r} is a correlation or was not found: chains are not evaluated"
            )
        ref = _ref(target)
        if ref not in bases:
            raise Unsupported(f"referenced rule {reference.reference!r} is not evaluated (see its own problem)")
        refs.append(ref)
    condition = rule.condition
    threshold = len(refs)
    value_field = None
    if kind != "temporal" or getattr(condition, "op", None) is not None:
        op = getattr(condition, "op", None)
        if op not in _OPS:
            name = op.name.lower() if op is not None else "none"
            raise Unsupported(f"correlation condition {name!r} (only gte and gt can be decided as events stream in)")
        threshold = int(condition.count) + _OPS[op]  # type: ignore[union-attr]
        fieldref = getattr(condition, "fieldref", None)
        value_field = fieldref if isinstance(fieldref, str) else None
        if kind == "temporal":
            threshold = len(refs)
    aliases = {alias.alias: {_ref(r.rule): f for r, f in alias.mapping.items()} for alias in rule.aliases}
    return SigmaCorrelation(
        ref=_ref(rule),
        title=rule.title,
        file=file,
        severity=_level(rule),
        kind=kind,
        rules=tuple(refs),
        group_by=tuple(rule.group_by or ()),
        aliases=aliases,
        timespan=float(rule.timespan.seconds),
        threshold=max(threshold, 1),
        value_field=value_field,
    )


def _rule_files(paths: Sequence[Path]) -> tuple[list[Path], list[SigmaProblem]]:
    files: list[Path] = []
    problems: list[SigmaProblem] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".yml", ".yaml") and p.is_file())
            if not found:
                problems.append(SigmaProblem(str(path), "", "no .yml or .yaml rule files in this folder"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(SigmaProblem(str(path), "", "no such file or folder"))
    return files, problems


def _parse(files: Iterable[Path], result: SigmaRuleSet) -> tuple[list[SigmaCollection], dict[int, str]]:
    collections: list[SigmaCollection] = []
    origin: dict[int, str] = {}
    for path in files:
        result.files += 1
        try:
            text = path.read_text(encoding="utf-8-sig")
            collection = SigmaCollection.from_yaml(
                text, collect_errors=True, source=SigmaRuleLocation(path), resolve_references=False
            )
        except (OSError, UnicodeDecodeError, SigmaError, ValueError, yaml.YAMLError) as exc:
            result.problems.append(SigmaProblem(str(path), "", f"cannot be read as Sigma: {exc}"))
            continue
        for error in collection.errors:
            result.problems.append(SigmaProblem(str(path), "", str(error)))
        for rule in collection.rules:
            origin[id(rule)] = str(path)
        collections.append(collection)
    return collections, origin


def load_sigma(paths: Sequence[Path]) -> SigmaRuleSet:
    """Load every rule in ``paths`` (files, or folders searched for .yml/.yaml). Never raises for a bad rule."""
    files, problems = _rule_files(paths)
    result = SigmaRuleSet(problems=problems)
    collections, origin = _parse(files, result)
    merged = SigmaCollection.merge(collections, resolve_references=False)
    bases: dict[str, SigmaBase] = {}
    for rule in merged.rules:
        if isinstance(rule, SigmaRule):
            file = origin.get(id(rule), "?")
            if rule.errors:
                result.problems.append(SigmaProblem(file, rule.title, "; ".join(str(e) for e in rule.errors)))
                continue
            try:
                base = _compile_base(rule, file)
            except (Unsupported, SigmaError) as exc:
                result.problems.append(SigmaProblem(file, rule.title, str(exc)))
                continue
            bases[base.ref] = base
            result.bases.append(base)
    for rule in merged.rules:
        if isinstance(rule, SigmaCorrelationRule):
            file = origin.get(id(rule), "?")
            try:
                rule.resolve_rule_references(merged)
                correlation = _compile_correlation(rule, file, bases)
            except (Unsupported, SigmaError) as exc:
                result.problems.append(SigmaProblem(file, rule.title, str(exc)))
                continue
            result.correlations.append(correlation)
            for ref in correlation.rules:
                base = bases[ref]
                # A referenced rule raises no alert of its own, unless a correlation using it says generate: true.
                base.generate = bool(rule.generate) if not base.correlations else base.generate or bool(rule.generate)
                base.correlations.append(correlation)
    return result
