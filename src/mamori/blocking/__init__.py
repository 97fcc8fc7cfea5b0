"""Blocking (遮断): switch ports shut over SNMP, ARP isolation from the sensor's port, and the manager that applies
the site's safety rules, keeps the blocks and lifts them (docs/design.md, blocking). No Django here."""

from mamori.blocking.manager import BlockEvent, BlockManager
from mamori.blocking.records import ACTIVE_STATES, REASONS, BlockBook, BlockRecord, MemoryBook, reason_text
from mamori.blocking.safety import Refusal, SiteFacts, refusal

__all__ = [
    "ACTIVE_STATES",
    "REASONS",
    "BlockBook",
    "BlockEvent",
    "BlockManager",
    "BlockRecord",
    "MemoryBook",
    "Refusal",
    "SiteFacts",
    "reason_text",
    "refusal",
]
