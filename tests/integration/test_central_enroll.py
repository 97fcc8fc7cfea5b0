"""Setup a non-programmer can follow (issue 14, item 4), with the real parts: `mamori central init` makes the CA,
the certificates, nats-server's configuration and the central settings; the real nats-server (Debian's) runs that
configuration on loopback and PostgreSQL 15 holds the central store; `mamori central enroll-server` answers over
HTTPS; `mamori sensor enroll` enrols a sensor with a one-time code and the CA's fingerprint, and its alerts then
reach the central store through `mamori publish` and `mamori central`.

Also checked: the keys are mode 0600 and the sensor's key is made on the sensor; the sensor's settings keep their
comments; a used, an expired and a wrong code are refused with a message in Japanese and English, and guessing is
throttled; a wrong fingerprint is refused before the code is sent; the enrolled certificate cannot publish to
another site's subjects; a site added later (`add-site`, nats-server reloaded) can enrol and publish; init does
not replace an existing CA without --force.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.integration.central_stack import Nats, Postgres, free_port, missing_tools, wait_port
from tests.integration.conftest import MAMORI, run_mamori

pytestmark = pytest.mark.slow

SITES = ("hospital-a", "hospital-b")
CODE = re.compile(r"--code ([A-Z]{4}-[A-Z]{4}-[A-Z]{4}-[A-Z]{4}) --fingerprint ((?:[0-9A-F]{4}-){7}[0-9A-F]{4})")


@dataclass
class Central:
    folder: Path  # the test's temporary folder
    root: Path  # what `mamori central init --dir` made
    nats: Nats
    pg: Postgres
    enroll_port: int
    enroll: subprocess.Popen[bytes]

    def code(self, site: str) -> tuple[str, str]:
        out = run_mamori("central", "enroll-code", "--dir", str(self.root), site).stdout
        found = CODE.search(out)
        assert found, out
        return found.group(1), found.group(2)

    def sensor_config(self, name: str) -> Path:
        box = self.folder / name
        box.mkdir()
        config = box / "mamori.yaml"
        config.write_text(
            "# 3 階病棟のセンサー / the ward-3 sensor\n"
            "storage:\n"
            "  path: sensor.db   # アラートの保存先 / where alerts go\n"
            "\n"
            "# 以下はそのまま / the rest stays\n"
            "capture: {interfaces: []}\n",
            encoding="utf-8",
        )
        return config

    def enroll_sensor(
        self, config: Path, code: str, fp: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_mamori(
            "sensor",
            "enroll",
            "--central",
            f"localhost:{self.enroll_port}",
            "--code",
            code,
            "--fingerprint",
            fp,
            "--config",
            str(config),
            check=check,
        )


@pytest.fixture(scope="module")
def central() -> Iterator[Central]:
    missing = [m for m in missing_tools() if m != "openssl"]  # openssl is not used here
    if missing:
        pytest.skip(f"missing: {', '.join(missing)} (scripts/test.sh installs them)")
    folder = Path(tempfile.mkdtemp(prefix="i14-enroll-"))
    folder.chmod(0o755)  # PostgreSQL's own user reaches its data folder inside
    root = folder / "central"
    nats_port, leaf_port, enroll_port, pg_port = free_port(), free_port(), free_port(), free_port()
    sites = [a for s in SITES for a in ("--site", s)]
    out = run_mamori(
        "central", "init", "--dir", str(root), "--server-name", "localhost", "--server-ip", "127.0.0.1", *sites,
        "--listen", "127.0.0.1", "--nats-port", str(nats_port), "--leaf-port", str(leaf_port),
        "--enroll-port", str(enroll_port), "--store-dir", str(folder / "js"), "--postgres", f"127.0.0.1:{pg_port}",
        "--owner", "",
    ).stdout  # fmt: skip
    assert "CA fingerprint" in out
    nats = Nats(root, nats_port, leaf_port, name="nats-server")
    pg = Postgres(folder, pg_port, root / "postgresql.pw")  # the password file central.yaml names
    enroll: subprocess.Popen[bytes] | None = None
    try:
        nats.start()
        pg.start()
        enroll = subprocess.Popen(
            [MAMORI, "central", "enroll-server", "--dir", str(root)],
            stdout=(folder / "enroll.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_port(enroll_port)
        yield Central(folder, root, nats, pg, enroll_port, enroll)
    finally:
        if enroll is not None:
            enroll.send_signal(signal.SIGTERM)
            enroll.wait(20)
        nats.stop()
        pg.stop()
        if not os.environ.get("MAMORI_KEEP_CENTRAL"):
            shutil.rmtree(folder, ignore_errors=True)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sensor_uids(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return {r[0] for r in c.execute("SELECT uid FROM mamori_alert")}


def _central_uids(central: Central, site: str) -> set[str]:
    with central.pg.connect() as c:
        return {r[0] for r in c.execute("SELECT uid FROM mamori_alert WHERE site = %s", [site])}


def _wait(what: str, check: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def test_init_made_private_keys_and_refuses_to_replace_the_ca(central: Central) -> None:
    root = central.root
    for key in ("ca.key", "server.key", "mamori-central.key"):
        assert _mode(root / key) == 0o600, key
    assert _mode(root / "nats-server.conf") == 0o600
    server = x509.load_pem_x509_certificate((root / "server.crt").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    conf = (root / "nats-server.conf").read_text()
    assert 'publish: { allow: ["mamori.hospital-b.>"] }' in conf and "verify_and_map: true" in conf
    before = (root / "ca.crt").read_bytes()
    again = run_mamori("central", "init", "--dir", str(root), "--server-name", "localhost", check=False)
    assert again.returncode == 2
    assert "--force" in again.stderr and "ca.key があります" in again.stderr and "a CA exists" in again.stderr
    assert (root / "ca.crt").read_bytes() == before


def test_an_enrolled_sensor_publishes_into_the_central_store(central: Central, lab_pcaps: Path) -> None:
    code, fp = central.code("hospital-a")
    config = central.sensor_config("sensor-a")
    out = central.enroll_sensor(config, code, fp).stdout
    assert "enrolled: site hospital-a" in out
    box = config.parent
    assert _mode(box / "central-client.key") == 0o600
    cert = x509.load_pem_x509_certificate((box / "central-client.crt").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "hospital-a"
    text = config.read_text(encoding="utf-8")
    # the file's own lines and comments are kept; the central section is added
    assert text.startswith("# 3 階病棟のセンサー / the ward-3 sensor\nstorage:\n  path: sensor.db   # アラートの保存先")
    assert "# 以下はそのまま / the rest stays\ncapture: {interfaces: []}\n" in text
    assert "site: hospital-a" in text and f"tls://localhost:{central.nats.port}" in text
    assert (box / "mamori.yaml.before-enroll").read_text(encoding="utf-8").startswith("# 3 階病棟")
    from mamori.config import load_settings

    settings = load_settings(config)
    assert settings.central is not None and settings.central.site == "hospital-a"
    assert settings.central.tls.key == box / "central-client.key"

    run_mamori("analyze", "--config", str(config), str(lab_pcaps / "nmap_sS_1-1000.pcap"), timeout=180)
    mine = _sensor_uids(box / "sensor.db")
    assert mine
    log = (central.folder / "consumer.log").open("ab")
    consumer = subprocess.Popen(
        [MAMORI, "central", "--config", str(central.root / "central.yaml")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        run_mamori("publish", "--config", str(config), "--until-empty", timeout=90)
        _wait("the sensor's alerts in the central store", lambda: _central_uids(central, "hospital-a") == mine)
    finally:
        consumer.send_signal(signal.SIGTERM)
        assert consumer.wait(30) == 0, (central.folder / "consumer.log").read_text(errors="replace")[-2000:]


def test_a_used_code_is_refused(central: Central) -> None:
    code, fp = central.code("hospital-a")
    first = central.sensor_config("sensor-a2")
    central.enroll_sensor(first, code, fp)
    second = central.sensor_config("sensor-a3")
    before = second.read_text(encoding="utf-8")
    result = central.enroll_sensor(second, code, fp, check=False)
    assert result.returncode == 2
    assert "この登録コードは使用済みです" in result.stderr and "was used already" in result.stderr
    assert second.read_text(encoding="utf-8") == before  # nothing changed, nothing half-written
    assert not (second.parent / "central-client.key").exists()


def test_an_expired_code_is_refused(central: Central) -> None:
    from mamori.central.enroll import CodeBook
    from mamori.central.setup import CentralFolder

    code, _expires = CodeBook(CentralFolder(central.root)).issue("hospital-b", hours=1, now=time.time() - 7200)
    _fresh, fp = central.code("hospital-b")
    result = central.enroll_sensor(central.sensor_config("sensor-b-late"), code, fp, check=False)
    assert result.returncode == 2
    assert "期限切れ" in result.stderr and "has expired" in result.stderr


def test_a_wrong_fingerprint_is_refused_before_the_code_is_sent(central: Central) -> None:
    code, fp = central.code("hospital-b")
    wrong = ("0000" if not fp.startswith("0000") else "1111") + fp[4:]
    config = central.sensor_config("sensor-b")
    result = central.enroll_sensor(config, code, wrong, check=False)
    assert result.returncode == 2
    assert "フィンガープリントが違います" in result.stderr and "the code was not sent" in result.stderr
    assert not (config.parent / "central-client.key").exists()
    # the code was not sent, so it is still good: the right fingerprint enrols with it
    assert "enrolled: site hospital-b" in central.enroll_sensor(config, code, fp).stdout


def test_an_enrolled_certificate_cannot_publish_as_another_site(central: Central) -> None:
    import nats

    from mamori.central import ssl_context
    from mamori.config import load_settings

    settings = load_settings(central.folder / "sensor-a" / "mamori.yaml")
    assert settings.central is not None
    errors: list[str] = []

    async def attempt() -> tuple[bool, str]:
        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        assert settings.central is not None
        nc = await nats.connect(
            central.nats.url,
            tls=ssl_context(settings.central),
            inbox_prefix="_INBOX_hospital-a",
            error_cb=on_error,
            max_reconnect_attempts=0,
        )
        js = nc.jetstream(timeout=2)
        refused = False
        try:
            await js.publish("mamori.hospital-b.alert", b"{}", headers={"Nats-Msg-Id": "hospital-b:x:1"})
        except Exception:  # no PubAck: the server dropped it
            refused = True
        own = await js.publish("mamori.hospital-a.health", b"not json", headers={"Nats-Msg-Id": "hospital-a:x:1"})
        await nc.close()
        return refused, own.stream

    refused, stream = asyncio.run(attempt())
    assert refused and stream == "MAMORI"
    assert any("permissions violation" in e.lower() and "mamori.hospital-b.alert" in e for e in errors), errors
    assert 'Publish Violation - User "CN=hospital-a", Subject "mamori.hospital-b.alert"' in central.nats.log()


def test_a_site_added_later_enrols_after_a_reload(central: Central) -> None:
    out = run_mamori("central", "add-site", "--dir", str(central.root), "hospital-c").stdout
    # with a leaf node listener, nats-server 2.9 refuses to reload a change of the leaf users: restart it
    assert "systemctl restart mamori-nats" in out
    assert 'user: "CN=hospital-c"' in (central.root / "nats-server.conf").read_text()
    central.nats.stop()
    central.nats.start()
    code, fp = central.code("hospital-c")
    config = central.sensor_config("sensor-c")
    central.enroll_sensor(config, code, fp)
    import nats

    from mamori.central import ssl_context
    from mamori.config import load_settings

    settings = load_settings(config)
    assert settings.central is not None and settings.central.site == "hospital-c"

    async def publish() -> str:
        assert settings.central is not None
        nc = await nats.connect(
            list(settings.central.servers), tls=ssl_context(settings.central), inbox_prefix="_INBOX_hospital-c"
        )
        ack = await nc.jetstream(timeout=5).publish(
            "mamori.hospital-c.health", b"not json", headers={"Nats-Msg-Id": "hospital-c:x:1"}
        )
        await nc.close()
        return ack.stream

    assert asyncio.run(publish()) == "MAMORI"


def test_wrong_codes_are_refused_then_throttled(central: Central) -> None:
    """Run last: the throttle counts this address's failures (the used and expired codes above among them)."""
    _code, fp = central.code("hospital-a")
    messages = []
    for i in range(6):
        result = central.enroll_sensor(central.sensor_config(f"guess-{i}"), "ACDE-FGHJ-KLMN-PQRT", fp, check=False)
        assert result.returncode == 2
        messages.append(result.stderr)
    assert "登録コードが違います" in messages[0] and "wrong enrolment code" in messages[0]
    assert "多すぎます" in messages[-1] and "too many wrong codes" in messages[-1]
    # a good code is refused too while this address is held back
    code, fp = central.code("hospital-a")
    held = central.enroll_sensor(central.sensor_config("guess-good"), code, fp, check=False)
    assert held.returncode == 2 and "too many wrong codes" in held.stderr
    assert "Traceback" not in (central.folder / "enroll.log").read_text(errors="replace")
