"""Logon rules on the Security log: ``brute-force``, ``password-spray``, ``logon-after-failures``,
``admin-ntlm-logon`` and ``account-lockout``.

The Osaka General Medical Center's catering server logged 27 failed logons (4625) in 10 seconds and 1,989 between
4:07 and 9:31, against the built-in Administrator over NTLM without a domain, while the attacker's RDP logon (4624
type 10) from the catering vendor's server succeeded. These rules say that in a few lines.

Windows are kept per key as the last few failure times only (a deque as long as the largest threshold), in bounded
maps evicted least recently used first: a flood of forged names or addresses cannot exhaust memory.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import ClassVar

from mamori.detection.book import AlertState
from mamori.detection.windows.common import (
    SECURITY,
    Bounded,
    RuleBase,
    account_of,
    clean,
    logon_type,
    note_listed,
    short_name,
    source_ip,
    source_of,
)
from mamori.model import Severity, WindowsEvent

__all__ = [
    "AccountLockoutRule",
    "AdminNtlmLogonRule",
    "BruteForceRule",
    "LogonAfterFailuresRule",
    "PasswordSprayRule",
]

_MAX_LISTED = 50  # accounts or sources listed in an alert's details
_INTERACTIVE_TYPES = frozenset({2, 3, 7, 8, 10, 11})  # people and tools; not system (0), batch (4), service (5)
_SERVICE_ACCOUNTS = frozenset({"system", "local service", "network service", "anonymous logon", "-", ""})


def _note(state: AlertState, name: str, value: object) -> None:
    """Add ``value`` to the bounded set ``details[name]`` (a list again after a restore)."""
    items = state.details.get(name)
    if not isinstance(items, set):
        items = set(items or ())
        state.details[name] = items
    if value is not None and len(items) < _MAX_LISTED:
        items.add(value)


def _ongoing(state: AlertState, ts: float, quiet_period: float) -> bool:
    """Whether ``ts`` belongs to the open episode (the same test as ``AlertBook.open``)."""
    return ts - state.last_seen <= quiet_period and state.first_seen - ts <= quiet_period


def _ip_or_none(source: str | None) -> str | None:
    return source_ip(source) if source is not None else None


# -- brute-force --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Run:
    """Recent failure times of one source or account (the last ``depth``, as raw doubles: an ``array`` costs a
    tenth of a deque of float objects, and there are tens of thousands of these), and the run's first failure."""

    times: array[float] = field(default_factory=lambda: array("d"))
    first: WindowsEvent | None = None


