"""Vendor names of MAC addresses, from the IEEE registries that Debian's ``ieee-data`` package installs.

/usr/share/ieee-data/oui.csv (MA-L, 24-bit prefixes), mam.csv (MA-M, 28-bit), oui36.csv (MA-S, 36-bit) and
iab.csv (IAB, 36-bit) have the columns Registry, Assignment, Organization Name, Organization Address. They are read
once, on the first lookup, into one dict from hex prefix to organisation; the longest prefix wins. Display code
only: capture and detection never look vendors up.
"""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path

__all__ = ["IEEE_DATA_DIR", "LOCALLY_ADMINISTERED", "OuiRegistry", "is_locally_administered"]

IEEE_DATA_DIR = Path("/usr/share/ieee-data")
LOCALLY_ADMINISTERED = "ローカル管理アドレス (locally administered)"
_FILES = ("oui.csv", "mam.csv", "oui36.csv", "iab.csv")
_PREFIX_LENGTHS = (9, 7, 6)  # MA-S/IAB, MA-M, MA-L in hex digits, longest first


def _hex(mac: str) -> str:
    return "".join(c for c in mac.upper() if c in "0123456789ABCDEF")


def is_locally_administered(mac: str) -> bool:
    """The U/L bit of the first octet: 2, 6, A or E as the second hex digit (virtual machines, randomised MACs)."""
    digits = _hex(mac)
    return len(digits) >= 2 and digits[1] in "26AE"


class OuiRegistry:
    """Looks up vendors in the IEEE registry files of ``folder``; loads them lazily, once, thread-safely."""

    def __init__(self, folder: Path = IEEE_DATA_DIR) -> None:
        self.folder = folder
        self._vendors: dict[str, str] | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether the main registry (oui.csv) is installed."""
        return (self.folder / "oui.csv").is_file()

    def _load(self) -> dict[str, str]:
        with self._lock:
            if self._vendors is None:
                vendors: dict[str, str] = {}
                for name in _FILES:
                    _read_registry(self.folder / name, vendors)
                self._vendors = vendors
            return self._vendors

    def __len__(self) -> int:
        return len(self._load())

    def vendor(self, mac: str) -> str:
        """The organisation the MAC's prefix is assigned to; LOCALLY_ADMINISTERED for a locally administered
        address; ``""`` when unknown or when the registry is not installed."""
        if not mac:
            return ""
        if is_locally_administered(mac):
            return LOCALLY_ADMINISTERED
        digits = _hex(mac)
        vendors = self._load()
        for length in _PREFIX_LENGTHS:
            found = vendors.get(digits[:length])
            if found:
                return found
        return ""


def _read_registry(path: Path, into: dict[str, str]) -> None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    reader = csv.reader(io.StringIO(text))
    next(reader, None)  # Registry,Assignment,Organization Name,Organization Address
    for row in reader:
        if len(row) >= 3:
            prefix = _hex(row[1])
            if len(prefix) in _PREFIX_LENGTHS and row[2].strip():
                into[prefix] = " ".join(row[2].split())
