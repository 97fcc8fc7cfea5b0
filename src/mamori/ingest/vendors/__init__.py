"""Vendor log parsers: firewall and router permit/deny lines -> :class:`~mamori.model.ConnectionAttempt`.

The built-in parsers are registered explicitly in ``BUILTIN``; more come from installed packages through the
``mamori.log_parsers`` entry-point group (docs/design.md §4.8), each entry point naming a class or factory that
returns a :class:`LogParser`::

    [project.entry-points."mamori.log_parsers"]
    my-firewall = "my_package.parser:MyFirewallParser"
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata

from mamori.ingest.vendors.alaxala import Alaxala
from mamori.ingest.vendors.cisco import CiscoAsa, CiscoIos
from mamori.ingest.vendors.common import LogParser, Parsed
from mamori.ingest.vendors.fortigate import FortiGate
from mamori.ingest.vendors.netfilter import Netfilter
from mamori.ingest.vendors.paloalto import PaloAlto
from mamori.ingest.vendors.yamaha import YamahaRtx
from mamori.model import LogRecord

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "LogParser", "Parsed", "ParserSet", "available_parsers", "load_parsers"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mamori.log_parsers"

BUILTIN: dict[str, Callable[[], LogParser]] = {
    "yamaha-rtx": YamahaRtx,
    "fortigate": FortiGate,
    "cisco-asa": CiscoAsa,
    "cisco-ios": CiscoIos,
    "paloalto": PaloAlto,
    "alaxala": Alaxala,
    "netfilter": Netfilter,
}

EntryPoints = Callable[[], Iterable[metadata.EntryPoint]]


def _installed_entry_points() -> Iterable[metadata.EntryPoint]:
    from mamori.plugins import entry_points

    return entry_points(ENTRY_POINT_GROUP)


def available_parsers(entry_points: EntryPoints = _installed_entry_points) -> dict[str, Callable[[], LogParser]]:
    """Built-in parsers, then plugins (a plugin never replaces a built-in of the same name)."""
    found: dict[str, Callable[[], LogParser]] = dict(BUILTIN)
    for ep in entry_points():
        if ep.name in found:
            log.warning("log parser plugin %s (%s) ignored: the name is taken", ep.name, ep.value)
            continue

        def factory(ep: metadata.EntryPoint = ep) -> LogParser:
            loaded = ep.load()
            parser: LogParser = loaded()
            return parser

        found[ep.name] = factory
    return found


def load_parsers(names: Sequence[str] | None = None, entry_points: EntryPoints = _installed_entry_points) -> ParserSet:
    """The parsers named (default: every one available). Unknown names fail with the list of known ones."""
    known = available_parsers(entry_points)
    chosen = list(known) if names is None else list(names)
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise ValueError(f"unknown log parser(s) {', '.join(unknown)}; known: {', '.join(known)}")
    parsers = []
    for name in chosen:
        try:
            parser = known[name]()
        except Exception as exc:  # a plugin that fails to load must name itself
            raise ValueError(f"log parser {name!r} could not be loaded: {exc}") from exc
        if getattr(parser, "name", None) != name:
            parser.name = name
        parsers.append(parser)
    return ParserSet(parsers)


class ParserSet:
    """Tries each parser in turn; the first one that recognises a line wins. Counts per parser and unknown lines."""

    def __init__(self, parsers: Sequence[LogParser]) -> None:
        self.parsers = list(parsers)
        self.recognised: dict[str, int] = {p.name: 0 for p in self.parsers}
        self.connections = 0
        self.unknown = 0
        self.failed = 0

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parsers]

    def parse(self, record: LogRecord) -> tuple[str, Parsed] | None:
        for parser in self.parsers:
            try:
                result = parser.parse(record)
            except Exception:  # a plugin's bug must not stop the collector; the line stays in the archive
                self.failed += 1
                log.debug("log parser %s failed on %r", parser.name, record.raw[:200], exc_info=True)
                continue
            if result is not None:
                self.recognised[parser.name] += 1
                self.connections += len(result)
                return parser.name, result
        self.unknown += 1
        return None