@dataclass
class BruteForceRule(RuleBase):
    """4625 bursts per source, and per target account when no source explains them (the accounts of one computer
    in one alert)."""

    rule: ClassVar[str] = "brute-force"
    event_ids: ClassVar[frozenset[int]] = frozenset({4625})

    def __post_init__(self) -> None:
        s = self.ctx.settings.brute_force
        self.quiet_period = s.quiet_period
        self._burst = (s.burst_failures, s.burst_window)
        self._slow = (s.slow_failures, s.slow_window)
        self._depth = max(s.burst_failures, s.slow_failures)
        cap = self.ctx.settings.max_tracked
        self._by_source: Bounded[tuple[str, str], _Run] = Bounded(cap)
        self._by_account: Bounded[tuple[str, str], _Run] = Bounded(cap)

    def _new_run(self) -> _Run:
        return _Run()

    def on_event(self, event: WindowsEvent) -> bool:
        if event.channel.lower() != SECURITY:
            return False
        book = self.ctx.book
        computer = event.computer
        user = (event.fields.get("TargetUserName") or "").strip()
        source = source_of(event)
        if source is not None:
            key = f"{computer}|{source}"
            state = book.get(self.rule, key)
            if state is not None and _ongoing(state, event.ts, self.quiet_period):
                self._continue(state, event, user)
                return True
            kind, n, first = self._step(self._by_source.setdefault((computer, source), self._new_run), event)
            if kind:
                self._by_account.pop((computer, user.lower()))  # these failures are explained by their source
                self._open(key, event, kind, n, first, source, user)
                return True
        # Without a source, the accounts guessed at on one computer within the quiet period are one alert: each
        # joins it when its own failures cross a window (a failure of another account does not).
        key = f"{computer}|account"
        state = book.get(self.rule, key)
        if state is not None and not _ongoing(state, event.ts, self.quiet_period):
            state = None
        if state is not None and user in (state.details.get("users") or ()):
            self._continue(state, event, user)
            return True
        kind, n, first = self._step(self._by_account.setdefault((computer, user.lower()), self._new_run), event)
        if kind is None:
            return False
        if state is None:
            self._open(key, event, kind, n, first, None, user)
        else:
            self._count(state, event, n, first, user)
        return True

    def _step(self, run: _Run, event: WindowsEvent) -> tuple[str | None, int, WindowsEvent | None]:
        """Record one failure; (window crossed or None, failures in the slow window, first failure)."""
        ts = event.ts
        times = run.times
        slow_n, slow_w = self._slow
        if times and ts - times[-1] > slow_w:
            del times[:]
        if not times:
            run.first = event
        times.append(ts)
        if len(times) > self._depth:
            del times[0]
        burst_n, burst_w = self._burst
        kind = None
        if len(times) >= burst_n and ts - times[-burst_n] <= burst_w:
            kind = "burst"
        elif len(times) >= slow_n and ts - times[-slow_n] <= slow_w:
            kind = "slow"
        if kind is None:
            return None, 0, None
        n = sum(1 for t in times if ts - t <= slow_w)
        first = run.first if run.first is not None and ts - run.first.ts <= slow_w else None
        del times[:]
        run.first = None
        return kind, n, first

    def _open(
        self,
        key: str,
        event: WindowsEvent,
        kind: str,
        n: int,
        first: WindowsEvent | None,
        source: str | None,
        user: str,
    ) -> None:
        state, _ = self.ctx.book.open(
            self.rule,
            key,
            event.ts,
            severity=Severity.HIGH,
            quiet_period=self.quiet_period,
            src_ip=_ip_or_none(source),
        )
        f = event.fields
        state.details.update(
            computer=event.computer,
            source=source,
            detection=kind,
            target_user=user,
            logon_type=logon_type(event),
            status=f.get("Status"),
            sub_status=f.get("SubStatus"),
            auth_package=clean(f.get("AuthenticationPackageName")),
            workstation=clean(f.get("WorkstationName")),
        )
        self._count(state, event, n, first, user)

    def _count(self, state: AlertState, event: WindowsEvent, n: int, first: WindowsEvent | None, user: str) -> None:
        """The ``n`` failures of a run that crossed a window, ``first`` and ``event`` among them, into the alert."""
        _note(state, "users", user)
        if first is not None and first is not event:
            state.add(first, first.ts)
            n -= 1
        state.add(event, event.ts, max(n, 1))

    def _continue(self, state: AlertState, event: WindowsEvent, user: str) -> None:
        state.add(event, event.ts)
        _note(state, "users", user)
        state.details["sub_status"] = event.fields.get("SubStatus")


# -- password-spray -----------------------------------------------------------------------------------------------


