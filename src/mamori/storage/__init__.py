"""Storage: a Django app (models, migrations) used through :class:`Store`. Django is imported only when a store
is opened, never by capture or detection."""

from mamori.storage.backups import BACKUP_RULES, BackupPosture, BackupTable
from mamori.storage.ledger import ImportResult, Ledger, LedgerEntry, active_terminals_in
from mamori.storage.paths import KnownPathTable
from mamori.storage.setup import check_database_path
from mamori.storage.store import AlertFilter, AlertWriter, SensorHealth, Store, record_to_alert

__all__ = [
    "BACKUP_RULES",
    "AlertFilter",
    "AlertWriter",
    "BackupPosture",
    "BackupTable",
    "ImportResult",
    "KnownPathTable",
    "Ledger",
    "LedgerEntry",
    "SensorHealth",
    "Store",
    "active_terminals_in",
    "check_database_path",
    "record_to_alert",
]
