"""``snmp-port`` and ``arp-isolate``: the response actions that block (遮断) an alert's source.

The action only hands the alert to the sensor's :class:`~mamori.blocking.BlockManager`, which applies the site's
safety rules and keeps the block; the manager is attached by the process that can block (``mamori watch``). Each
attempt is a delivery on the alert: made, recorded in dry run, refused (with the reason), or failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mamori.alerting.base import Notification, Outcome
from mamori.config import ArpIsolateAction as ArpSettings
from mamori.config import SnmpPortAction as SnmpSettings

if TYPE_CHECKING:  # the blocking package is loaded when a block is made, not when the settings are read
    from mamori.blocking import BlockManager, BlockRecord

__all__ = ["ArpIsolateAction", "BlockingAction", "SnmpPortAction", "attach_blocking", "outcome_of"]


def outcome_of(record: BlockRecord) -> Outcome:
    """A block record as the delivery's outcome: made and dry run are successes; refusals are final."""
    where = f" at {record.place}" if record.place else ""
    if record.state == "active":
        return Outcome(True, f"blocked {record.mac}{where} (block {record.id})")
    if record.state == "dry-run":
        return Outcome(True, f"dry run: would block {record.mac}{where} (block {record.id})")
    from mamori.blocking import reason_text

    text = reason_text(record.reason, "en")
    detail = f"{record.state}: {text}" + (f" ({record.detail})" if record.detail else "") + where
    return Outcome(False, detail, retry=record.state == "failed")


class BlockingAction:
    """The part both block actions share: a manager attached later, one block per alert (on its first delivery)."""

    type = ""

    def __init__(self, settings: Any) -> None:
        self.name = settings.name
        self.settings = settings
        self.manager: BlockManager | None = None

    def attach(self, manager: BlockManager) -> None:
        self.manager = manager

    def _block(self, manager: BlockManager, note: Notification) -> BlockRecord:
        raise NotImplementedError

    def deliver(self, note: Notification) -> Outcome:
        if self.manager is None:
            from mamori.blocking import reason_text

            return Outcome(False, reason_text("unavailable", "en"), retry=False)
        if note.event != "new":
            return Outcome(True, "the block was decided on the alert's first notification")
        return outcome_of(self._block(self.manager, note))

    def tick(self, now: float) -> None:
        return None

    def close(self) -> None:
        return None


class SnmpPortAction(BlockingAction):
    type = "snmp-port"

    def __init__(self, settings: SnmpSettings) -> None:
        super().__init__(settings)

    def _block(self, manager: BlockManager, note: Notification) -> BlockRecord:
        return manager.block_port(note.alert, self.settings)


class ArpIsolateAction(BlockingAction):
    type = "arp-isolate"

    def __init__(self, settings: ArpSettings) -> None:
        super().__init__(settings)

    def _block(self, manager: BlockManager, note: Notification) -> BlockRecord:
        return manager.isolate(note.alert, self.settings)


def attach_blocking(actions: list[Any], manager: BlockManager) -> int:
    """Give the block actions among ``actions`` the manager; returns how many there were."""
    count = 0
    for action in actions:
        if isinstance(action, BlockingAction):
            action.attach(manager)
            count += 1
    return count
