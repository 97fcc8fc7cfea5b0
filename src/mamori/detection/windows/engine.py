"""The engine for Windows events: routes each event to the rules that want its event id, runs the Sigma rules,
keeps the open alerts in an :class:`AlertBook` (same uid/count/samples form as the network alerts), and tells
the readers which event ids to decode at all."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from mamori.config import RemoteMaintenanceSettings
from mamori.config.windows import WindowsSettings, windows_rule_ids
from mamori.detection.book import AlertBook
from mamori.detection.exempt import Exemptions
from mamori.detection.maintenance import RULE as MAINTENANCE_RULE
from mamori.detection.maintenance import MaintenanceTracker, SessionSink, logon_contact
from mamori.detection.windows.common import RuleContext, WindowsRule
from mamori.detection.windows.registry import build_rules
from mamori.detection.windows.sigma_rules import SigmaBase, SigmaCorrelation, SigmaRuleSet
from mamori.detection.windows.timeline import TIMELINE_EVENTS, LogonSummary
from mamori.model import Alert, Clock, Site, SystemClock, WindowsEvent

__all__ = ["SIGMA_RULE", "Clock", "WindowsEngine"]

SIGMA_RULE = "sigma"
Handler = Callable[[WindowsEvent], bool]


class WindowsEngine:
    """Feed it Windows events (in time order per file, as they come); collect the alerts that changed.

    Windows are measured on the events' own times, so a file is judged as the live log was. The clock only
    expires alerts when nothing arrives (``tick``).
    """

    def __init__(
        self,
        settings: WindowsSettings,
        *,
        sigma: SigmaRuleSet | None = None,
        rules: Sequence[str] | None = None,
        clock: Clock | None = None,
        new_uid: Callable[[], str] | None = None,
        timeline: bool = False,
        logons: LogonSummary | None = None,
        exempt: Exemptions | None = None,
        site: Site | None = None,
        maintenance: RemoteMaintenanceSettings | None = None,
        sessions: SessionSink | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.book = AlertBook(settings.max_open_alerts, new_uid=new_uid)
        self.context = RuleContext(settings, self.book, exempt=exempt if exempt is not None else Exemptions())
        names = (
            list(rules) if rules is not None else [r for r in windows_rule_ids() if r not in settings.disabled_rules]
        )
        self.rules: list[WindowsRule] = build_rules(names, self.context)
        self.sigma = sigma or SigmaRuleSet()
        self.logons = logons
        self.timeline = timeline
        self._dispatch: dict[int, list[tuple[str, Handler]]] = {}
        for rule in self.rules:
            for event_id in rule.event_ids:
                self._dispatch.setdefault(event_id, []).append((rule.rule, rule.on_event))
        self._sigma_by_id: dict[int, list[SigmaBase]] = {}
        self._sigma_any: list[SigmaBase] = []
        for base in self.sigma.bases:
            if base.event_ids is None:
                self._sigma_any.append(base)
            else:
                for event_id in base.event_ids:
                    self._sigma_by_id.setdefault(event_id, []).append(base)
        # Remote logons from a vendor's addresses or with its accounts: remote-maintenance sessions (its tracker).
        self.maintenance: MaintenanceTracker | None = None
        self._maintenance_ids: frozenset[int] = frozenset()
        maintenance = maintenance or RemoteMaintenanceSettings()
        if site is not None and site.vendors and maintenance.enabled:
            tracker = self.maintenance = MaintenanceTracker(site, maintenance, self.book, sessions)

            def on_logon(event: WindowsEvent) -> bool:
                found = logon_contact(event)
                return found is not None and tracker.on_logon(event, *found)

            self._maintenance_ids = frozenset((4624, 1149))
            for event_id in self._maintenance_ids:
                self._dispatch.setdefault(event_id, []).append((MAINTENANCE_RULE, on_logon))
        self._quiet = {rule.rule: rule.quiet_period for rule in self.rules}
        if self.maintenance is not None:
            self._quiet[MAINTENANCE_RULE] = maintenance.idle
        self._quiet[SIGMA_RULE] = settings.quiet_period
        self.events = 0
        self.last_ts: float | None = None

    def wanted_event_ids(self) -> frozenset[int] | None:
        """The event ids worth decoding: those of the rules, the Sigma rules, the timeline and the logon summary.
        None when some Sigma rule can match any event id."""
        sigma_ids = self.sigma.event_ids()
        if sigma_ids is None:
            return None
        ids = set(self._dispatch) | set(sigma_ids)
        if self.timeline:
            ids |= {event_id for _, event_id in TIMELINE_EVENTS}
        if self.logons is not None:
            ids |= LogonSummary.EVENT_IDS
        return frozenset(ids)

    def handover_filter(self) -> Callable[[WindowsEvent], bool] | None:
        """Which decoded events a reader may drop rather than hand over (False: drop), or None to keep them all.

        An event can be dropped when nothing but built-in rules wants its event id (no Sigma rule, not the timeline
        or the logon summary) and each of those rules says, from the event alone, that it could not alert on it
        (``could_alert``; the attack-tool rule: no tool named). Sysmon process creations naming no tool then never
        leave the .evtx workers. The rule still judges every event it is handed."""
        checks: dict[int, tuple[Callable[[WindowsEvent], bool], ...]] = {}
        timeline_ids = {event_id for _, event_id in TIMELINE_EVENTS} if self.timeline else set()
        summary_ids = LogonSummary.EVENT_IDS if self.logons is not None else frozenset()
        for event_id in self._dispatch:
            if event_id in self._maintenance_ids:
                continue  # every remote logon may belong to a vendor's session
            if self._sigma_any or event_id in self._sigma_by_id or event_id in timeline_ids or event_id in summary_ids:
                continue
            rules = [rule for rule in self.rules if event_id in rule.event_ids]
            tests = [getattr(rule, "could_alert", None) for rule in rules]
            if rules and all(test is not None for test in tests):
                checks[event_id] = tuple(t for t in tests if t is not None)
        if not checks:
            return None

        def keep(event: WindowsEvent) -> bool:
            tests = checks.get(event.event_id)
            return tests is None or any(test(event) for test in tests)

        return keep

    def process(self, event: WindowsEvent) -> tuple[str, ...]:
        """Run one event through the rules; the names of the rules whose alerts it went into."""
        hits: tuple[str, ...] = ()
        handlers = self._dispatch.get(event.event_id)
        if handlers:
            for name, handler in handlers:
                if handler(event):
                    hits += (name,)
        bases = self._sigma_by_id.get(event.event_id)
        if bases or self._sigma_any:
            for base in (bases or []) + self._sigma_any:
                if base.matches(event) and self._sigma_hit(base, event):
                    hits += (SIGMA_RULE,)
        if self.logons is not None:
            self.logons.add(event)
        return hits

    def feed(
        self, batch: Iterable[WindowsEvent], keep: list[tuple[WindowsEvent, tuple[str, ...]]] | None = None
    ) -> None:
        """Process a batch; with ``keep``, append the timeline's events (known kinds, or behind an alert) to it."""
        process = self.process
        n = 0
        event = None
        for event in batch:
            n += 1
            hits = process(event)
            if keep is not None and (hits or (event.channel.lower(), event.event_id) in TIMELINE_EVENTS):
                keep.append((event, hits))
        if event is not None:
            self.events += n
            self.last_ts = event.ts

    def _sigma_hit(self, base: SigmaBase, event: WindowsEvent) -> bool:
        hit = False
        if base.generate:
            self._sigma_alert(base.ref, base.title, base.file, base.severity, (event.computer,), event, None)
            hit = True
        for correlation in base.correlations:
            group = correlation.feed(base.ref, event)
            if group is not None:
                self._sigma_alert(
                    correlation.ref,
                    correlation.title,
                    correlation.file,
                    correlation.severity,
                    group,
                    event,
                    correlation,
                )
                hit = True
        return hit

    def _sigma_alert(
        self,
        ref: str,
        title: str,
        file: str,
        severity: object,
        group: tuple[str, ...],
        event: WindowsEvent,
        correlation: SigmaCorrelation | None,
    ) -> None:
        state, created = self.book.open(
            SIGMA_RULE,
            f"{ref}|{'|'.join(group)}",
            event.ts,
            severity=severity,  # type: ignore[arg-type]
            quiet_period=self.settings.quiet_period,
        )
        if created:
            state.details.update(computer=event.computer, sigma_id=ref, sigma_title=title, sigma_file=file)
            if correlation is not None:
                state.details.update(correlation=correlation.kind, group=list(group))
                state.add(event, event.ts, correlation.threshold)
                return
        state.add(event, event.ts)

    def tick(self, now: float | None = None) -> None:
        """Expire quiet episodes (a live collector calls this about once a second)."""
        self.book.expire(self.clock.now() if now is None else now, self._quiet)

    def collect_changes(self) -> list[Alert]:
        if self.maintenance is not None:
            self.maintenance.flush()
        return self.book.collect_changes()

    def finish(self) -> None:
        """The input ended: the sessions still open are recorded as they stand."""
        if self.maintenance is not None:
            self.maintenance.finish()
