"""Integration tests run the installed `mamori` command, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MAMORI = str(Path(sys.executable).with_name("mamori"))


def run_mamori(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([MAMORI, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"mamori {' '.join(args)} exited {result.returncode}\n{result.stderr}\n{result.stdout}")
    return result


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def site_file(tmp_path: Path):
    def write(text: str, name: str = "site.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium through Playwright, one per test module (tests/integration/browser.py)."""
    from tests.integration.browser import chromium

    with chromium() as running:
        yield running
