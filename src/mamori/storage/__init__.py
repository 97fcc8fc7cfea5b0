"""Storage: a Django app (models, migrations) used through :class:`Store`. Django is imported only when a store
is opened, never by capture or detection."""

from mamori.storage.ledger import ImportResult, Ledger, LedgerEntry, active_terminals_in
from mamori.storage.store import AlertFilter, AlertWriter, SensorHealth, Store

__all__ = [
    "AlertFilter",
    "AlertWriter",
    "ImportResult",
    "Ledger",
    "LedgerEntry",
    "SensorHealth",
    "Store",
    "active_terminals_in",
]
