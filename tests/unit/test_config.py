"""Settings files: the issue's form is accepted, every problem is reported with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.config import load_settings, normalize_mac, parse_duration, settings_from_text
from mamori.errors import ConfigError

ISSUE_FORM = """\
storage: {path: /var/lib/mamori/mamori.db}     # SQLite; the default when omitted is a file under the data dir
capture: {interfaces: [eth0]}
systems:
  - name: 透析システム
    servers: [10.77.0.11]
    ports: [6000]
    terminals:
      - {name: dialysis-pc-1, mac: "02:42:00:00:00:02", ip: 10.77.0.12}
"""


def test_the_issue_form_is_accepted() -> None:
    settings = settings_from_text(ISSUE_FORM, source="site.yaml")
    (system,) = settings.site.systems
    assert system.name == "透析システム"
    assert system.servers[0].ip == "10.77.0.11"
    assert system.ports == (6000,)
    assert system.terminals[0].mac == "02:42:00:00:00:02"
    assert settings.capture.interfaces == ("eth0",)
    assert settings.database_path == Path("/var/lib/mamori/mamori.db")


def test_defaults_put_the_database_in_the_data_dir(tmp_path: Path) -> None:
    settings = settings_from_text("systems: []\n", data_dir=tmp_path)
    assert settings.database_path == tmp_path / "mamori.db"
    assert settings.detection.port_scan.vertical_ports == 20


def test_relative_storage_path_is_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text("storage: {path: data/m.db}\n", encoding="utf-8")
    assert load_settings(tmp_path / "site.yaml").database_path == tmp_path / "data" / "m.db"


def test_unquoted_mac_and_other_spellings_are_normalised() -> None:
    text = ISSUE_FORM.replace('"02:42:00:00:00:02"', "02:42:00:00:00:02")
    assert settings_from_text(text).site.systems[0].terminals[0].mac == "02:42:00:00:00:02"
    assert normalize_mac("02-42-AC-11-00-02") == "02:42:ac:11:00:02"
    assert normalize_mac("0242.ac11.0002") == "02:42:ac:11:00:02"
    assert parse_duration("5m") == 300 and parse_duration("24h") == 86400 and parse_duration(30) == 30


BROKEN = """\
storage: {path: m.db, colour: blue}
capture: {interfaces: [eth0]}
detection:
  port_scan: {window: 5 minutes}
systems:
  - name: 透析システム
    servers: [10.77.0.300]
    ports: [6000, 70000]
    terminals:
      - {name: dialysis-pc-1, mac: "02:42:00:00:00:0g", ip: 10.77.0.12}
      - {name: dialysis-pc-2, ip: 10.77.0.13}
"""


def test_every_problem_has_file_line_and_field() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_text(BROKEN, source="site.yaml")
    found = {(p.line, p.field) for p in caught.value.problems}
    assert found == {
        (1, "storage.colour"),
        (4, "detection.port_scan.window"),
        (7, "systems[0].servers[0].ip"),
        (8, "systems[0].ports[1]"),
        (10, "systems[0].terminals[0].mac"),
        (11, "systems[0].terminals[1].mac"),
    }
    text = str(caught.value)
    assert "site.yaml:1:" in text and "unknown setting 'colour'" in text
    assert "'10.77.0.300' is not an IPv4 or IPv6 address" in text
    assert "'02:42:00:00:00:0g' is not a MAC address" in text


def test_cross_checks() -> None:
    text = """\
systems:
  - name: A
    servers: [10.0.0.1]
    ports: [80]
    terminals: [{mac: "02:00:00:00:00:01"}, {mac: "02:00:00:00:00:01"}]
  - name: B
    servers: [10.0.0.1]
    ports: [80]
  - name: B
    servers: [10.0.0.2]
    ports: [80]
"""
    with pytest.raises(ConfigError) as caught:
        settings_from_text(text, source="s.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert any("registered twice" in m for m in messages)
    assert not any("used twice" in m for m in messages)  # reported once the first error is fixed
    fixed = text.replace('{mac: "02:00:00:00:00:01"}]', '{mac: "02:00:00:00:00:02"}]')
    with pytest.raises(ConfigError) as caught:
        settings_from_text(fixed, source="s.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert any("s.yaml:8:" in m and "already belongs to system 'A'" in m for m in messages)
    assert any("s.yaml:9:" in m and "used twice" in m for m in messages)


def test_broken_yaml_duplicate_keys_and_wrong_shapes() -> None:
    for text, expected in (
        ("systems: [\n", "not valid YAML"),
        ("systems: []\nsystems: []\n", "given twice"),
        ("- just\n- a list\n", "must be a mapping"),
    ):
        with pytest.raises(ConfigError, match=expected):
            settings_from_text(text, source="x.yaml")


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("site: !- 3\n", "x.yaml:1:7: site:", "could not determine a constructor for the tag '!-'"),
        ("site: {name: x}\nstorage: {path: 2026-02-30}\n", "x.yaml:2:17: storage.path:", "day is out of range"),
        (
            "systems:\n  - {name: a, servers: [10.0.0.1], ports: [!!float x]}\n",
            "x.yaml:2:44: systems[0].ports[0]:",
            "float",
        ),
        ("detection: {port_scan: {window: 0x_}}\n", "x.yaml:1:33: detection.port_scan.window:", "base 16"),
    ],
)
def test_values_yaml_cannot_build_are_problems_at_their_place(text: str, where: str, reason: str) -> None:
    """Found by the mutation fuzz test: these escaped as yaml.ConstructorError or ValueError with a traceback."""
    with pytest.raises(ConfigError) as caught:
        settings_from_text(text, source="x.yaml")
    (problem,) = caught.value.problems  # once: not again as "should be a valid integer"
    assert str(problem).startswith(where)
    assert "cannot be read as a value" in str(problem) and reason in str(problem)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "none.yaml")
    sjis = tmp_path / "sjis.yaml"
    sjis.write_bytes("systems:\n  - name: 透析\n".encode("shift_jis"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(sjis)
