"""Storage: a Django app (models, migrations) used through :class:`Store`. Django is imported only when a store
is opened, never by capture or detection."""

from mamori.storage.blocks import BlockTable
from mamori.storage.exposure import ExposureTable
from mamori.storage.ledger import ImportResult, Ledger, LedgerEntry, active_terminals_in
from mamori.storage.maintenance import SessionTable, StoredPlan, WorkPlanTable
from mamori.storage.paths import KnownPathTable
from mamori.storage.setup import check_database_path
from mamori.storage.store import AlertFilter, AlertWriter, SensorHealth, Store, record_to_alert

__all__ = [
    "AlertFilter",
    "AlertWriter",
    "BlockTable",
    "ExposureTable",
    "ImportResult",
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
]
