"""The ``syslog:`` settings section: listen URLs, TLS, archive paths, with file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.config import load_settings
from mamori.errors import ConfigError
from tests.conftest import make_settings


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        make_settings(text)
    return [str(p) for p in caught.value.problems]


def test_the_form_from_the_issue_is_accepted() -> None:
    settings = make_settings(
        """
        syslog:
          listen: ["udp://127.0.0.1:5514", "tcp://127.0.0.1:5514", "tls://0.0.0.0:6514"]
          tls: {cert: /etc/mamori/tls.crt, key: /etc/mamori/tls.key}
          archive: {path: /var/lib/mamori/archive, retention_years: 5}
        """
    )
    syslog = settings.syslog
    assert syslog is not None
    assert [listener.url for listener in syslog.listen] == [
        "udp://127.0.0.1:5514",
        "tcp://127.0.0.1:5514",
        "tls://0.0.0.0:6514",
    ]
    assert (syslog.flush_interval, syslog.fsync_interval, syslog.archive.retention_years) == (0.2, 1.0, 5.0)


def test_listen_urls_are_checked_one_by_one_with_their_line() -> None:
    found = problems(
        """
        syslog:
          listen:
            - udp://127.0.0.1:514
            - ftp://127.0.0.1:21
            - tcp://syslog.example.com:514
            - tls://0.0.0.0:6514
          flush_interval: 2s
        """
    )
    assert found[0].startswith("test.yaml:5:7: syslog.listen[1]: 'ftp://127.0.0.1:21': udp://, tcp://")
    assert "'ftp://127.0.0.1:21': expected one of udp://" in found[0]
    assert found[1].startswith("test.yaml:6:7: syslog.listen[2]: 'tcp://syslog.example.com:514': 'syslog.example.com'")
    assert found[2] == "test.yaml:8:19: syslog.flush_interval: 0.2 以下にしてください / must be at most 0.2"


def test_tls_listener_needs_a_certificate_and_the_key_stays_out_of_the_archive() -> None:
    assert any("tls://0.0.0.0:6514 needs tls:" in p for p in problems('syslog: {listen: ["tls://0.0.0.0:6514"]}'))
    found = problems(
        'syslog: {listen: ["udp://0.0.0.0:514"], archive: {path: /var/lib/a, key: /var/lib/a/keys/archive.key}}'
    )
    assert any("must be kept apart from the archive" in p for p in found)
    assert any(
        "another listener already uses udp port 514" in p
        for p in problems('syslog: {listen: ["udp://0.0.0.0:514", "udp://0.0.0.0:514"]}')
    )


def test_relative_paths_are_taken_from_the_settings_file(tmp_path: Path) -> None:
    site = tmp_path / "etc" / "site.yaml"
    site.parent.mkdir()
    site.write_text('syslog: {listen: ["udp://127.0.0.1:514"], archive: {path: ../archive, mirror: /mnt/copy}}\n')
    syslog = load_settings(site).syslog
    assert syslog is not None
    assert syslog.archive.path == tmp_path / "archive"
    assert syslog.archive.mirror == Path("/mnt/copy")
