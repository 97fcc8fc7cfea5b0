"""The setup parts that need no server: the central folder (init, add-site), the one-time codes, the throttle, the
fingerprint, and the sensor's settings file gaining its central section with its comments kept."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from cryptography import x509

from mamori.central.enroll import CodeBook, CodeRefused, Enrolled, Throttle, new_code, settings_with_central
from mamori.central.pki import PkiError, csr_for, load_cert, load_key, new_key, normal_fingerprint, sign_csr
from mamori.central.setup import CentralFolder, SetupError, add_site, init_central
from mamori.config import settings_from_text


@pytest.fixture
def folder(tmp_path: Path) -> CentralFolder:
    where = CentralFolder(tmp_path / "central")
    init_central(where, server_names=["central.example.jp"], server_ips=["192.0.2.10"], sites=["ward-a"])
    return where


def test_init_writes_private_keys_and_a_config_per_site(folder: CentralFolder) -> None:
    for key in (folder.ca_key, folder.server_key, folder.central_key, folder.nats_conf, folder.settings):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    conf = folder.nats_conf.read_text()
    assert 'user: "CN=ward-a", permissions: { publish: { allow: ["mamori.ward-a.>"] }' in conf
    assert 'subscribe: { allow: ["_INBOX_ward-a.>"] }' in conf and 'user: "CN=mamori-central"' in conf
    assert 'authorization { users: [ { user: "CN=ward-a", account: "MAMORI" } ] }' in conf
    # the central settings skeleton is valid settings
    settings = settings_from_text(folder.settings.read_text(), source="central.yaml")
    assert settings.central is not None and settings.storage.postgresql is not None
    with pytest.raises(SetupError, match="--force"):
        init_central(folder, server_names=["x"], server_ips=[], sites=[])
    add_site(folder, "ward-b")
    assert 'allow: ["mamori.ward-b.>"]' in folder.nats_conf.read_text() and folder.load().sites == ["ward-a", "ward-b"]
    with pytest.raises(SetupError, match="exists already"):
        add_site(folder, "ward-b")
    for bad in ("ward.b", "ward b", "*", "mamori-central"):
        with pytest.raises(SetupError):
            add_site(folder, bad)


def test_a_request_becomes_a_certificate_for_the_code_s_site(folder: CentralFolder) -> None:
    key = new_key()
    cert = sign_csr(load_key(folder.ca_key), load_cert(folder.ca_cert), csr_for(key, "anything"), "ward-a")
    assert cert.subject.rfc4514_string() == "CN=ward-a"  # the site of the code, not what the request asked
    assert cert.public_key() == key.public_key()
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [u.dotted_string for u in eku] == ["1.3.6.1.5.5.7.3.2"]  # client use only: cannot act as a server
    with pytest.raises(PkiError, match="CSR"):
        sign_csr(load_key(folder.ca_key), load_cert(folder.ca_cert), b"not a request", "ward-a")


def test_a_code_is_good_once_and_until_it_expires(folder: CentralFolder) -> None:
    book = CodeBook(folder)
    code, _ = book.issue("ward-a")
    assert code not in folder.codes.read_text()  # kept hashed
    assert stat.S_IMODE(folder.codes.stat().st_mode) == 0o600
    assert book.check(code.lower().replace("-", " ")) == "ward-a"  # typed in lower case with spaces
    assert book.use(code, by="192.0.2.20") == "ward-a"
    with pytest.raises(CodeRefused, match="used already"):
        book.use(code, by="192.0.2.20")
    old, _ = book.issue("ward-a", hours=1, now=time.time() - 7200)
    with pytest.raises(CodeRefused, match="expired"):
        book.check(old)
    with pytest.raises(CodeRefused, match="wrong enrolment code"):
        book.check(new_code())
    with pytest.raises(SetupError, match="add-site"):
        book.issue("ward-z")


def test_the_throttle_holds_back_an_address_then_everyone() -> None:
    throttle = Throttle(per_client=3, overall=5, window=60)
    for _ in range(3):
        assert throttle.wait_for("a", now=100) == 0
        throttle.failed("a", now=100)
    assert throttle.wait_for("a", now=100) == 60 and throttle.wait_for("b", now=100) == 0
    throttle.failed("b", now=120)
    throttle.failed("c", now=120)
    assert throttle.wait_for("d", now=130) == 30  # five failures in all within the window: nobody may try
    assert throttle.wait_for("a", now=161) == 0 and throttle.wait_for("d", now=161) == 0  # the window passed


def test_fingerprints_are_typed_with_or_without_separators() -> None:
    assert normal_fingerprint("3f9a-0000 1111:2222-3333-4444-5555-6666") == "3F9A0000111122223333444455556666"
    with pytest.raises(PkiError, match="32 hexadecimal"):
        normal_fingerprint("3F9A-0000")


ENROLLED = Enrolled(
    site="ward-a",
    servers=("tls://central.example.jp:4222",),
    ca=Path("/etc/mamori/central-ca.crt"),
    cert=Path("/etc/mamori/central-client.crt"),
    key=Path("/etc/mamori/central-client.key"),
)


def test_the_central_section_is_added_and_every_comment_kept() -> None:
    text = "# 病棟のセンサー / the ward's sensor\nstorage: {path: a.db}  # here\ncapture:\n  interfaces: [eth1]"
    out = settings_with_central(text, ENROLLED)
    assert out.startswith(text + "\n\n# 中央サーバーへの接続")
    settings = settings_from_text(out)
    assert settings.central is not None and settings.central.site == "ward-a"
    assert settings.central.servers == ("tls://central.example.jp:4222",)
    assert settings_with_central(out, ENROLLED) == out  # enrolling again changes nothing more


def test_an_existing_central_section_is_replaced_keeping_its_other_keys() -> None:
    text = (
        "storage: {path: a.db}\n"
        "central:\n"
        "  site: old-name\n"
        "# a margin comment inside the section\n"
        "  publish_interval: 5s\n"
        "  tls: {ca: x, cert: y, key: z}\n"
        "\n"
        "# the web's comment stays\n"
        "web: {listen: 127.0.0.1:8080}\n"
    )
    out = settings_with_central(text, ENROLLED)
    assert "old-name" not in out and "x, cert: y" not in out
    assert out.startswith("storage: {path: a.db}\n# 中央サーバーへの接続")
    assert out.endswith("\n\n# the web's comment stays\nweb: {listen: 127.0.0.1:8080}\n")
    settings = settings_from_text(out)
    assert settings.central is not None and settings.central.publish_interval == 5.0
    assert settings.central.tls.key == Path("/etc/mamori/central-client.key")
