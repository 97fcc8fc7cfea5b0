"""Blocking in the sensor: the block manager wired to the store, the dispatcher and the block actions, and each
block or release turned into a ``device-blocked`` alert (for the dashboard, Zabbix, the reports), an entry of the
audit log, and a delivery on the alert that caused it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence

from mamori.alerting import Action, Dispatcher
from mamori.alerting.block_actions import attach_blocking
from mamori.blocking import BlockEvent, BlockManager, MemoryBook, reason_text
from mamori.config import ArpIsolateAction, Settings, SnmpPortAction
from mamori.model import Alert, Clock, Delivery, Severity, Site
from mamori.rules.blocking import METHODS, RELEASED_BY, DeviceBlockedDetails
from mamori.storage import SENSOR, AlertWriter, AuditLog, BlockTable, Store

__all__ = ["block_alert", "block_audit", "build_block_manager"]

log = logging.getLogger(__name__)

_SEVERITY = {
    "blocked": Severity.MEDIUM,
    "failed": Severity.MEDIUM,
    "dry-run": Severity.LOW,
    "release-failed": Severity.HIGH,
}


def block_alert(event: BlockEvent, now: float) -> Alert | None:
    """The ``device-blocked`` alert that reports ``event`` (None for a refusal: nothing was done)."""
    r = event.record
    if event.event == "refused":
        return None
    severity = _SEVERITY.get(event.event) or (Severity.LOW if r.restore.get("dry_run") else Severity.MEDIUM)
    return Alert(
        uid=hashlib.sha256(f"block:{r.id}".encode()).hexdigest()[:32],
        rule="device-blocked",
        key=f"block|{r.id}",
        severity=severity,
        first_seen=r.created_at,
        last_seen=now,
        count=2 if r.state == "released" else 1,
        src_mac=r.mac or None,
        src_ip=r.ip,
        details=DeviceBlockedDetails(
            block_id=r.id,
            method=r.method,
            state=r.state,
            place=r.place,
            port_name=r.port_name,
            port_descr=r.port_descr,
            blocked_for=r.alert_uid,
            blocked_rule=r.rule,
            action=r.action,
            release_at=r.release_at,
            released_by=r.released_by,
            detail=r.detail,
        ),
    )


def _isolated(text: str) -> str:
    """``text`` between Unicode's first-strong isolate and its end (FSI ... PDI): a right-to-left override in a
    port's description (hostile text) then ends with it instead of turning the rest of the line round."""
    return f"\u2068{text}\u2069" if text else ""


def block_audit(event: BlockEvent) -> tuple[str, str, str, str]:
    """The audit log's entry for ``event``: (user, action, target, detail). The action is ``block.<event>``
    (the audit page words it in the reader's language); the detail names the place and the port as the switch
    gives them (hostile text: every output escapes it), then the reason or who released it, in Japanese and
    English ("日本語 / English", as mamori's own error messages), since the entry is written once for every reader."""
    r = event.record
    method = METHODS.get(r.method)
    parts = [f"{method.ja} / {method.en}" if method else r.method, _isolated(r.place), _isolated(r.port_descr)]
    if r.reason:
        parts.append(f"{reason_text(r.reason, 'ja')} / {reason_text(r.reason, 'en')}")
    if event.event == "released":
        by = RELEASED_BY.get(r.released_by)
        parts.append(f"{by.ja} / {by.en}" if by else f"解除を依頼した人 / requested by: {r.released_by}")
    if r.detail:
        parts.append(_isolated(r.detail))
    target = f"{r.mac} {r.ip or ''}".strip()
    return SENSOR, f"block.{event.event}", target, " · ".join(p for p in parts if p)


def _audited(event: BlockEvent, failing: dict[str, str]) -> bool:
    """Whether ``event`` goes in the audit log: not an alert the site does not block for (every alert reaches the
    block actions: that refusal is only a failed delivery on the alert), nor the same release failure again."""
    if event.event == "refused" and event.record.reason == "not-allowed":
        return False
    return not (event.event == "release-failed" and failing.get(event.record.id) == event.record.detail)


def build_block_manager(
    settings: Settings,
    site: Site,
    actions: Sequence[Action],
    *,
    store: Store | None,
    writer: AlertWriter | None,
    dispatcher: Callable[[], Dispatcher | None],
    record: Callable[[list[Delivery]], None],
    clock: Clock,
) -> BlockManager | None:
    """The manager for the enabled block actions (None when there are none), attached to them."""
    if not any(isinstance(a, SnmpPortAction | ArpIsolateAction) and a.enabled for a in settings.actions):
        return None

    audit = AuditLog(store) if store is not None else None
    failing: dict[str, str] = {}  # block id -> the release failure last written (retried every few seconds)

    def on_event(event: BlockEvent) -> None:
        now = clock.now()
        r = event.record
        alert = block_alert(event, now)
        if alert is not None:
            if writer is not None:
                writer.submit([alert])
            target = dispatcher()
            if target is not None:
                target.submit([alert])
        if event.event in ("released", "release-failed"):
            ok = event.event == "released"
            detail = f"released by {r.released_by}" if ok else r.detail
            record([Delivery(r.alert_uid, r.action, r.method, "release", 1, now, ok, ok, detail[:4000], 0)])
        # Last, so that a failing audit write (logged by the manager) cannot hold the alert back.
        if audit is not None and _audited(event, failing):
            audit.write(*block_audit(event))
        if event.event == "release-failed":
            failing[r.id] = r.detail
        else:
            failing.pop(r.id, None)

    book = BlockTable(store) if store is not None else MemoryBook()
    manager = BlockManager(site, book, clock=clock, on_event=on_event)
    count = attach_blocking(list(actions), manager)
    log.info("blocking: %d action(s); dry run: %s", count, "yes" if site.blocking.dry_run else "no")
    return manager
