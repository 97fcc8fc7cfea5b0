"""Logon rules on built events: brute force (burst, slow, per account), spraying, the logon that worked, the local
Administrator over NTLM, lockouts."""

from __future__ import annotations

import itertools

from mamori.config.windows import WindowsSettings
from mamori.detection.windows import WindowsEngine
from mamori.model import Severity
from mamori.rules.render import summary
from mamori.testing.winevents import event, failed_logon, logon

T0 = 1_800_000_000.0
ATTACKER = "10.77.0.66"


def engine(**settings: object) -> WindowsEngine:
    counter = itertools.count(1)
    return WindowsEngine(WindowsSettings.model_validate(settings), new_uid=lambda: f"uid-{next(counter)}")


def alerts_of(eng: WindowsEngine, rule: str) -> list:
    return [a for a in eng.collect_changes() if a.rule == rule]


def test_27_failures_in_10_seconds_are_one_brute_force_alert_per_source() -> None:
    eng = engine()
    eng.feed([failed_logon(T0 + i * 10 / 26, ip=ATTACKER) for i in range(27)])
    [alert] = alerts_of(eng, "brute-force")
    assert alert.count == 27
    assert alert.first_seen == T0
    assert alert.last_seen == T0 + 10
    assert alert.src_ip == ATTACKER
    assert alert.severity == Severity.HIGH
    assert alert.details["detection"] == "burst"
    assert alert.details["target_user"] == "ADMINISTRATOR"
    assert "総当たり攻撃" in summary(alert, "ja") and "Brute force" in summary(alert, "en")


def test_slow_guessing_five_a_minute_is_caught_by_the_slow_window() -> None:
    eng = engine()
    eng.feed([failed_logon(T0 + i * 12, ip=ATTACKER) for i in range(40)])  # 5 a minute for 8 minutes
    [alert] = alerts_of(eng, "brute-force")
    assert alert.details["detection"] == "slow"
    assert alert.count == 40
    assert alert.first_seen == T0


def test_a_user_mistyping_a_few_times_is_no_brute_force() -> None:
    eng = engine()
    eng.feed([failed_logon(T0 + i * 20, user="nurse01", ip="10.77.0.12") for i in range(4)])
    eng.feed([logon(T0 + 100, user="nurse01", ip="10.77.0.12", logon_type=2)])
    assert alerts_of(eng, "brute-force") == []


def test_failures_without_a_source_are_counted_per_target_account() -> None:
    eng = engine()
    eng.feed([failed_logon(T0 + i, ip="-") for i in range(15)])
    [alert] = alerts_of(eng, "brute-force")
    assert alert.src_ip is None
    assert alert.count == 15
    assert "送信元は記録なし" in summary(alert, "ja")


def test_a_source_alert_absorbs_its_failures_so_another_source_does_not_raise_a_per_account_alert() -> None:
    eng = engine()
    eng.feed([failed_logon(T0 + i, ip=ATTACKER) for i in range(12)])
    eng.feed([failed_logon(T0 + 20, ip="10.77.0.12")])
    alerts = alerts_of(eng, "brute-force")
    assert [a.src_ip for a in alerts] == [ATTACKER]


def test_brute_force_state_is_bounded() -> None:
    eng = engine(max_tracked=100)
    eng.feed([failed_logon(T0 + i * 0.01, ip=f"10.9.{i // 250}.{i % 250}") for i in range(5000)])
    rule = next(r for r in eng.rules if r.rule == "brute-force")
    assert len(rule._by_source) <= 100  # type: ignore[attr-defined]


def test_password_spray_many_accounts_from_one_source() -> None:
    eng = engine()
    eng.feed([failed_logon(T0 + i * 30, user=f"user{i:02d}", ip=ATTACKER) for i in range(12)])
    [alert] = alerts_of(eng, "password-spray")
    assert alert.details["accounts"] >= 10
    assert alert.src_ip == ATTACKER
    assert alert.first_seen == T0


def test_password_spray_with_explicit_credentials_4648() -> None:
    eng = engine()
    eng.feed(
        [
            event(T0 + i, 4648, {"SubjectUserName": "jwrig", "TargetUserName": f"u{i}", "IpAddress": "172.16.1.5"})
            for i in range(10)
        ]
    )
    [alert] = alerts_of(eng, "password-spray")
    assert alert.details["via"] == "explicit-credentials"
    assert alert.dst_ip == "172.16.1.5"


def test_success_after_failures_from_the_same_source_is_critical() -> None:
    eng = engine()
    eng.feed([failed_logon(T0 + i, ip=ATTACKER) for i in range(6)] + [logon(T0 + 7, ip=ATTACKER, logon_type=3)])
    [alert] = alerts_of(eng, "logon-after-failures")
    assert alert.severity == Severity.CRITICAL
    assert alert.details["failures"] == 6
    assert alert.details["matched_by"] == "source"
    assert alert.src_ip == ATTACKER


def test_success_after_failures_of_the_account_without_a_source_as_in_the_osaka_logs() -> None:
    eng = engine()
    eng.feed([failed_logon(T0 + i) for i in range(6)] + [logon(T0 + 3.5)])  # the success came mid-burst
    eng.feed([failed_logon(T0 + 7 + i) for i in range(3)])
    [alert] = alerts_of(eng, "logon-after-failures")
    assert alert.details["matched_by"] == "account"
    assert alert.details["logon_type"] == 10


def test_success_long_after_the_failures_is_not_linked() -> None:
    eng = engine()
    eng.feed([failed_logon(T0 + i, ip=ATTACKER) for i in range(6)] + [logon(T0 + 7200, ip=ATTACKER)])
    assert alerts_of(eng, "logon-after-failures") == []


def test_admin_ntlm_logon_is_low_for_failures_and_high_once_it_succeeds() -> None:
    eng = engine()
    eng.feed([failed_logon(T0, ip=ATTACKER, user="Administrator")])
    [alert] = alerts_of(eng, "admin-ntlm-logon")
    assert alert.severity == Severity.LOW
    eng.feed([logon(T0 + 5, ip=ATTACKER, logon_type=3, package="NTLM")])
    [alert] = alerts_of(eng, "admin-ntlm-logon")
    assert alert.severity == Severity.HIGH
    assert alert.details["successes"] == 1 and alert.details["failures"] == 1


def test_admin_ntlm_logon_ignores_domain_accounts_and_kerberos() -> None:
    eng = engine()
    eng.feed(
        [
            logon(T0, ip=ATTACKER, logon_type=3, package="NTLM", domain="HOSPITAL"),
            logon(T0 + 1, ip=ATTACKER, logon_type=3, package="Kerberos"),
        ]
    )
    assert alerts_of(eng, "admin-ntlm-logon") == []


def test_account_lockout() -> None:
    eng = engine()
    eng.feed(
        [event(T0, 4740, {"TargetUserName": "nurse01", "TargetDomainName": "WARD3-PC", "SubjectUserName": "DC01$"})]
    )
    [alert] = alerts_of(eng, "account-lockout")
    assert alert.details["caller_computer"] == "WARD3-PC"
    assert alert.severity == Severity.MEDIUM


def test_events_of_other_channels_with_the_same_id_are_ignored() -> None:
    eng = engine()
    eng.feed([failed_logon(T0 + i, ip=ATTACKER)._replace(channel="Application") for i in range(30)])
    assert eng.collect_changes() == []
