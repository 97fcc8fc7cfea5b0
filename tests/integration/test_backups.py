"""Backups with the real parts: restic and borg repositories made by the test with Debian's restic and borg (their
snapshots aged with an injected clock), `mamori backups` from the command line, the sensor's own schedule, and the
offline NAS as a network namespace host that appears (arping, a SYN) while `mamori watch` listens, outside its
window and inside it. Needs restic and borgbackup (scripts/test.sh installs them); the namespace test needs root,
ip and arping. Traffic: a few ARP packets and one SYN inside namespaces the test makes."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.config import load_settings
from mamori.model import RestoreTest
from mamori.runtime.backups import BackupRun, BackupSchedule
from mamori.storage import BackupTable, Store
from mamori.testing import FakeClock
from tests.integration.conftest import MAMORI, json_lines, run_mamori

H = 3600.0
PASSWORD = "correct horse battery staple"  # noqa: S105 - the test repositories' own, made here


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (apt-get install {'borgbackup' if name == 'borg' else name})")
    return path


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"), **extra}


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    """A restic repository with two snapshots and a borg repository with one archive, of a small folder; the
    password in a file only."""
    restic, borg = _tool("restic"), _tool("borg")
    data = tmp_path / "data"
    data.mkdir()
    (data / "karte.db").write_bytes(b"patient records" * 100)
    (tmp_path / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
    (tmp_path / "pw").chmod(0o600)
    env = _env(RESTIC_PASSWORD_FILE=str(tmp_path / "pw"), RESTIC_CACHE_DIR=str(tmp_path / "cache"))
    subprocess.run([restic, "init", "--repo", str(tmp_path / "restic")], env=env, check=True, capture_output=True)
    for _ in range(2):
        subprocess.run(
            [restic, "--repo", str(tmp_path / "restic"), "backup", str(data)], env=env, check=True, capture_output=True
        )
    benv = _env(BORG_PASSPHRASE=PASSWORD, BORG_BASE_DIR=str(tmp_path / "borgbase"))
    subprocess.run([borg, "init", "-e", "repokey", str(tmp_path / "borg")], env=benv, check=True, capture_output=True)
    subprocess.run([borg, "create", f"{tmp_path / 'borg'}::one", str(data)], env=benv, check=True, capture_output=True)
    return tmp_path


SITE = """\
storage: {path: mamori.db}
backups:
  - {name: 電子カルテ restic, kind: restic, path: restic, password_file: pw, every: 24h, margin: 2h, generations: 2}
  - {name: 電子カルテ borg, kind: borg, path: borg, password_env: MAMORI_TEST_BORG, every: 24h, generations: 3}
