"""`mamori doctor` finds each problem made on purpose, and says all is well on a good setup.

The problems: a wrong interface, a clock offset reported by a fake time source, a full disk (a 1 MiB tmpfs the test
mounts), an unwritable archive (a read-only tmpfs). The good setup: a server namespace made by the test whose veth
sees real TCP traffic to the configured server from a second namespace, the dashboard served with TLS there,
the archive key made and its backup recorded, a webhook endpoint that accepts connections, and a `chronyc` on PATH
that prints chrony's tracking report (synchronised, 12 µs off).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.runtime.doctor import DoctorOptions, SystemTimeSource, TimeState, run_doctor
from tests.conftest import make_settings
from tests.integration.conftest import MAMORI, json_lines

pytestmark = [pytest.mark.netns]

if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("openssl") is None:  # pragma: no cover
    pytest.skip("needs root, ip and openssl", allow_module_level=True)

SRV, CLI = "i17d-srv", "i17d-cli"


class FakeTime:
    def __init__(self, state: TimeState | None) -> None:
        self._state = state

    def state(self) -> TimeState | None:
        return self._state


GOOD_TIME = FakeTime(TimeState(True, 0.002, "chrony"))
QUICK = DoctorOptions(skip_capture=True, min_free_bytes=64 * 1024)


def _statuses(findings, check: str) -> list[str]:
    return [f.status for f in findings if f.check == check]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[callable]:
    mounted: list[Path] = []

    def mount(name: str, *options: str) -> Path:
        target = tmp_path / name
        target.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", ",".join(["size=1m", *options]), "tmpfs", str(target)], check=True
        )
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_wrong_interface_is_found(tmp_path: Path) -> None:
    settings = make_settings("capture: {interfaces: [i17d-nosuch0]}\nsystems: []\n", tmp_path)
    findings = run_doctor(settings, time_source=GOOD_TIME, options=DoctorOptions(min_free_bytes=0, capture_seconds=1))
    interface = [f for f in findings if f.check == "interface"]
    assert [f.status for f in interface] == ["problem"]
    assert "i17d-nosuch0" in interface[0].found_en and "lo" in interface[0].found_en  # names what exists
    assert "capture.interfaces" in interface[0].fix_en and "capture.interfaces" in interface[0].fix_ja


def test_clock_offset_from_the_time_source_is_found(tmp_path: Path) -> None:
    settings = make_settings("systems: []\n", tmp_path)
    findings = run_doctor(settings, time_source=FakeTime(TimeState(True, -4.25, "chrony")), options=QUICK)
    time_check = next(f for f in findings if f.check == "time-sync")
    assert time_check.status == "problem"
    assert "-4.250" in time_check.found_en and "-4.250" in time_check.found_ja
    unsynced = run_doctor(settings, time_source=FakeTime(TimeState(False, None, "systemd-timesyncd")), options=QUICK)
    assert _statuses(unsynced, "time-sync") == ["problem"]
    none = run_doctor(settings, time_source=FakeTime(None), options=QUICK)
    assert "chrony" in next(f for f in none if f.check == "time-sync").fix_en
    assert _statuses(run_doctor(settings, time_source=GOOD_TIME, options=QUICK), "time-sync") == ["ok"]


def test_chrony_tracking_is_read() -> None:
    report = textwrap.dedent("""\
        Reference ID    : C0A80101 (ntp.hospital.local)
        Stratum         : 3
        System time     : 2.500000000 seconds slow of NTP time
        Leap status     : Normal
        """)
    state = SystemTimeSource(run=lambda argv: report if argv[0] == "chronyc" else None).state()
    assert state == TimeState(True, -2.5, "chrony")
    show = "NTPSynchronized=no\n"
    state = SystemTimeSource(run=lambda argv: show if argv[:2] == ["timedatectl", "show"] else None).state()
    assert state == TimeState(False, None, "systemd-timesyncd")


def test_full_disk_is_found(tmp_path: Path, tmpfs) -> None:
    full = tmpfs("full")
    with (full / "filler").open("wb") as f:  # fill it: writes until the file system says no
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    settings = make_settings(f"storage: {{path: {full}/mamori.db}}\nsystems: []\n", tmp_path)
    findings = run_doctor(settings, time_source=GOOD_TIME, options=QUICK)
    disk = [f for f in findings if f.check == "disk-space"]
    assert [f.status for f in disk] == ["problem"]
    assert str(full) in disk[0].found_en and "retention_years" in disk[0].fix_en
    assert _statuses(findings, "database") == ["problem"]  # and the database cannot be made there


def test_unwritable_archive_is_found(tmp_path: Path, tmpfs) -> None:
    archive = tmpfs("archive", "ro")
    settings = make_settings(
        f"""\
        storage: {{path: {tmp_path}/mamori.db}}
        systems: []
        syslog:
          listen: ["udp://127.0.0.1:5514"]
          archive: {{path: {archive}, key: {tmp_path}/archive.key}}
        """,
        tmp_path,
    )
    findings = run_doctor(settings, time_source=GOOD_TIME, options=QUICK)
    problem = next(f for f in findings if f.check == "archive")
    assert problem.status == "problem"
    assert "Read-only" in problem.found_en and str(archive) in problem.fix_en
    assert _statuses(findings, "signing-key") == ["problem"]  # no key was made either


def _sh(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True)


@pytest.fixture
def lab() -> Iterator[None]:
    for ns in (SRV, CLI):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        _sh("ip", "netns", "add", ns)
    try:
        _sh("ip", "link", "add", "i17d-s", "netns", SRV, "type", "veth", "peer", "name", "i17d-c", "netns", CLI)
        _sh("ip", "-n", SRV, "addr", "add", "10.177.0.2/24", "dev", "i17d-s")
        _sh("ip", "-n", CLI, "addr", "add", "10.177.0.1/24", "dev", "i17d-c")
        for ns, dev in ((SRV, "i17d-s"), (CLI, "i17d-c")):
            _sh("ip", "-n", ns, "link", "set", dev, "up")
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield
    finally:
        for ns in (SRV, CLI):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _wait_port(ns: str, port: int, deadline: float) -> None:
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1).close()"
    while time.monotonic() < deadline:
        if subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", probe], capture_output=True).returncode == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"nothing listens on {port} in {ns}")


def test_good_setup_is_all_well(tmp_path: Path, lab: None) -> None:
    _sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mamori",
        "-keyout", str(tmp_path / "web.key"), "-out", str(tmp_path / "web.crt"))  # fmt: skip
    (tmp_path / "archive").mkdir()
    site = tmp_path / "site.yaml"
    site.write_text(
        textwrap.dedent(f"""\
            storage: {{path: {tmp_path}/data/mamori.db}}
            capture: {{interfaces: [i17d-s]}}
            systems:
              - {{name: 透析, servers: [10.177.0.2], ports: [6000]}}
            syslog:
              listen: ["udp://127.0.0.1:5514"]
              archive: {{path: {tmp_path}/archive, key: {tmp_path}/keys/archive.key}}
            web:
              listen: 127.0.0.1:18443
              tls: {{cert: {tmp_path}/web.crt, key: {tmp_path}/web.key}}
            actions:
              - {{name: hook, type: webhook, url: "https://127.0.0.1:18443/hook-secret-path"}}
            """),
        encoding="utf-8",
    )
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "chronyc").write_text(
        "#!/bin/sh\nprintf 'Reference ID    : C0A80101 (ntp)\\nSystem time     : 0.000012000 seconds fast of NTP "
        "time\\nLeap status     : Normal\\n'\n"
    )
    (fake / "chronyc").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "MAMORI_DATA_DIR": str(tmp_path / "data")}
    run = lambda *a: subprocess.run(  # noqa: E731
        ["ip", "netns", "exec", SRV, MAMORI, *a], capture_output=True, text=True, env=env, timeout=120
    )
    assert run("upgrade", "--config", str(site)).returncode == 0
    assert run("archive", "keygen", "--config", str(site)).returncode == 0
    web = subprocess.Popen(["ip", "netns", "exec", SRV, MAMORI, "web", "--config", str(site)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    sender = None
    try:
        _wait_port(SRV, 18443, time.monotonic() + 60)
        # real SYNs to the server's port from the other namespace, bounded: 60 attempts over about 6 s
        connect = (
            "import socket, time\n"
            "for _ in range(60):\n"
            "    s = socket.socket(); s.settimeout(0.1)\n"
            "    s.connect_ex(('10.177.0.2', 6000)); s.close(); time.sleep(0.1)\n"
        )
        sender = subprocess.Popen(["ip", "netns", "exec", CLI, "python3", "-c", connect])
        result = run("doctor", "--config", str(site), "--json", "--seconds", "3", "--key-backed-up", "金庫の USB")
        findings = json_lines(result.stdout)
        assert result.returncode == 0, result.stdout + result.stderr
        by_check = {f["check"]: f["status"] for f in findings}
        assert by_check == {
            "capture-permission": "ok", "traffic": "ok", "time-sync": "ok", "disk-space": "ok", "database": "ok",
            "archive": "ok", "signing-key": "ok", "key-backup": "ok", "dashboard": "ok", "endpoint": "ok",
        }  # fmt: skip
        assert "hook-secret-path" not in result.stdout  # an endpoint is named, its URL's path is not shown
        assert "TLS" in next(f for f in findings if f["check"] == "dashboard")["found_en"]
        assert "準備はできています" in result.stderr
    finally:
        web.terminate()
        web.wait(timeout=30)
        if sender is not None:
            sender.wait(timeout=30)


def test_problems_are_recorded_and_raise_one_self_check_alert(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(f"storage: {{path: {tmp_path}/mamori.db}}\ncapture: {{interfaces: [i17d-nosuch1]}}\nsystems: []\n")
    env = {**os.environ, "MAMORI_DATA_DIR": str(tmp_path)}
    subprocess.run([MAMORI, "upgrade", "--config", str(site)], capture_output=True, env=env, check=True)
    for _ in range(2):
        result = subprocess.run([MAMORI, "doctor", "--config", str(site), "--seconds", "1"], capture_output=True,
                                text=True, env=env)  # fmt: skip
        assert result.returncode == 1
        assert "i17d-nosuch1" in result.stdout and "→" in result.stdout
    alerts = json_lines(
        subprocess.run(
            [MAMORI, "alerts", "--config", str(site), "--json"], capture_output=True, text=True, env=env, check=True
        ).stdout
    )
    assert [(a["rule"], a["count"]) for a in alerts] == [("self-check", 2)]  # one alert, continued
    assert "interface" in alerts[0]["details"]["checks"]
    assert socket.gethostname() == alerts[0]["details"]["machine"]


def test_the_self_check_alert_goes_out_through_the_actions_once_as_new(tmp_path: Path) -> None:
    """An hourly doctor continues one alert: its actions hear of it as new once, then as updates, never new again."""
    log = tmp_path / "action.log"
    script = tmp_path / "note.sh"
    script.write_text(f'#!/bin/sh\necho "$MAMORI_EVENT $MAMORI_RULE $MAMORI_UID" >> {log}\n')
    script.chmod(0o755)
    site = tmp_path / "site.yaml"
    site.write_text(
        f"storage: {{path: {tmp_path}/mamori.db}}\ncapture: {{interfaces: [i17d-nosuch2]}}\nsystems: []\n"
        f"actions:\n  - {{name: pager, type: script, command: [{script}]}}\n"
    )
    env = {**os.environ, "MAMORI_DATA_DIR": str(tmp_path)}
    subprocess.run([MAMORI, "upgrade", "--config", str(site)], capture_output=True, env=env, check=True)
    for _ in range(2):
        result = subprocess.run([MAMORI, "doctor", "--config", str(site), "--seconds", "1"], capture_output=True,
                                text=True, env=env)  # fmt: skip
        assert result.returncode == 1, result.stderr
    lines = log.read_text().splitlines()
    assert lines[0].split()[:2] == ["new", "self-check"], lines
    assert [line.split()[0] for line in lines].count("new") == 1, lines
    assert len({line.split()[2] for line in lines}) == 1  # the same alert
    deliveries = json_lines(
        subprocess.run(
            [MAMORI, "deliveries", "--config", str(site), "--json"], capture_output=True, text=True, env=env, check=True
        ).stdout
    )
    assert deliveries and all(d["ok"] and d["action_type"] == "script" for d in deliveries), deliveries


def test_the_overview_shows_the_self_check(tmp_path: Path) -> None:
    from tests.integration.dashboard import Client, add_user, demo_site, start_dashboard

    site = demo_site(tmp_path / "demo")
    lines = site.read_text(encoding="utf-8").splitlines()
    lines = [line for line in lines if not line.startswith("capture:")] + ["capture: {interfaces: [i17d-nosuch2]}"]
    site.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "MAMORI_DATA_DIR": str(tmp_path / "demo")}
    result = subprocess.run([MAMORI, "doctor", "--config", str(site), "--seconds", "1"], capture_output=True,
                            text=True, env=env)  # fmt: skip
    assert result.returncode == 1, result.stderr
    add_user(site, "admin", "admin", "a-long-test-password-17")
    dashboard = start_dashboard(site)
    try:
        client = Client(dashboard)
        client.login("admin", "a-long-test-password-17")
        status, _headers, body = client.get("/")
        page = body.decode()
        assert status == 200
        assert "自己点検" in page and "i17d-nosuch2" in page and "監視インタフェース" in page
        client.post("/lang/", {"language": "en", "csrfmiddlewaretoken": client.token("/")})
        page = client.get("/")[2].decode()
        assert "Self-check" in page and "capture interface" in page and "does not exist" in page
    finally:
        dashboard.stop()
