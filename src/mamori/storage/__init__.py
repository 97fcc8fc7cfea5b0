"""Storage: a Django app (models, migrations) used through :class:`Store`. Django is imported only when a store
is opened, never by capture or detection."""

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
