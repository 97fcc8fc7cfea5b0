"""The units' command lines run as the unprivileged service user with the units' capabilities: the sensor captures
real SYNs on a veth in a namespace made here with CAP_NET_RAW alone (and fails without it), and the dashboard
serves with no capability at all. setpriv gives exactly what the units give (ambient and bounding sets)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.netns]

if os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("ip") is None:  # pragma: no cover
    pytest.skip("needs root, setpriv and ip", allow_module_level=True)

SRV, CLI = "i17p-srv", "i17p-cli"
REPO = Path(__file__).resolve().parents[2]
# The test's mamori for a user who cannot enter /root (where this interpreter may live): Debian's python3 with
# this environment's packages and the source tree on its path (same CPython minor version, same ABI).
SITE = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
LAUNCH = ["/usr/bin/python3", "-c", "import sys; from mamori.cli.main import main; sys.argv[0] = 'mamori'; main()"]


def _user() -> None:
    if subprocess.run(["getent", "passwd", "mamori"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "mamori"], check=True)  # fmt: skip


def _as_mamori(caps: str, *args: str, netns: str | None = None, env: dict[str, str]) -> list[str]:
    priv = ["setpriv", "--reuid", "mamori", "--regid", "mamori", "--init-groups", "--no-new-privs"]
    if caps:
        priv += [f"--inh-caps=+{caps}", f"--ambient-caps=+{caps}", f"--bounding-set=-all,+{caps}"]
    else:
        priv += ["--inh-caps=-all", "--bounding-set=-all"]
    prefix = ["ip", "netns", "exec", netns] if netns else []
    assignments = [f"{k}={v}" for k, v in env.items()]
    return [*prefix, *priv, "env", *assignments, *LAUNCH, *args]


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path("/tmp/i17-deploy-priv")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)  # noqa: S103 - the service user must enter it (pytest's tmp folders are 0700)
    # The service user must reach this checkout's source and packages: a clone made in a `mktemp -d` folder, or under
    # /root, sits below a folder only root may enter. Let others pass through (enter, not list) those folders for the
    # test, as an installation under /opt or /usr/lib would allow, and put them back afterwards.
    opened: list[tuple[Path, int]] = []
    for place in (REPO, SITE):
        for parent in (place, *place.parents):
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH and all(parent != p for p, _ in opened):
                opened.append((parent, mode))
                os.chmod(parent, stat.S_IMODE(mode) | stat.S_IXOTH)
    try:
        yield path
    finally:
        for parent, mode in opened:
            os.chmod(parent, stat.S_IMODE(mode))
        shutil.rmtree(path, ignore_errors=True)


def _env(folder: Path) -> dict[str, str]:
    return {"PYTHONPATH": f"{REPO / 'src'}:{SITE}", "MAMORI_DATA_DIR": str(folder / "data"), "HOME": str(folder)}


def test_sensor_captures_with_cap_net_raw_only(folder: Path) -> None:
    _user()
    (folder / "data").mkdir()
    shutil.chown(folder / "data", "mamori", "mamori")
    site = folder / "site.yaml"
    site.write_text(
        textwrap.dedent("""\
        storage: {path: /tmp/i17-deploy-priv/data/mamori.db}
        capture: {interfaces: [i17p-s]}
        systems:
          - {name: 透析, servers: [10.178.0.2], ports: [6000], terminals: [{name: t, mac: "02:00:00:00:00:01"}]}
        """)
    )
    site.chmod(0o644)
    for ns in (SRV, CLI):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "link", "add", "i17p-s", "netns", SRV, "type", "veth", "peer", "name", "i17p-c",
                        "netns", CLI], check=True)  # fmt: skip
        subprocess.run(["ip", "-n", SRV, "addr", "add", "10.178.0.2/24", "dev", "i17p-s"], check=True)
        subprocess.run(["ip", "-n", CLI, "addr", "add", "10.178.0.9/24", "dev", "i17p-c"], check=True)
        for ns, dev in ((SRV, "i17p-s"), (CLI, "i17p-c")):
            subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
        env = _env(folder)
        # without any capability the same command line cannot capture, and says why
        denied = subprocess.run(_as_mamori("", "watch", "--config", str(site), "--json", netns=SRV, env=env),
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert denied.returncode != 0 and "CAP_NET_RAW" in denied.stderr, denied.stderr
        watch = _as_mamori("net_raw", "watch", "--config", str(site), "--json", netns=SRV, env=env)
        sensor = subprocess.Popen(watch, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(4)
            assert sensor.poll() is None, sensor.stderr.read() if sensor.stderr else ""
            connect = ("import socket, time\nfor _ in range(5):\n    s = socket.socket(); s.settimeout(0.2)\n"
                       "    s.connect_ex(('10.178.0.2', 6000)); s.close(); time.sleep(0.2)\n")  # fmt: skip
            subprocess.run(["ip", "netns", "exec", CLI, "/usr/bin/python3", "-c", connect], check=True, timeout=30)
            time.sleep(3)
        finally:
            sensor.terminate()
            out, err = sensor.communicate(timeout=30)
        assert "unregistered-terminal" in out, out + err
        assert "10.178.0.9" in out
    finally:
        for ns in (SRV, CLI):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_dashboard_serves_with_no_capability(folder: Path) -> None:
    _user()
    (folder / "data").mkdir()
    shutil.chown(folder / "data", "mamori", "mamori")
    site = folder / "site.yaml"
    site.write_text(
        "storage: {path: /tmp/i17-deploy-priv/data/mamori.db}\nsystems: []\nweb: {listen: 127.0.0.1:18471}\n"
    )
    site.chmod(0o644)
    web = subprocess.Popen(_as_mamori("", "web", "--config", str(site), env=_env(folder)),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        import urllib.request

        while True:
            assert web.poll() is None, web.stdout.read() if web.stdout else ""
            try:
                with urllib.request.urlopen("http://127.0.0.1:18471/login/", timeout=2) as page:
                    assert page.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the dashboard did not answer"
                time.sleep(0.5)
        # setpriv execs env, env execs python: one pid
        status = Path(f"/proc/{web.pid}/status").read_text()
        caps = {
            line.split(":")[0]: int(line.split(":")[1], 16) for line in status.splitlines() if line.startswith("Cap")
        }
        assert caps["CapEff"] == caps["CapPrm"] == caps["CapAmb"] == caps["CapBnd"] == 0
    finally:
        web.terminate()
        web.wait(timeout=30)
