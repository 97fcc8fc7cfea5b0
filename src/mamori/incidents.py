"""Incidents: alerts that share a source, an account or a target within a time span, grouped into one story.

Pure logic with bounded state (docs/design.md §10, "Incidents"). It sits below the middle packages (it imports only
``model``) because the store runs it inside the transaction that writes a batch of alerts: every process that writes
alerts (the packet sensor, the log collector, ``analyze``, ``evtx``) groups against the same incidents, and the
grouper's memory is brought up to date from the store before each batch (:meth:`IncidentGrouper.sync`), so
incidents survive restarts and span processes.

An alert is linked by its *keys*: ``ip:<address>`` (its source, its target, a Windows logon's source address),
``name:<computer>`` (the computer that logged a Windows event, a workstation name; a machine account ``HOST$`` is
its computer) and ``account:<user>`` (lower case, without the domain). Addresses are one namespace whichever side
they are on: the server an attacker reached is the source of the next step of a lateral movement. Names that say
nothing about an attacker (``-``, SYSTEM, ANONYMOUS LOGON...) and addresses that say nothing (unspecified, loopback,
broadcast) are not keys.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mamori.model import Alert, Severity

__all__ = [
    "Grouping",
    "Incident",
    "IncidentGrouper",
    "IncidentRules",
    "alert_keys",
    "key_parts",
]

# Accounts shared by everything on a Windows machine, and the built-in groups a membership change names as its
# target: linking by them would merge unrelated attacks.
_GENERIC_ACCOUNTS = frozenset(
    {
        "administrators",
        "domain admins",
        "enterprise admins",
        "schema admins",
        "remote desktop users",
        "backup operators",
        "account operators",
        "server operators",
        "users",
        "domain users",
        "guests",
        "",
        "-",
        "system",
        "local system",
        "localsystem",
        "local service",
        "network service",
        "anonymous logon",
        "nt authority\\system",
        "dwm-1",
        "umfd-0",
        "umfd-1",
    }
)
# Details fields that name an account, a computer, or a peer that may be an address or a computer name.
_ACCOUNT_FIELDS = ("target_user", "actor", "account")
_NAME_FIELDS = ("computer", "workstation", "caller_computer")
_PEER_FIELDS = ("source", "destination", "target_server")
_MAX_KEY_TEXT = 200


@dataclass(frozen=True)
class IncidentRules:
    """How alerts are grouped. ``span``: an alert joins an incident whose alerts came at most this many seconds
    before or after it. ``max_open``: incidents kept in memory to join (the longest quiet are forgotten first; the
    store keeps them all). ``max_keys``: keys remembered per incident (an incident past it still takes alerts linked
    by the keys it has)."""

    span: float = 7200.0
    max_open: int = 10_000
    max_keys: int = 64
    enabled: bool = True


@dataclass(frozen=True)
class Incident:
    """An incident as stored: what the grouper needs to go on grouping. ``merged_into`` is the incident it became
    part of, when an alert linked the two."""

    uid: str
    first_seen: float
    last_seen: float
    severity: Severity
    keys: tuple[str, ...] = ()
    merged_into: str | None = None


@dataclass
class _State:
    uid: str
    first_seen: float
    last_seen: float
    severity: Severity
    keys: list[str] = field(default_factory=list)

    def frozen(self) -> Incident:
        return Incident(self.uid, self.first_seen, self.last_seen, self.severity, tuple(self.keys))


@dataclass(frozen=True)
class Grouping:
    """What one batch changed: the incident of each alert (by alert uid), the incidents created or grown (their new
    state), and the incidents merged into another (old uid -> the uid that now holds their alerts)."""

    assigned: Mapping[str, str]
    incidents: Mapping[str, Incident]
    merged: Mapping[str, str]


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text[:_MAX_KEY_TEXT] if text else None


def _ip_key(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        address = ipaddress.ip_address(text.removeprefix("::ffff:") if "." in text else text)
    except ValueError:
        return None
    if address.is_unspecified or address.is_loopback or address.is_multicast or str(address) == "255.255.255.255":
        return None
    return f"ip:{address}"


def _name_key(value: Any) -> str | None:
    text = _text(value)
    if text is None or text in ("-", "localhost"):
        return None
    ip = _ip_key(text)
    if ip is not None:
        return ip
    name = text.lower().removeprefix("\\\\").rstrip("$").split(".", 1)[0]
    return f"name:{name}" if name and name != "-" else None


def _account_key(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    account = text.lower()
    if account in _GENERIC_ACCOUNTS:
        return None
    account = account.rsplit("\\", 1)[-1].split("@", 1)[0].strip()
    if account in _GENERIC_ACCOUNTS:
        return None
    if account.endswith("$"):  # a machine account is its computer
        return _name_key(account)
    return f"account:{account}"


def alert_keys(alert: Alert) -> tuple[str, ...]:
    """What links ``alert`` to others: its addresses, computers and accounts, as normalised keys (in a stable
    order, without repeats). Lists of many hosts or users (a scan's targets, a spray's accounts) are not keys: an
    alert about many things would chain unrelated ones."""
    found: list[str | None] = [_ip_key(alert.src_ip), _ip_key(alert.dst_ip)]
    details = alert.details
    for name in _NAME_FIELDS:
        found.append(_name_key(details.get(name)))
    for name in _PEER_FIELDS:
        found.append(_name_key(details.get(name)))
    for name in _ACCOUNT_FIELDS:
        found.append(_account_key(details.get(name)))
    users = details.get("users")
    if isinstance(users, list | tuple) and len(users) == 1:
        found.append(_account_key(users[0]))
    return tuple(dict.fromkeys(k for k in found if k is not None))


def key_parts(keys: Iterable[str]) -> dict[str, list[str]]:
    """Keys by kind, for display: ``{"ip": [...], "name": [...], "account": [...]}``."""
    parts: dict[str, list[str]] = {"ip": [], "name": [], "account": []}
    for key in keys:
        kind, _, value = key.partition(":")
        parts.setdefault(kind, []).append(value)
    return parts


def _gap(state: _State, alert: Alert) -> float:
    """Seconds between the incident's alerts and this alert (0 when they overlap), whichever came first: files of
    old logs may be read after newer packets."""
    return max(0.0, alert.first_seen - state.last_seen, state.first_seen - alert.last_seen)


class IncidentGrouper:
    """Assigns alerts to incidents. State: at most ``rules.max_open`` incidents, each with at most
    ``rules.max_keys`` keys, and an index from key to the incidents that have it."""

    def __init__(self, rules: IncidentRules | None = None, *, new_uid: Callable[[], str] | None = None) -> None:
        self.rules = rules or IncidentRules()
        self._new_uid = new_uid or (lambda: secrets.token_hex(8))
        self._states: dict[str, _State] = {}
        self._index: dict[str, list[str]] = {}
        self._forgotten: dict[str, Incident] = {}  # incidents of the batch being grouped that the bound forgot
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._states)

    def known(self, uid: str) -> Incident | None:
        state = self._states.get(uid)
        return state.frozen() if state is not None else None

    # -- state from the store ----------------------------------------------------------------------------------

    def sync(self, incidents: Iterable[Incident]) -> None:
        """Take incidents as the store has them now (written by this process or another): replace what is known of
        them, forget the ones merged into others."""
        for incident in incidents:
            self._drop(incident.uid)
            if incident.merged_into is None:
                state = _State(
                    incident.uid,
                    incident.first_seen,
                    incident.last_seen,
                    incident.severity,
                    list(incident.keys[: self.rules.max_keys]),
                )
                self._states[incident.uid] = state
                for key in state.keys:
                    self._index.setdefault(key, []).append(state.uid)
        self._bound()

    # -- grouping ------------------------------------------------------------------------------------------------

    def group(self, alerts: Sequence[Alert], assigned: Mapping[str, str] | None = None) -> Grouping:
        """Put each alert in an incident: the one it is in already (``assigned``: alert uid -> incident uid, as
        stored), else one it shares a key with within the span, else a new one. An alert linking several incidents
        merges them into the one that began first."""
        known = dict(assigned or {})
        out: dict[str, str] = {}
        changed: set[str] = set()
        merged: dict[str, str] = {}
        for alert in sorted(alerts, key=lambda a: (a.first_seen, a.uid)):
            keys = alert_keys(alert)
            current = known.get(alert.uid)
            candidates = self._candidates(alert, keys, merged.get(current, current) if current else None)
            if candidates:
                survivor = min(candidates, key=lambda u: (self._states[u].first_seen, u))
                for other in candidates - {survivor}:
                    self._merge(other, survivor)
                    changed.discard(other)
                    merged[other] = survivor
                    merged.update({old: survivor for old, new in merged.items() if new == other})
                    out.update({uid: survivor for uid, inc in out.items() if inc == other})
            else:
                survivor = self._new_uid()
                self._states[survivor] = _State(survivor, alert.first_seen, alert.last_seen, alert.severity)
            self._add(self._states[survivor], alert, keys)
            out[alert.uid] = known[alert.uid] = survivor
            changed.add(survivor)
            self._forgotten.pop(survivor, None)
            self._bound(keep={survivor}, changed=changed)
        incidents = {
            uid: self._states[uid].frozen() if uid in self._states else self._forgotten[uid] for uid in changed
        }
        self._forgotten.clear()
        return Grouping(out, incidents, merged)

    def _candidates(self, alert: Alert, keys: Sequence[str], current: str | None) -> set[str]:
        """The incidents ``alert`` belongs to: the one it is in already, and those sharing a key within the span."""
        found: set[str] = set()
        if current is not None:
            if current not in self._states:  # forgotten here (bound), or made by a grouper that lost it
                self._states[current] = _State(current, alert.first_seen, alert.last_seen, alert.severity)
            found.add(current)
        for key in keys:
            for uid in self._index.get(key, ()):
                if _gap(self._states[uid], alert) <= self.rules.span:
                    found.add(uid)
        return found

    def _add(self, state: _State, alert: Alert, keys: Sequence[str]) -> None:
        state.first_seen = min(state.first_seen, alert.first_seen)
        state.last_seen = max(state.last_seen, alert.last_seen)
        state.severity = max(state.severity, alert.severity)
        for key in keys:
            if len(state.keys) >= self.rules.max_keys:
                break
            if key not in state.keys:
                state.keys.append(key)
                self._index.setdefault(key, []).append(state.uid)

    def _merge(self, other: str, survivor: str) -> None:
        gone = self._states[other]
        self._drop(other)
        into = self._states[survivor]
        into.first_seen = min(into.first_seen, gone.first_seen)
        into.last_seen = max(into.last_seen, gone.last_seen)
        into.severity = max(into.severity, gone.severity)
        for key in gone.keys:
            if len(into.keys) >= self.rules.max_keys:
                break
            if key not in into.keys:
                into.keys.append(key)
                self._index.setdefault(key, []).append(survivor)

    def _drop(self, uid: str) -> None:
        state = self._states.pop(uid, None)
        if state is None:
            return
        for key in state.keys:
            holders = self._index.get(key)
            if holders is None:
                continue
            if uid in holders:
                holders.remove(uid)
            if not holders:
                del self._index[key]

    def _bound(self, keep: set[str] | None = None, changed: set[str] | None = None) -> None:
        """Past ``max_open``, forget the tenth of the incidents quiet for longest (never the one just changed); the
        batch still reports what it changed in those it forgot."""
        limit = self.rules.max_open
        if len(self._states) <= limit:
            return
        target = max(0, limit - max(1, limit // 10))
        order = sorted(self._states.values(), key=lambda s: (s.last_seen, s.uid))
        keep = keep or set()
        for state in order:
            if len(self._states) <= target:
                break
            if state.uid not in keep:
                if changed is not None and state.uid in changed:
                    self._forgotten[state.uid] = state.frozen()
                self._drop(state.uid)
                self.evicted += 1
