"""The rule catalogue: every rule declared once, and the registry that holds them.

A :class:`Rule` says everything the rest of mamori needs to know about a rule: its id and default severity, its title,
what an alert of it means and what to do (Japanese and English), the type of its details, and how its summary reads
(templates over the alert and its typed details, per language). From the catalogue come the rule names and filters of
the CLI and the dashboard, the Zabbix template, docs/rules.md, the help texts, and the check of rule names in the
settings (an unknown name lists the known ones).

The built-in rules are listed explicitly (``mamori.rules.builtin``); more come from installed packages through the
``mamori.rules`` entry-point group, each entry point naming a :class:`Rule` or a sequence of them::

    [project.entry-points."mamori.rules"]
    my-rule = "my_package.rules:MY_RULE"

A plugin's detector is registered separately (``mamori.detectors``, see ``mamori.detection.registry``).
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from mamori.model import Severity
from mamori.rules.details import Details

__all__ = [
    "CATEGORIES",
    "ENTRY_POINT_GROUP",
    "Catalogue",
    "Rule",
    "Summary",
    "Text",
    "UnknownRuleError",
    "load_catalogue",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mamori.rules"

# Where an alert's evidence comes from; the dashboard and the docs group rules by it.
CATEGORIES: dict[str, tuple[str, str]] = {
    "network": ("ネットワーク（パケット・ルータのログ）", "Network (packets, router logs)"),
    "windows": ("Windows イベントログ", "Windows event logs"),
    "backup": ("バックアップ（定期的な確認）", "Backups (regular checks)"),
    "system": ("mamori 自身", "mamori itself"),
}


@dataclass(frozen=True)
class Text:
    """A text in both languages of the product."""

    ja: str
    en: str

    def __call__(self, lang: str) -> str:
        return self.en if lang == "en" else self.ja


@dataclass(frozen=True)
class Summary:
    """One way a rule's summary reads: a ``str.format`` template per language over the alert's fields (``src_ip``,
    ``dst_ip``, ``dst_port``, ``src_mac``, ``system``, ``count``...), its details' fields, and the values its
    details compute for the language (``Details.words``). The first summary of a rule whose ``when`` accepts the
    alert is used; the last one usually has none. ``system`` appends the department system the alert concerns."""

    ja: str
    en: str
    when: Callable[[Any], bool] | None = None
    system: bool = True

    def template(self, lang: str) -> str:
        return self.en if lang == "en" else self.ja


@dataclass(frozen=True)
class Rule:
    """One rule, declared once. ``short`` is the one-line explanation (Zabbix item, filter tooltip); ``meaning``
    and ``response`` are what the alert page and the notifications tell a person; ``notes`` (optional) explains
    the details' fields for docs/rules.md."""

    id: str
    category: str
    severity: Severity
    title: Text
    short: Text
    meaning: Text
    response: Text
    details: type[Details]
    summaries: tuple[Summary, ...]
    notes: Text | None = None
    labels: Mapping[str, Text] | None = None  # words for fields the shared vocabulary (rules/labels.py) lacks
    values: Mapping[tuple[str, str], Text] | None = None  # words for codes its details hold: (field, code) -> Text

    def __post_init__(self) -> None:
        if not self.id or self.id != self.id.strip().lower() or " " in self.id:
            raise ValueError(f"rule id {self.id!r} must be lower-case words joined by '-'")
        if self.category not in CATEGORIES:
            raise ValueError(f"rule {self.id}: unknown category {self.category!r}; known: {', '.join(CATEGORIES)}")
        if not self.summaries:
            raise ValueError(f"rule {self.id}: declares no summary")
        for variant in self.summaries:
            for template in (variant.ja, variant.en):
                for _, name, _, _ in string.Formatter().parse(template):
                    if name is not None and not name.isidentifier():
                        raise ValueError(f"rule {self.id}: a summary may name plain values only, not {name!r}")
        try:
            self.details()
        except TypeError as exc:
            raise ValueError(f"rule {self.id}: every field of {self.details.__name__} needs a default") from exc

    def summary_for(self, alert: Any) -> Summary:
        for summary in self.summaries:
            if summary.when is None or summary.when(alert):
                return summary
        return self.summaries[-1]


class UnknownRuleError(ValueError):
    """A rule name that no installed rule carries; the message lists the known ones."""

    def __init__(self, name: str, known: Iterable[str], what: str = "rule") -> None:
        super().__init__(f"unknown {what} {name!r}; known: {', '.join(known)}")
        self.name = name


class Catalogue(Mapping[str, Rule]):
    """The rules of this installation, in declaration order: the built-in ones, then plugins'."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules: dict[str, Rule] = {}
        for rule in rules:
            if rule.id in self._rules:
                raise ValueError(f"rule {rule.id!r} is declared twice")
            self._rules[rule.id] = rule

    def __getitem__(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def rule(self, rule_id: str) -> Rule:
        """The rule, or :class:`UnknownRuleError` naming the known ones."""
        found = self._rules.get(rule_id)
        if found is None:
            raise UnknownRuleError(rule_id, self._rules)
        return found

    def check(self, names: Iterable[str], what: str = "rule") -> None:
        for name in names:
            if name not in self._rules:
                raise UnknownRuleError(name, self._rules, what)

    def ids(self, category: str | None = None) -> tuple[str, ...]:
        return tuple(r.id for r in self._rules.values() if category is None or r.category == category)

    def title(self, rule_id: str, lang: str) -> str:
        """The rule's title, or its id for a rule this installation does not know."""
        found = self._rules.get(rule_id)
        return found.title(lang) if found is not None else rule_id

    def details_type(self, rule_id: str) -> type[Details] | None:
        found = self._rules.get(rule_id)
        return found.details if found is not None else None


EntryPoints = Callable[[], Iterable[metadata.EntryPoint]]


def _installed_entry_points() -> Iterable[metadata.EntryPoint]:
    from mamori.plugins import entry_points

    return entry_points(ENTRY_POINT_GROUP)


def _plugin_rules(entry_points: EntryPoints) -> list[Rule]:
    found: list[Rule] = []
    for ep in entry_points():
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plugin names itself and does not take mamori down
            log.error("rule plugin %s (%s) could not be loaded: %s", ep.name, ep.value, exc)
            continue
        items: Sequence[Any] = loaded if isinstance(loaded, list | tuple) else [loaded]
        for item in items:
            if isinstance(item, Rule):
                found.append(item)
            else:
                log.error("rule plugin %s (%s) gave %s, not a Rule", ep.name, ep.value, type(item).__name__)
    return found


def load_catalogue(entry_points: EntryPoints = _installed_entry_points) -> Catalogue:
    """The built-in rules and those of installed plugins (a plugin never replaces a built-in rule)."""
    from mamori.rules.builtin import BUILTIN_RULES

    rules = list(BUILTIN_RULES)
    taken = {r.id for r in rules}
    for rule in _plugin_rules(entry_points):
        if rule.id in taken:
            log.warning("rule plugin's %s ignored: the id is taken", rule.id)
            continue
        taken.add(rule.id)
        rules.append(rule)
    return Catalogue(rules)
