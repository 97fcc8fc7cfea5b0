"""Storage: a Django app (models, migrations) used through :class:`Store`. Django is imported only when a store
is opened, never by capture or detection. The names below are loaded on first use (PEP 562), so that a command that
only reads the terminal ledger (``analyze --no-store``) does not import every table module at start-up."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mamori.storage.assets import Answer, AnswerTable, Asset, AssetTable, Comparison
    from mamori.storage.audit import SENSOR, AuditLog
    from mamori.storage.backups import BACKUP_RULES, BackupPosture, BackupTable
    from mamori.storage.blocks import BlockTable
    from mamori.storage.exposure import ExposureTable
    from mamori.storage.flows import FlowTable
    from mamori.storage.incidents import IncidentRow, refresh_incidents
    from mamori.storage.ledger import ImportResult, Ledger, LedgerEntry, active_terminals_in
    from mamori.storage.maintenance import SessionTable, StoredPlan, WorkPlanTable
    from mamori.storage.paths import KnownPathTable
    from mamori.storage.setup import check_database_path
    from mamori.storage.store import AlertFilter, Store, record_to_alert
    from mamori.storage.writer import AlertStore, AlertWriter, SensorHealth

_WHERE = {
    "AlertFilter": "store",
    "AlertStore": "writer",
    "AlertWriter": "writer",
    "Answer": "assets",
    "AnswerTable": "assets",
    "Asset": "assets",
    "AssetTable": "assets",
    "AuditLog": "audit",
    "BACKUP_RULES": "backups",
    "BackupPosture": "backups",
    "BackupTable": "backups",
    "BlockTable": "blocks",
    "Comparison": "assets",
    "ExposureTable": "exposure",
    "FlowTable": "flows",
    "ImportResult": "ledger",
    "IncidentRow": "incidents",
    "KnownPathTable": "paths",
    "Ledger": "ledger",
    "LedgerEntry": "ledger",
    "SENSOR": "audit",
    "SensorHealth": "writer",
    "SessionTable": "maintenance",
    "Store": "store",
    "StoredPlan": "maintenance",
    "WorkPlanTable": "maintenance",
    "active_terminals_in": "ledger",
    "check_database_path": "setup",
    "record_to_alert": "store",
    "refresh_incidents": "incidents",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mamori.storage' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mamori.storage.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BACKUP_RULES",
    "SENSOR",
    "AlertFilter",
    "AlertStore",
    "AlertWriter",
    "Answer",
    "AnswerTable",
    "Asset",
    "AssetTable",
    "AuditLog",
    "BackupPosture",
    "BackupTable",
    "BlockTable",
    "Comparison",
    "ExposureTable",
    "FlowTable",
    "ImportResult",
    "IncidentRow",
    "KnownPathTable",
    "Ledger",
    "LedgerEntry",
    "SensorHealth",
    "SessionTable",
    "Store",
    "StoredPlan",
    "WorkPlanTable",
    "active_terminals_in",
    "check_database_path",
    "record_to_alert",
    "refresh_incidents",
]
