"""The systemd timer and service that run `mamori scan` on a schedule (scripts/systemd/, shown in the README) are
valid units: `systemd-analyze verify` on them, with ExecStart pointing at this installation's mamori."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "scripts" / "systemd"


def test_scan_timer_and_service_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("systemd-analyze is missing (apt install systemd)")
        pytest.skip("systemd-analyze is not installed")
    mamori = str(Path(sys.executable).with_name("mamori"))
    service = (UNITS / "mamori-scan.service").read_text(encoding="utf-8")
    assert "ExecStart=/opt/mamori/.venv/bin/mamori scan --config /etc/mamori/mamori.yaml" in service
    (tmp_path / "mamori-scan.service").write_text(service.replace("/opt/mamori/.venv/bin/mamori", mamori))
    shutil.copy(UNITS / "mamori-scan.timer", tmp_path / "mamori-scan.timer")
    result = subprocess.run(
        [tool, "verify", str(tmp_path / "mamori-scan.service"), str(tmp_path / "mamori-scan.timer")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