@dataclass
class PasswordSprayRule(RuleBase):
    """Many distinct accounts from one source within the window: failures (4625) or explicit credentials (4648)."""

    rule: ClassVar[str] = "password-spray"
    event_ids: ClassVar[frozenset[int]] = frozenset({4625, 4648})

    def __post_init__(self) -> None:
        s = self.ctx.settings.password_spray
        self.quiet_period = s.quiet_period
        self._threshold = s.accounts
        self._window = s.window
        self._sources: Bounded[str, OrderedDict[str, float]] = Bounded(self.ctx.settings.max_tracked)

    def on_event(self, event: WindowsEvent) -> bool:
        if event.channel.lower() != SECURITY:
            return False
        f = event.fields
        user = (f.get("TargetUserName") or "").strip().lower()
        if event.event_id == 4648:
            subject = (f.get("SubjectUserName") or "").strip()
            if not subject or subject.endswith("$") or subject.lower() == user:
                return False
            source, via = subject, "explicit-credentials"
        else:
            found = source_of(event)
            if found is None:
                return False
            source, via = found, "failures"
        if not user or user in _SERVICE_ACCOUNTS:
            return False
        key = f"{event.computer}|{via}|{source}"
        accounts = self._sources.setdefault(key, OrderedDict)
        ts = event.ts
        while accounts and ts - next(iter(accounts.values())) > self._window:
            accounts.popitem(last=False)
        accounts[user] = ts
        accounts.move_to_end(user)
        if len(accounts) > 10_000:
            accounts.popitem(last=False)
        state = self.ctx.book.get(self.rule, key)
        if state is not None and _ongoing(state, ts, self.quiet_period):
            state.add(event, ts)
            state.details["accounts"] = max(state.details.get("accounts", 0), len(accounts))
            _note(state, "users", user)
            return True
        if len(accounts) < self._threshold:
            return False
        state, _ = self.ctx.book.open(
            self.rule,
            key,
            ts,
            severity=Severity.HIGH,
            quiet_period=self.quiet_period,
            src_ip=source_ip(source) if via == "failures" else None,
            dst_ip=source_ip(f.get("IpAddress")) if via == "explicit-credentials" else None,
        )
        state.details.update(computer=event.computer, source=source, via=via, accounts=len(accounts))
        if via == "explicit-credentials":
            state.details["target_server"] = clean(f.get("TargetServerName"))
        for name in accounts:
            _note(state, "users", name)
        state.first_seen = min(accounts.values())
        state.add(event, ts, len(accounts))
        return True


# -- logon-after-failures -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Failures:
    times: array[float] = field(default_factory=lambda: array("d"))  # the last min_failures failure times
    total: int = 0
    since: float = 0.0


@dataclass
class LogonAfterFailuresRule(RuleBase):
    """A 4624 whose source, or whose account, had ``min_failures`` failures (4625) within the window before it."""

    rule: ClassVar[str] = "logon-after-failures"
    event_ids: ClassVar[frozenset[int]] = frozenset({4624, 4625})

    def __post_init__(self) -> None:
        super().__post_init__()
        s = self.ctx.settings.logon_after_failures
        self._n = s.min_failures
        self._window = s.window
        cap = self.ctx.settings.max_tracked
        self._by_source: Bounded[tuple[str, str], _Failures] = Bounded(cap)
        self._by_account: Bounded[tuple[str, str], _Failures] = Bounded(cap)

    def _new(self) -> _Failures:
        return _Failures()

    def _failed(self, failures: _Failures, ts: float) -> None:
        times = failures.times
        if times and ts - times[-1] > self._window:
            del times[:]
            failures.total = 0
        if not failures.total:
            failures.since = ts
        times.append(ts)
        if len(times) > self._n:
            del times[0]
        failures.total += 1

    def _recent(self, failures: _Failures, ts: float) -> bool:
        return len(failures.times) >= self._n and ts - failures.times[0] <= self._window

    def on_event(self, event: WindowsEvent) -> bool:
        if event.channel.lower() != SECURITY:
            return False
        computer = event.computer
        user = (event.fields.get("TargetUserName") or "").strip().lower()
        source = source_of(event)
        if event.event_id == 4625:
            if source is not None:
                self._failed(self._by_source.setdefault((computer, source), self._new), event.ts)
            self._failed(self._by_account.setdefault((computer, user), self._new), event.ts)
            return False
        if logon_type(event) not in _INTERACTIVE_TYPES or user in _SERVICE_ACCOUNTS or user.endswith("$"):
            return False
        matched, failures = "source", self._by_source.get((computer, source)) if source is not None else None
        if failures is None or not self._recent(failures, event.ts):
            matched, failures = "account", self._by_account.get((computer, user))
            if failures is None or not self._recent(failures, event.ts):
                return False
        state, _ = self.ctx.book.open(
            self.rule,
            f"{computer}|{user}|{source or '-'}",
            event.ts,
            severity=Severity.CRITICAL,
            quiet_period=self.quiet_period,
            src_ip=_ip_or_none(source),
        )
        state.details.update(
            computer=computer,
            source=source,
            target_user=account_of(event),
            logon_type=logon_type(event),
            matched_by=matched,
            failures=failures.total,
            failures_since=failures.since,
            auth_package=clean(event.fields.get("AuthenticationPackageName")),
        )
        state.add(event, event.ts)
        return True


