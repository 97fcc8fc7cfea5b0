"""What the Windows rules share: the context they are built with, bounded keyed state, and readers of the event
data fields every logon event carries (account, source address, logon type).

Rules read ``WindowsEvent.fields`` by the names Windows gives them in the event XML (``TargetUserName``,
``IpAddress``, ``LogonType``...). Those names and values are the same on a Japanese and an English Windows; the
rendered message is not (and is never looked at).
"""

from __future__ import annotations

import functools
import ipaddress
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from mamori.config.windows import WindowsSettings
from mamori.detection.book import AlertBook
from mamori.detection.exempt import Exemptions
from mamori.model import WindowsEvent

__all__ = [
    "SECURITY",
    "SYSTEM",
    "Bounded",
    "RuleBase",
    "RuleContext",
    "WindowsRule",
    "account_of",
    "clean",
    "logon_type",
    "note_listed",
    "short_name",
    "source_ip",
    "source_of",
]

SECURITY = "security"
SYSTEM = "system"
_EMPTY = frozenset({"", "-", "::", "0.0.0.0", "null", "(null)"})  # noqa: S104 - a value in a log, not a bind address

K = TypeVar("K")
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """A dict of at most ``cap`` keys; the least recently touched key is evicted first (O(1), docs/design.md §2)."""

    __slots__ = ("cap", "data", "evicted")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data: OrderedDict[K, V] = OrderedDict()
        self.evicted = 0

    def get(self, key: K) -> V | None:
        value = self.data.get(key)
        if value is not None:
            self.data.move_to_end(key)
        return value

    def setdefault(self, key: K, make: Callable[[], V]) -> V:
        data = self.data
        value = data.get(key)
        if value is None:
            if len(data) >= self.cap:
                data.popitem(last=False)
                self.evicted += 1
            value = data[key] = make()
        else:
            data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Set ``key`` (the most recently touched), evicting the least recently touched key when full."""
        data = self.data
        if key in data:
            data.move_to_end(key)
        elif len(data) >= self.cap:
            data.popitem(last=False)
            self.evicted += 1
        data[key] = value

    def pop(self, key: K) -> None:
        self.data.pop(key, None)

    def __len__(self) -> int:
        return len(self.data)


@dataclass
class RuleContext:
    """What every rule is built with: settings, the alert book, and facts rules share about computers."""

    settings: WindowsSettings
    book: AlertBook
    # Computers that took an RDP logon from a host outside the allowed admin hosts (computer -> time): an outgoing
    # RDP session from one of them is the attacker moving on (the Osaka incident's path).
    rdp_suspects: Bounded[str, float] = field(default_factory=lambda: Bounded(10_000))
    # The hosts registered as reaching many computers by their work (lateral-movement-windows leaves them alone).
    exempt: Exemptions = field(default_factory=Exemptions)


@dataclass
class RuleBase:
    """What every built-in rule has: its context, and the quiet period after which a returning attack is a new
    alert (the common setting; a rule with its own setting sets it in its ``__post_init__``)."""

    ctx: RuleContext
    quiet_period: float = field(init=False)

    def __post_init__(self) -> None:
        self.quiet_period = self.ctx.settings.quiet_period


class WindowsRule(Protocol):
    """A built-in Windows rule: the events it wants, and what it does with one (True: it went into an alert)."""

    rule: ClassVar[str]
    event_ids: ClassVar[frozenset[int]]
    quiet_period: float

    def on_event(self, event: WindowsEvent) -> bool: ...


def clean(value: str | None) -> str | None:
    """A field value, or None when Windows wrote a placeholder (``-``, empty, ``::``)."""
    if value is None:
        return None
    value = value.strip()
    return None if value in _EMPTY else value


def source_ip(value: str | None) -> str | None:
    """An address as found in ``IpAddress``/``Address``: normalised, IPv4-mapped IPv6 unwrapped; None if not an IP
    (``-``, ``LOCAL``, the Japanese ``ローカル``)."""
    value = clean(value)
    if value is None:
        return None
    return _parse_ip(value)


@functools.lru_cache(maxsize=65536)  # parsing costs ~15 µs; a few addresses recur in thousands of events
def _parse_ip(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


_last_source: tuple[WindowsEvent | None, str | None] = (None, None)


def source_of(event: WindowsEvent) -> str | None:
    """Where a logon came from: the IP address, else the workstation name the client gave, else None.

    Four rules ask this of each failed logon in a row; the last answer is kept (one tuple, swapped whole, so an
    engine in another thread never pairs its event with another's answer)."""
    global _last_source  # noqa: PLW0603 - a one-entry cache
    last_event, last = _last_source
    if last_event is event:
        return last
    fields = event.fields
    found = source_ip(fields.get("IpAddress"))
    if found is None:
        workstation = clean(fields.get("WorkstationName"))
        found = workstation.upper() if workstation else None
    _last_source = (event, found)
    return found


def account_of(event: WindowsEvent, user_field: str = "TargetUserName", domain_field: str = "TargetDomainName") -> str:
    """``DOMAIN\\user`` (or ``user`` when the domain is empty), as written in the event."""
    fields = event.fields
    user = (fields.get(user_field) or "").strip()
    domain = clean(fields.get(domain_field))
    return f"{domain}\\{user}" if domain and domain != "." else user


def logon_type(event: WindowsEvent) -> int | None:
    value = event.fields.get("LogonType")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def short_name(computer: str) -> str:
    """``PC01.example.corp`` -> ``PC01`` (the NetBIOS-style name a local account's domain shows)."""
    return computer.split(".", 1)[0].upper()


def note_listed(details: dict[str, Any], name: str, value: object, cap: int) -> bool:
    """Add ``value`` to the list ``details[name]`` of distinct values, in the order seen, and count it in
    ``details[name + "_count"]``; past ``cap`` values are counted, not listed (and a value seen again then is
    counted again). Whether it was new. For an alert that gathers a burst: the channels cleared, the services
    installed, the accounts locked out."""
    items = details.get(name)
    if not isinstance(items, list):  # a restored alert's list is a list too
        items = details[name] = list(items or ())
    if value in items:
        return False
    count = details.get(f"{name}_count")
    known = count if isinstance(count, int) else len(items)
    if len(items) < cap:
        items.append(value)
    details[f"{name}_count"] = known + 1
    return True
