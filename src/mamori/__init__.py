"""mamori (守り): a security monitor for hospital networks.

The public API is small: the model types and errors. Everything else is reached through the ``mamori`` command.
"""

from mamori.errors import CaptureError, ConfigError, MamoriError, StorageError
from mamori.model import Alert, ArpObservation, ConnectionAttempt, PortResponse, Severity, Site

__all__ = [
    "Alert",
    "ArpObservation",
    "CaptureError",
    "ConfigError",
    "ConnectionAttempt",
    "MamoriError",
    "PortResponse",
    "Severity",
    "Site",
    "StorageError",
]
__version__ = "0.1.0"
