"""Shared fixtures: Django configured for stores, where the real captures are, a settings builder, a test site."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mamori.config import Settings, settings_from_text

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def django_for_stores(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests open stores in this process as a command does once it is composed: Django configured once, for the
    store alone (mamori.storage.setup.configure_django; each store still gets its own database)."""
    from mamori.storage.setup import configure_django

    configure_django(tmp_path_factory.mktemp("django") / "default.db")


def shared_data_dir() -> Path:
    """../shared/data beside the repository (CI always has it), or MAMORI_SHARED_DATA."""
    env = os.environ.get("MAMORI_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real captures not available at {path}")
    return path


@pytest.fixture
def lab_pcaps(shared_data: Path) -> Path:
    """Captures made with real nmap/hping3 against a server (see shared/data/pcap/lab/SOURCE.md)."""
    return shared_data / "pcap" / "lab"


# The lab captures' addresses: attacker 10.231.0.1 (02:00:00:00:0a:01), server 10.231.0.2 (02:00:00:00:0b:01)
# listening on TCP 80 and 6000.
LAB_SITE = """
systems:
  - name: 透析システム
    servers: [{ip: 10.231.0.2, mac: "02:00:00:00:0b:01"}]
    ports: [6000]
    terminals:
      - {name: dialysis-pc-1, mac: "02:00:00:00:0c:01", ip: 10.231.0.3}
"""


def make_settings(text: str, tmp_path: Path | None = None) -> Settings:
    return settings_from_text(textwrap.dedent(text), source="test.yaml", data_dir=tmp_path or Path("."))


@pytest.fixture
def lab_settings(tmp_path: Path) -> Settings:
    return make_settings(LAB_SITE, tmp_path)


# -- under CI nothing is skipped ------------------------------------------------------------------------------------
# CI installs every tool, package and data set the tests need (scripts/test.sh), so there a skipped test is a missing
# part, and the run fails. A skip whose reason starts with "n/a:" is one that cannot apply on this machine (a
# Python version's other branch) and stays a skip.


def _ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _not_applicable(report: pytest.TestReport | pytest.CollectReport) -> bool:
    reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return "n/a:" in str(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if _ci() and report.skipped and not hasattr(report, "wasxfail") and not _not_applicable(report):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a tool, package or data set is missing): {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    outcome = yield
    report = outcome.get_result()
    if _ci() and report.skipped and not _not_applicable(report):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a tool, package or data set is missing): {report.longrepr}"
