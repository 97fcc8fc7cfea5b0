"""Backup jobs in the settings file: the issue's form, every kind, and each problem with its line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.config import load_settings, settings_from_text
from mamori.errors import ConfigError
from mamori.model import BackupJob, OfflineCopy


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        settings_from_text(text, source="site.yaml")
    return [str(p) for p in err.value.problems]


def test_the_issue_form_is_accepted_with_a_default_margin() -> None:
    site = settings_from_text("backups: [{name: 電子カルテ, path: /mnt/backup/emr, every: 24h, generations: 7}]\n").site
    assert site.backups == (
        BackupJob(
            name="電子カルテ", kind="folder", every=86400.0, generations=7, margin=21600.0, path="/mnt/backup/emr"
        ),
    )


def test_every_kind_with_its_offline_copy_and_windows() -> None:
    text = """\
backups:
  - name: restic
    kind: restic
    path: /mnt/nas/restic
    password_file: /etc/mamori/restic.pass
    every: 12h
    margin: 30m
    generations: 14
    what: 電子カルテの DB
    where: NAS
    offline: {host: 10.4.0.50, mac: "02-00-00-00-04-50", online: ["02:00-04:00", "23:30-00:30"], timezone: Asia/Tokyo}
  - {name: borg, kind: borg, path: /srv/borg, password_env: BORG_EMR, every: 1d, generations: 3, immutable: true}
  - {name: WSB, kind: wsb, computer: FS01, logs: /srv/logs/fs01, every: 24h, generations: 2}
"""
    restic, borg, wsb = settings_from_text(text).site.backups
    assert (restic.every, restic.margin, restic.generations, restic.password_file) == (
        43200.0,
        1800.0,
        14,
        "/etc/mamori/restic.pass",
    )
    assert restic.offline == OfflineCopy(
        host="10.4.0.50", windows=((120, 240), (1410, 30)), mac="02:00:00:00:04:50", timezone="Asia/Tokyo"
    )
    assert (borg.password_env, borg.immutable, borg.offline) == ("BORG_EMR", True, None)
    assert (wsb.computer, wsb.logs, wsb.path) == ("FS01", ("/srv/logs/fs01",), "")


def test_relative_paths_are_taken_from_the_settings_files_folder(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(
        "backups:\n  - {name: r, kind: restic, path: repo, password_file: pw, every: 1d, generations: 1}\n"
        "  - {name: w, kind: wsb, computer: FS01, logs: [logs], every: 1d, generations: 1}\n",
        encoding="utf-8",
    )
    restic, wsb = load_settings(tmp_path / "site.yaml").site.backups
    assert (restic.path, restic.password_file, wsb.logs) == (
        str(tmp_path / "repo"),
        str(tmp_path / "pw"),
        (str(tmp_path / "logs"),),
    )


def test_each_problem_names_its_line_and_field() -> None:
    found = problems(
        """\
backups:
  - {name: 電子カルテ, path: /mnt/a, every: 24h, generations: 7}
  - name: 電子カルテ
    kind: restic
    every: 3x
    generations: 0
    password: hunter2
    offline: {host: 10.4.0.500, online: "25:00-04:00"}
  - {name: FS, kind: wsb, every: 1d, generations: 3}
  - {name: T, kind: tape, path: /x, every: 1d, generations: 1}
  - {name: E, path: /x, every: 1d, generations: 1, password_env: "1 bad", offline: {host: 10.0.0.1, online: "3-4"}}
"""
    )
    text = "\n".join(found)
    assert "site.yaml:3:11: backups[1].name:" in text and "used twice" in text
    assert "site.yaml:3:5: backups[1].path:" in text  # a restic job without its repository
    assert "needs password_file or password_env" in text
    assert "site.yaml:5:12: backups[1].every:" in text
    assert "site.yaml:6:18: backups[1].generations:" in text
    assert "site.yaml:7:15: backups[1].password: " in text and "do not write a password" in text
    assert "hunter2" not in text  # the password itself is never repeated
    assert "site.yaml:8:21: backups[1].offline.host:" in text
    assert "site.yaml:8:41: backups[1].offline.online:" in text and "not a time of day" in text
    assert "backups[2].computer:" in text and "backups[2].logs:" in text
    assert "site.yaml:10:" in text and "backups[3].kind:" in text
    assert "backups[4].password_env:" in text
    assert "backups[4].offline.online:" in text and '"02:00-04:00"' in text
    assert len([p for p in found if "password:" in p]) == 1  # one message for the password, not two
