"""Storage: a Django app (models, migrations) used through :class:`Store`. Django is imported only when a store
is opened, never by capture or detection."""

from mamori.storage.ledger import ImportResult, Ledger, LedgerEntry, active_terminals_in
from mamori.storage.paths import KnownPathTable
from mamori.storage.setup import check_database_path
from mamori.storage.store import AlertFilter, Store, record_to_alert
from mamori.storage.writer import AlertStore, AlertWriter, SensorHealth

__all__ = [
    "AlertFilter",
    "AlertStore",
    "AlertWriter",
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
