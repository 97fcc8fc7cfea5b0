"""Storage: a Django app (models, migrations) used through :class:`Store`. Django is imported only when a store
is opened, never by capture or detection."""

from mamori.storage.assets import Answer, AnswerTable, Asset, AssetTable, Comparison
from mamori.storage.ledger import ImportResult, Ledger, LedgerEntry, active_terminals_in
from mamori.storage.paths import KnownPathTable
from mamori.storage.setup import check_database_path
from mamori.storage.store import AlertFilter, AlertWriter, SensorHealth, Store, record_to_alert

__all__ = [
    "AlertFilter",
    "AlertWriter",
    "Answer",
    "AnswerTable",
    "Asset",
    "AssetTable",
    "Comparison",
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
