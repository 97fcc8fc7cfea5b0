"""MAC vendors from the IEEE registries (Debian's ieee-data).

The registry lines below are copied verbatim from Debian's ieee-data 20220827 (/usr/share/ieee-data/oui.csv,
mam.csv, oui36.csv), the files the module reads; the last test reads the installed files when they are there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.reports import LOCALLY_ADMINISTERED, OuiRegistry
from mamori.reports.oui import IEEE_DATA_DIR, is_locally_administered

HEADER = "Registry,Assignment,Organization Name,Organization Address\n"
FILES = {
    "oui.csv": HEADER
    + "MA-L,002272,American Micro-Fuel Device Corp.,2181 Buchanan Loop Ferndale WA US 98248 \n"
    + "MA-L,00D0EF,IGT,9295 PROTOTYPE DRIVE RENO NV US 89511 \n"
    + "MA-L,70B3D5,IEEE Registration Authority,445 Hoes Lane Piscataway NJ US 08554 \n",
    "mam.csv": HEADER + "MA-M,208593B,IOG Products LLC,9737 LURLINE AVENUE CHATSWORTH CA US 91311 \n",
    "oui36.csv": HEADER + 'MA-S,70B3D5F2F,TELEPLATFORMS,"Polbina st., 3/1 Moscow  RU 109388 "\n',
}


@pytest.fixture
def registry(tmp_path: Path) -> OuiRegistry:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return OuiRegistry(tmp_path)


def test_longest_prefix_wins(registry: OuiRegistry) -> None:
    assert registry.available
    assert registry.vendor("00:d0:ef:12:34:56") == "IGT"
    assert registry.vendor("00-22-72-00-00-01") == "American Micro-Fuel Device Corp."
    assert registry.vendor("20:85:93:b0:00:01") == "IOG Products LLC"  # MA-M, 28 bits
    assert registry.vendor("70:b3:d5:f2:f0:01") == "TELEPLATFORMS"  # MA-S, 36 bits
    assert registry.vendor("70:b3:d5:00:00:01") == "IEEE Registration Authority"  # the MA-L block around it
    assert registry.vendor("00:11:22:33:44:55") == ""
    assert registry.vendor("") == ""
    assert len(registry) == 5


def test_locally_administered_addresses(registry: OuiRegistry) -> None:
    for mac in ("02:10:00:00:02:01", "06:00:00:00:00:01", "0a:00:00:00:00:01", "fe:00:00:00:00:01"):
        assert is_locally_administered(mac)
        assert registry.vendor(mac) == LOCALLY_ADMINISTERED
    assert not is_locally_administered("00:d0:ef:12:34:56")


def test_without_the_package_vendors_are_empty(tmp_path: Path) -> None:
    missing = OuiRegistry(tmp_path / "nowhere")
    assert not missing.available
    assert missing.vendor("00:d0:ef:12:34:56") == ""
    assert missing.vendor("02:10:00:00:02:01") == LOCALLY_ADMINISTERED


@pytest.mark.skipif(not (IEEE_DATA_DIR / "oui.csv").is_file(), reason="Debian's ieee-data is not installed")
def test_the_installed_registry() -> None:
    registry = OuiRegistry()
    assert len(registry) > 30_000
    assert registry.vendor("00:d0:ef:00:00:01") == "IGT"
    assert registry.vendor("b8:27:eb:00:00:01") == "Raspberry Pi Foundation"