"""


def test_real_restic_and_borg_snapshots_aged_with_an_injected_clock(repos: Path) -> None:
    (repos / "site.yaml").write_text(SITE, encoding="utf-8")
    settings = load_settings(repos / "site.yaml")
    store = Store(repos / "mamori.db")
    clock = FakeClock(time.time())
    environ = _env(MAMORI_TEST_BORG=PASSWORD, BORG_BASE_DIR=str(repos / "borgbase"))
    run = BackupRun(settings, store=store, clock=clock, environ={**environ, "HOME": str(repos)})
    report = run.check()
    restic, borg = report.statuses
    assert (restic.state, restic.generations, restic.kind) == ("ok", 2, "restic")
    assert (borg.state, borg.generations) == ("few-generations", 1)
    assert [(a.rule, a.details["job"]) for a in report.alerts] == [("backup-generations", "電子カルテ borg")]
    assert abs(restic.last_success - time.time()) < 300  # type: ignore[operator]
    store.upsert_alerts(report.alerts)

    clock.advance(30 * H + 60)  # a day and the margins (2 h, the default 6 h) pass without a backup
    later = run.check()
    assert [s.state for s in later.statuses] == ["missed", "missed"]
    missed = {a.details["job"]: a for a in later.alerts if a.rule == "backup-missed"}
    assert set(missed) == {"電子カルテ restic", "電子カルテ borg"}
    assert missed["電子カルテ restic"].details["age_hours"] >= 30.0
    store.upsert_alerts(later.alerts)

    # Another process (cron's `mamori backups`) continues the same alerts from the store.
    clock.advance(H)
    again = BackupRun(settings, store=store, clock=clock, environ={**environ, "HOME": str(repos)}).check()
    continued = {a.details["job"]: a for a in again.alerts if a.rule == "backup-missed"}
    assert {j: a.uid for j, a in continued.items()} == {j: a.uid for j, a in missed.items()}
    assert all(a.count == 2 for a in continued.values())
    assert set(BackupTable(store).statuses()) == {"電子カルテ restic", "電子カルテ borg"}


def test_wrong_password_and_missing_repository_say_why_without_the_password(repos: Path) -> None:
    (repos / "bad").write_text("not the password\n", encoding="utf-8")
    (repos / "site.yaml").write_text(
        SITE.replace("password_file: pw", "password_file: bad").replace("path: borg", "path: no-such-repo"),
        encoding="utf-8",
    )
    settings = load_settings(repos / "site.yaml")
    run = BackupRun(settings, clock=FakeClock(time.time()), environ=_env(MAMORI_TEST_BORG=PASSWORD))
    restic, borg = run.check().statuses
    assert restic.state == "unreadable" and "restic failed" in restic.error
    assert borg.state == "unreadable" and "does not exist" in borg.error
    assert PASSWORD not in restic.error + borg.error


def test_mamori_backups_prints_the_states_and_stores_one_alert_per_state(repos: Path) -> None:
    (repos / "site.yaml").write_text(SITE, encoding="utf-8")
    env = {**os.environ, "MAMORI_TEST_BORG": PASSWORD, "BORG_BASE_DIR": str(repos / "borgbase")}
    for _ in range(2):
        done = subprocess.run(
            [MAMORI, "backups", "--config", str(repos / "site.yaml")], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    assert "✔ 電子カルテ restic: 正常" in done.stdout
    assert "✖ 電子カルテ borg: 世代不足" in done.stdout and "世代: 1（設定 3）" in done.stdout
    english = subprocess.run(
        [MAMORI, "backups", "--config", str(repos / "site.yaml"), "--lang", "en", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(english.stdout)
    assert [(j["job"], j["state"], j["generations"]) for j in doc["jobs"]] == [
        ("電子カルテ restic", "ok", 2),
        ("電子カルテ borg", "few-generations", 1),
    ]
    stored = json_lines(run_mamori("alerts", "--config", str(repos / "site.yaml"), "--json").stdout)
    assert [(a["rule"], a["count"]) for a in stored] == [("backup-generations", 3)]  # three checks, one alert
    run_mamori(
        "backups", "restore-test", "--config", str(repos / "site.yaml"), "--job", "電子カルテ restic",
        "--what", "患者 1 名のカルテ", "--by", "情報システム課 山田", "--date", "2026-11-01",
    )  # fmt: skip
    shown = subprocess.run(
        [MAMORI, "backups", "--config", str(repos / "site.yaml")], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "最後の復元テスト: 2026-11-01 情報システム課 山田: 患者 1 名のカルテ（" in shown
    bad = run_mamori(
        "backups", "restore-test", "--config", str(repos / "site.yaml"), "--job", "nope", "--what", "x", "--by", "y",
        check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "no backup job 'nope'" in bad.stderr


def test_the_sensors_schedule_checks_on_its_clock_and_hands_the_alerts_over(tmp_path: Path) -> None:
    folder = tmp_path / "emr"
    (folder / "2026-12-01").mkdir(parents=True)
    (folder / "2026-12-01" / "db.bak").write_bytes(b"x")
    (tmp_path / "site.yaml").write_text(
        f"backups: [{{name: 電子カルテ, path: {folder}, every: 24h, generations: 2}}]\n", encoding="utf-8"
    )
    clock = FakeClock(time.time())
    schedule = BackupSchedule(BackupRun(load_settings(tmp_path / "site.yaml"), clock=clock), interval=900)
    got: list[str] = []
    assert schedule.poll(lambda alerts: got.extend(a.rule for a in alerts))  # the first check starts at once
    schedule.join(30)
    assert not schedule.poll(lambda alerts: got.extend(a.rule for a in alerts))  # not due yet: handed over only
    assert got == ["backup-generations"]
    clock.advance(899)
    assert not schedule.poll(got.extend)
    clock.advance(2)
    assert schedule.poll(lambda alerts: got.extend(a.rule for a in alerts))
    schedule.join(30)
    schedule.poll(lambda alerts: got.extend(a.rule for a in alerts))
    assert got == ["backup-generations", "backup-generations"]  # the same alert, updated


def test_restore_tests_are_kept_and_the_posture_reads_them(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(
        f"backups: [{{name: a, path: {tmp_path}, every: 1d, generations: 1, offline: {{host: 10.0.0.9}}}}]\n",
        encoding="utf-8",
    )
    settings = load_settings(tmp_path / "site.yaml")
    store = Store(tmp_path / "m.db")
    table = BackupTable(store)
    for day in ("2026-10-01", "2026-11-15"):
        table.add_restore_test(RestoreTest("a", day, "1 file", "山田", recorded_at=time.time(), recorded_by="cli"))
    BackupRun(settings, store=store).check()
    posture = table.posture(settings.site.backups)
    assert (posture.jobs, posture.checked, posture.ok, posture.methods, posture.offline) == (1, 1, 1, ("folder",), True)
    assert posture.last_restore is not None and posture.last_restore.tested_on == "2026-11-15"
    assert not posture.several_generations_by_several_methods


# -- the offline NAS in a network namespace ---------------------------------------------------------------------


NAS = ("02:89:00:00:00:50", "10.89.0.50")
SENSOR = ("02:89:00:00:00:01", "10.89.0.1")


@pytest.fixture
def nas_lan() -> Iterator[tuple[str, str, str, str]]:
    if os.geteuid() != 0 or shutil.which("arping") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("needs root and arping")
        pytest.skip("needs root and arping")
    tag = str(os.getpid() % 100000)
    sensor_ns, nas_ns = f"i13bs{tag}", f"i13bn{tag}"
    sensor_if, nas_if = f"i13s{tag}", f"i13n{tag}"
    try:
        for ns in (sensor_ns, nas_ns):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(
            [
                "ip",
                "link",
                "add",
                sensor_if,
                "netns",
                sensor_ns,
                "type",
                "veth",
                "peer",
                "name",
                nas_if,
                "netns",
                nas_ns,
            ],
            check=True,
        )
        for ns, iface, (mac, ip) in ((sensor_ns, sensor_if, SENSOR), (nas_ns, nas_if, NAS)):
            subprocess.run(["ip", "-n", ns, "link", "set", iface, "address", mac], check=True)
            subprocess.run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", iface], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", iface, "up"], check=True)
        yield sensor_ns, nas_ns, sensor_if, nas_if
    finally:
        for ns in (sensor_ns, nas_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _window(offset_hours: int) -> str:
    """A two-hour window starting ``offset_hours`` from now (UTC)."""
    start = dt.datetime.now(tz=dt.UTC) + dt.timedelta(hours=offset_hours)
    end = start + dt.timedelta(hours=2)
    return f"{start:%H}:00-{end:%H}:00"


def _watch_while_the_nas_appears(tmp_path: Path, lan: tuple[str, str, str, str], window: str) -> list[dict]:
    sensor_ns, nas_ns, sensor_if, nas_if = lan
    folder = tmp_path / "emr"
    (folder / "gen1").mkdir(parents=True)
    (folder / "gen1" / "db.bak").write_bytes(b"x")
    site = tmp_path / "site.yaml"
    site.write_text(
        f"storage: {{path: {tmp_path / 'mamori.db'}}}\n"
        f"capture: {{interfaces: [{sensor_if}]}}\n"
        "backups:\n"
        f"  - name: 電子カルテ\n    path: {folder}\n    every: 24h\n    generations: 2\n"
        f'    offline: {{host: {NAS[1]}, online: "{window}", timezone: UTC}}\n',
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        ["ip", "netns", "exec", sensor_ns, MAMORI, "watch", "--config", str(site), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = threading.Event()
    log: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            if f"capturing on {sensor_if}" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    out = ""
    try:
        assert ready.wait(30), "".join(log)
        subprocess.run(
            ["ip", "netns", "exec", nas_ns, "arping", "-c", "2", "-w", "4", "-I", nas_if, SENSOR[1]],
            capture_output=True,
            timeout=20,
        )
        code = (
            "import socket\ns=socket.socket(); s.settimeout(2)\n"
            f"try: s.connect(('{SENSOR[1]}', 445))\nexcept OSError: pass"
        )
        subprocess.run(["ip", "netns", "exec", nas_ns, sys.executable, "-c", code], timeout=20)
        time.sleep(2.5)  # the sensor hands alerts to the store about once a second
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        reader.join(10)
    assert proc.returncode == 0, "".join(log)
    assert json_lines(out) is not None
    return json_lines(run_mamori("alerts", "--config", str(site), "--json").stdout)


@pytest.mark.netns
def test_the_offline_nas_seen_outside_its_window_is_one_alert(
    tmp_path: Path, nas_lan: tuple[str, str, str, str]
) -> None:
    alerts = _watch_while_the_nas_appears(tmp_path, nas_lan, _window(4))
    rules = sorted(a["rule"] for a in alerts)
    assert rules == ["backup-generations", "backup-offline-exposed"]  # the sensor checked the folder on its own too
    (exposed,) = [a for a in alerts if a["rule"] == "backup-offline-exposed"]
    assert (exposed["src_ip"], exposed["host"], exposed["how"]) == (NAS[1], NAS[1], "arp")
    assert exposed["count"] >= 3  # two ARP requests and the SYN, in one alert


@pytest.mark.netns
def test_the_offline_nas_inside_its_window_is_no_alert(tmp_path: Path, nas_lan: tuple[str, str, str, str]) -> None:
    alerts = _watch_while_the_nas_appears(tmp_path, nas_lan, _window(-1))
    assert sorted(a["rule"] for a in alerts) == ["backup-generations"]