# -- admin-ntlm-logon -----------------------------------------------------------------------------------------------


@dataclass
class AdminNtlmLogonRule(RuleBase):
    """The built-in Administrator (name or RID 500) logging on over NTLM as a local account (no domain)."""

    rule: ClassVar[str] = "admin-ntlm-logon"
    event_ids: ClassVar[frozenset[int]] = frozenset({4624, 4625})

    def on_event(self, event: WindowsEvent) -> bool:
        if event.channel.lower() != SECURITY:
            return False
        f = event.fields
        user = (f.get("TargetUserName") or "").strip()
        if user.lower() != "administrator" and not (f.get("TargetUserSid") or "").endswith("-500"):
            return False
        package = (f.get("AuthenticationPackageName") or "").strip().upper()
        if package != "NTLM" and (f.get("LogonProcessName") or "").strip().lower() != "ntlmssp":
            return False
        kind = logon_type(event)
        if kind in (0, 4, 5):
            return False
        domain = clean(f.get("TargetDomainName"))
        if domain is not None and domain != "." and domain.upper() not in (short_name(event.computer), "WORKGROUP"):
            return False
        source = source_of(event)
        success = event.event_id == 4624
        key = f"{event.computer}|{source or '-'}"
        state = self.ctx.book.get(self.rule, key)
        if state is None or not _ongoing(state, event.ts, self.quiet_period):
            state, _ = self.ctx.book.open(
                self.rule,
                key,
                event.ts,
                severity=Severity.HIGH if success else Severity.LOW,
                quiet_period=self.quiet_period,
                src_ip=_ip_or_none(source),
            )
            state.details.update(computer=event.computer, source=source, target_user=user, successes=0, failures=0)
        d = state.details
        counter = "successes" if success else "failures"
        d[counter] = d.get(counter, 0) + 1
        d["logon_type"] = kind
        if success and state.severity < Severity.HIGH:
            state.severity = Severity.HIGH  # the guessing worked
        state.add(event, event.ts)
        return True


# -- account-lockout ------------------------------------------------------------------------------------------------


@dataclass
class AccountLockoutRule(RuleBase):
    """4740: an account was locked out after too many failed logons. A spray locks out many accounts at once: one
    alert per computer and caller computer (where the failures came from) for a burst, the accounts in
    ``accounts``."""

    rule: ClassVar[str] = "account-lockout"
    event_ids: ClassVar[frozenset[int]] = frozenset({4740})

    def on_event(self, event: WindowsEvent) -> bool:
        if event.channel.lower() != SECURITY:
            return False
        user = (event.fields.get("TargetUserName") or "").strip()
        caller = clean(event.fields.get("TargetDomainName"))
        state, _ = self.ctx.book.open(
            self.rule,
            f"{event.computer}|{(caller or '-').lower()}",
            event.ts,
            severity=Severity.MEDIUM,
            quiet_period=self.quiet_period,
        )
        d = state.details
        d.setdefault("computer", event.computer)
        d.setdefault("target_user", user)
        d.setdefault("caller_computer", caller)
        note_listed(d, "accounts", user, _MAX_LISTED)
        state.add(event, event.ts)
        return True
