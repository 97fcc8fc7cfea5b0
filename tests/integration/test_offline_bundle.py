"""The offline bundle: built here with the registries (packaging/build-bundle.sh), installed by its own install.sh
inside a network namespace that has no interface but lo, and `mamori demo --no-web` run there. The systemd units
are checked by `systemd-analyze verify` (it works in a container without a running systemd).

The wheels pip downloads are cached for the test run (pytest's cache folder), so a second build in the same run
reuses them; the first build took about 95 s on the 2-CPU CI machine, the offline install and demo about 60 s."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.netns, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
NS = "i17-deploy-off"

if os.geteuid() != 0 or shutil.which("ip") is None:  # pragma: no cover - CI runs as root
    pytest.skip("needs root and ip", allow_module_level=True)


def test_units_verify() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing (Debian package systemd; scripts/test.sh installs it)")
    units = sorted((REPO / "packaging" / "systemd").glob("mamori-*.*"))
    units = [u for u in units if u.suffix in (".service", ".timer")]
    mamori = shutil.which("mamori") or str(Path(os.sys.executable).with_name("mamori"))
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "i17-deploy-units"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    for unit in units:  # ExecStart must name an existing program: point it at this test's mamori
        (work / unit.name).write_text(unit.read_text().replace("/opt/mamori/bin/mamori", mamori))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, sorted(work.iterdir()))],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    sensor = (REPO / "packaging/systemd/mamori-sensor.service").read_text()
    web = (REPO / "packaging/systemd/mamori-web.service").read_text()
    assert "AmbientCapabilities=CAP_NET_RAW\n" in sensor and "CapabilityBoundingSet=CAP_NET_RAW\n" in sensor
    assert "AmbientCapabilities=\n" in web and "CapabilityBoundingSet=\n" in web
    for text in (sensor, web):
        for line in ("User=mamori", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                     "ReadWritePaths=/var/lib/mamori", "StandardOutput=journal"):  # fmt: skip
            assert line in text


def test_bundle_installs_and_runs_the_demo_without_network(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    cache = request.config.cache.mkdir("i17-deploy-wheels") if request.config.cache else tmp_path / "cache"
    out = tmp_path / "dist"
    subprocess.run(["bash", str(REPO / "packaging/build-bundle.sh"), "--output", str(out), "--wheel-cache",
                    str(cache)], check=True, timeout=900)  # fmt: skip
    (bundle,) = out.glob("mamori-*.tar.gz")
    for wheel in (tmp_path / "x").glob("*/wheels/*.whl"):
        shutil.copy(wheel, cache)
    with tarfile.open(bundle) as tar:
        tar.extractall(tmp_path / "x", filter="tar")
    (root,) = (tmp_path / "x").iterdir()
    for wheel in (root / "wheels").glob("*.whl"):
        shutil.copy(wheel, cache)  # the next build in this run reuses them
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
        links = subprocess.run(["ip", "-n", NS, "-o", "link"], capture_output=True, text=True, check=True).stdout
        assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
        install = ["ip", "netns", "exec", NS, "bash", str(root / "install.sh"), "--prefix", str(tmp_path / "venv"),
                   "--units-dir", str(tmp_path / "units"), "--config-dir", str(tmp_path / "etc"),
                   "--data-dir", str(tmp_path / "data"), "--no-start"]  # fmt: skip
        result = subprocess.run(install, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (tmp_path / "units" / "mamori-sensor.service").exists()
        mamori = str(tmp_path / "venv/bin/mamori")
        demo_cmd = ["ip", "netns", "exec", NS, mamori, "demo", "--no-web", "--dir", str(tmp_path / "demo")]
        demo = subprocess.run(demo_cmd, capture_output=True, text=True, timeout=600)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "unregistered-terminal" in demo.stdout or "未登録" in demo.stdout
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
