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
    messages = [str(p) for p in caught.value.problems]  # all of them in one pass, in the order of the file
    assert len(messages) == 3, messages
    assert messages[0].startswith("s.yaml:5:51: systems[0].terminals[1].mac: MAC 02:00:00:00:00:01 は")
    assert "MAC 02:00:00:00:00:01 is registered twice in system 'A' (terminals[0])" in messages[0]
    assert messages[1].startswith("s.yaml:8:") and "already belongs to system 'A'" in messages[1]
    assert messages[2].startswith("s.yaml:9:") and "system name 'B' is used twice (systems[1])" in messages[2]


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


def test_lockout_limits_per_name_and_address() -> None:
    settings = settings_from_text("web: {lockout: {failures: 4, address_failures: 30, cooloff: 10m}}\n")
    lockout = settings.web.lockout
    assert (lockout.failures, lockout.address_failures, lockout.cooloff) == (4, 30, 600.0)
    assert settings_from_text("systems: []\n").web.lockout.address_failures == 20
    with pytest.raises(ConfigError, match=r"address_failures \(3\) must be at least failures \(5\)"):
        settings_from_text("web: {lockout: {failures: 5, address_failures: 3}}\n")


def test_schema_and_duplicate_problems_come_together_sorted_by_line_in_both_languages() -> None:
    text = """\
systems:
  - name: 透析システム
    servers: [10.0.0.1]
    ports: [6000]
    terminals:
      - {mac: "02:00:00:00:00:01"}
      - {mac: 02-00-00-00-00-01}
  - name: 透析システム
    servers: [10.0.0.1, 10.0.0.300]
    ports: [6000, 70000]
capture: {snaplen: big}
"""
    with pytest.raises(ConfigError) as caught:
        settings_from_text(text, source="s.yaml")
    problems = caught.value.problems
    assert [(p.line, p.field) for p in problems] == [
        (7, "systems[0].terminals[1].mac"),
        (8, "systems[1].name"),
        (9, "systems[1].servers[1].ip"),
        (10, "systems[1].ports"),
        (10, "systems[1].ports[1]"),
        (11, "capture.snaplen"),
    ]
    messages = [p.message for p in problems]
    assert "2 回登録されています" in messages[0] and "registered twice" in messages[0]
    assert "2 回使われています" in messages[1] and "is used twice" in messages[1]
    assert "IPv4 / IPv6 アドレスではありません / '10.0.0.300' is not an IPv4 or IPv6 address" in messages[2]
    assert "already belongs to system '透析システム'" in messages[3]
    assert messages[4] == "65535 以下にしてください / must be at most 65535"
    assert messages[5] == "整数を書いてください / expected a whole number"


def test_a_tab_says_use_spaces() -> None:
    text = "systems:\n  - name: A\n\tservers: [10.0.0.1]\n    ports: [80]\n\t\tterminals: []\n"
    with pytest.raises(ConfigError) as caught:
        settings_from_text(text, source="tab.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "tab.yaml:3:2: 字下げにタブは使えません。空白を使ってください / use spaces, not tabs, to indent",
        "tab.yaml:5:3: 字下げにタブは使えません。空白を使ってください / use spaces, not tabs, to indent",
    ]


def test_an_empty_file_or_no_systems_warns_that_nothing_would_be_monitored() -> None:
    for text in ("", "# まだ何も書いていません\n"):
        [warning] = settings_from_text(text, source="empty.yaml").warnings
        assert "ファイルが空です: 何も監視されません" in warning.message
        assert "nothing would be monitored" in warning.message
    [warning] = settings_from_text("capture: {interfaces: [eth1]}\n", source="bare.yaml").warnings
    assert "部門システム（systems）がありません" in warning.message and "nothing would be monitored" in warning.message
    assert settings_from_text(ISSUE_FORM).warnings == ()


def test_central_replicas_default_one_and_bounded_by_jetstream() -> None:
    """central.replicas: how many servers of a NATS cluster keep the stream (JetStream allows 1 to 5)."""
    base = "central:\n  servers: [tls://10.0.0.1:4222]\n  tls: {ca: ca.crt, cert: s.crt, key: s.key}\n"
    settings = settings_from_text(base, source="c.yaml")
    assert settings.central is not None and settings.central.replicas == 1
    settings = settings_from_text(base + "  replicas: 3\n", source="c.yaml")
    assert settings.central is not None and settings.central.replicas == 3
    for value in ("0", "6", "three"):
        with pytest.raises(ConfigError) as caught:
            settings_from_text(base + f"  replicas: {value}\n", source="c.yaml")
        (problem,) = caught.value.problems
        assert str(problem).startswith("c.yaml:4:13: central.replicas:"), str(problem)
