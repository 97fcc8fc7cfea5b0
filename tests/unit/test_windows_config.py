"""The ``windows:`` settings section: defaults, addresses and networks, rule names, time zones, with locations."""

from __future__ import annotations

import pytest

from mamori.config.windows import WindowsSettings
from mamori.errors import ConfigError
from tests.conftest import make_settings


def test_defaults_without_a_windows_section() -> None:
    settings = make_settings("site: {name: test}\n")
    assert settings.windows == WindowsSettings()
    assert settings.windows.brute_force.burst_failures == 10
    assert settings.windows.brute_force.burst_window == 60.0


def test_hosts_networks_durations_and_one_or_many() -> None:
    settings = make_settings(
        """
        windows:
          rdp_admin_hosts: [192.168.10.5, 10.20.0.9/24]
          attack_tools: anydesk
          brute_force: {slow_window: 2h}
          log_timezone: Asia/Tokyo
        """
    )
    w = settings.windows
    assert w.rdp_admin_hosts == ("192.168.10.5/32", "10.20.0.0/24")
    assert w.attack_tools == ("anydesk",)
    assert w.brute_force.slow_window == 7200.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("windows: {rdp_admin_hosts: [10.0.0.300]}", "is not an IP address or network"),
        ("windows: {disabled_rules: [port-scan]}", "unknown Windows rule 'port-scan'; known: brute-force"),
        ("windows: {log_timezone: Mars/Olympus}", "is not a time zone name"),
        ("windows: {brute_force: {burst_failures: 1}}", "2 以上にしてください / must be at least 2"),
        ("windows: {rdp_hosts: []}", "unknown setting 'rdp_hosts'"),
    ],
)
def test_problems_are_reported_with_their_location(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(text)
    [problem] = caught.value.problems
    assert message in problem.message
    assert problem.line == 1 and problem.field.startswith("windows.")
