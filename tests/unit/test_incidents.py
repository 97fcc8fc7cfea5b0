"""The incident grouper: alerts linked by a source, an account or a target within the span are one incident; an
alert linking two incidents merges them; the span expires; the state is bounded; and the state reloaded from the
incidents as stored goes on grouping the same way (a restart)."""

from __future__ import annotations

import itertools

from mamori.config.windows import WindowsSettings
from mamori.detection.windows.engine import WindowsEngine
from mamori.incidents import Incident, IncidentGrouper, IncidentRules, alert_keys
from mamori.model import Alert, Severity
from mamori.rules.network import UnregisteredTerminalDetails
from mamori.rules.windows import BruteForceDetails, LogClearedDetails, RdpLogonDetails
from mamori.testing.winevents import CATERING_SERVER, VENDOR_IP, clear_every_log, osaka_chain

T0 = 1_800_000_000.0
HOUR = 3600.0


def alert(
    uid: str, at: float, *, until: float | None = None, severity: Severity = Severity.HIGH, **fields: object
) -> Alert:
    details = fields.pop("details", {})
    return Alert(
        uid=uid,
        rule=str(fields.pop("rule", "brute-force")),
        key=uid,
        severity=severity,
        first_seen=at,
        last_seen=until if until is not None else at,
        count=1,
        details=details,  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def grouper(prefix: str = "inc", **rules: float) -> IncidentGrouper:
    numbers = (f"{prefix}{n:03d}" for n in itertools.count(1))
    return IncidentGrouper(IncidentRules(**rules), new_uid=lambda: next(numbers))  # type: ignore[arg-type]


def test_keys_are_addresses_computers_and_accounts_normalised_and_generic_ones_left_out() -> None:
    a = alert(
        "a",
        T0,
        src_ip="172.31.8.20",
        dst_ip="0.0.0.0",
        details=BruteForceDetails(computer="EMR-SRV01.hospital.local", target_user="HOSPITAL\\Vendor01", source="-"),
    )
    assert alert_keys(a) == ("ip:172.31.8.20", "name:emr-srv01", "account:vendor01")
    cleared = alert("b", T0, details=LogClearedDetails(computer="EMR-SRV01", actor="SYSTEM"))
    assert alert_keys(cleared) == ("name:emr-srv01",)
    machine = alert("c", T0, details=BruteForceDetails(target_user="EMR-SRV02$", workstation="-"))
    assert alert_keys(machine) == ("name:emr-srv02",)  # a machine account is its computer
    group = alert("g", T0, rule="account-change", details=BruteForceDetails(target_user="Administrators"))
    assert alert_keys(group) == ()  # a group, not an account: every membership change names it
    many = alert("d", T0, details=BruteForceDetails(users=("alice", "bob")))
    assert alert_keys(many) == ()  # a spray over many accounts links nothing by them


def test_alerts_sharing_a_source_an_account_or_a_computer_are_one_incident_and_others_are_not() -> None:
    g = grouper()
    packets = alert(
        "pkt",
        T0,
        rule="unregistered-terminal",
        src_ip=VENDOR_IP,
        dst_ip="10.10.20.11",
        details=UnregisteredTerminalDetails(reason="unregistered-ip"),
    )
    logon = alert(
        "rdp",
        T0 + 60,
        rule="rdp-logon",
        src_ip=VENDOR_IP,
        details=RdpLogonDetails(computer="EMR-SRV01", target_user="vendor01"),
    )
    cleared = alert("clear", T0 + 1800, rule="log-cleared", details=LogClearedDetails(computer="emr-srv01"))
    other = alert("other", T0 + 100, src_ip="10.99.0.7", details=BruteForceDetails(computer="PACS-01"))
    result = g.group([packets, logon, cleared, other])
    assert result.assigned["pkt"] == result.assigned["rdp"] == result.assigned["clear"] == "inc001"
    assert result.assigned["other"] == "inc002"
    story = result.incidents["inc001"]
    assert (story.first_seen, story.last_seen, story.severity) == (T0, T0 + 1800, Severity.HIGH)
    assert set(story.keys) == {"ip:172.31.8.20", "ip:10.10.20.11", "name:emr-srv01", "account:vendor01"}
    assert result.merged == {}


def test_an_alert_linking_two_incidents_merges_them_into_the_first() -> None:
    g = grouper()
    first = g.group([alert("scan", T0, src_ip="172.31.8.20")])
    second = g.group([alert("brute", T0 + 600, details=BruteForceDetails(computer="EMR-SRV01", target_user="admin"))])
    assert first.assigned["scan"] == "inc001" and second.assigned["brute"] == "inc002"
    # The logon that worked: from the scanner's address, on the brute-forced computer.
    link = g.group(
        [
            alert(
                "logon",
                T0 + 900,
                severity=Severity.CRITICAL,
                src_ip="172.31.8.20",
                details=RdpLogonDetails(computer="emr-srv01"),
            )
        ]
    )
    assert link.assigned == {"logon": "inc001"}
    assert link.merged == {"inc002": "inc001"}
    assert link.incidents["inc001"].severity == Severity.CRITICAL
    assert "account:admin" in link.incidents["inc001"].keys
    assert len(g) == 1 and g.known("inc002") is None
    # An update of the merged incident's alert, stored as still in inc002, follows it to inc001.
    again = g.group([alert("brute", T0 + 600, until=T0 + 1000)], {"brute": "inc001"})
    assert again.assigned == {"brute": "inc001"} and again.merged == {}


def test_merges_within_one_batch_follow_each_other() -> None:
    g = grouper()
    result = g.group(
        [
            alert("a", T0, src_ip="10.0.0.1"),
            alert("b", T0 + 1, src_ip="10.0.0.2"),
            alert("c", T0 + 2, src_ip="10.0.0.3"),
            alert("ab", T0 + 3, src_ip="10.0.0.1", dst_ip="10.0.0.2"),
            alert("bc", T0 + 4, src_ip="10.0.0.3", dst_ip="10.0.0.2"),
        ]
    )
    assert set(result.assigned.values()) == {"inc001"}
    assert result.merged == {"inc002": "inc001", "inc003": "inc001"}
    assert list(result.incidents) == ["inc001"]


def test_the_span_expires_and_is_measured_from_either_side() -> None:
    g = grouper(span=2 * HOUR)
    g.group([alert("a", T0, until=T0 + HOUR, src_ip="10.0.0.1")])
    within = g.group([alert("b", T0 + 3 * HOUR, src_ip="10.0.0.1")])  # 2 h after the incident's last alert
    assert within.assigned["b"] == "inc001"
    later = g.group([alert("c", T0 + 5 * HOUR + 1, src_ip="10.0.0.1")])  # 2 h and 1 s after "b": a new story
    assert later.assigned["c"] == "inc002"
    # Old logs read after newer packets: an alert 1 h before the first incident's start still joins it.
    earlier = g.group([alert("d", T0 - HOUR, src_ip="10.0.0.1")])
    assert earlier.assigned["d"] == "inc001"


def test_the_state_is_bounded_and_forgets_the_quietest_incidents_first() -> None:
    g = grouper(max_open=100, max_keys=4)
    g.group([alert(f"a{n}", T0 + n, src_ip=f"10.0.{n // 250}.{n % 250 + 1}") for n in range(1000)])
    assert len(g) <= 100
    assert g.evicted >= 900
    assert g.known("inc1000") is not None and g.known("inc001") is None  # the newest kept, the oldest forgotten
    # Keys per incident are bounded too: an alert with many keys does not grow the incident past max_keys.
    wide = g.group(
        [
            alert(
                "w",
                T0 + 2000,
                src_ip="10.9.0.1",
                dst_ip="10.9.0.2",
                details=BruteForceDetails(computer="x", target_user="y", workstation="z"),
            )
        ]
    )
    assert len(next(iter(wide.incidents.values())).keys) == 4


def test_reloaded_state_groups_as_before_a_restart() -> None:
    before = grouper()
    first = before.group([alert("a", T0, src_ip="10.0.0.1", details=BruteForceDetails(computer="EMR-SRV01"))])
    stored = list(first.incidents.values())
    after = grouper("new")  # a new process: what the store holds is all it knows
    after.sync(stored)
    result = after.group([alert("b", T0 + HOUR, details=LogClearedDetails(computer="EMR-SRV01"))])
    assert result.assigned["b"] == first.assigned["a"]
    # A merge another process made: the merged incident is forgotten, its survivor takes its alerts.
    after.sync([Incident("inc001", T0, T0 + HOUR, Severity.HIGH, ("ip:10.0.0.1",), merged_into="zzz")])
    assert after.known("inc001") is None
    assert after.group([alert("c", T0 + HOUR, src_ip="10.0.0.1")]).assigned["c"] == "new001"


def test_the_osaka_chain_from_real_windows_rules_and_a_packet_alert_is_one_incident() -> None:
    uids = (f"w{n}" for n in itertools.count())
    engine = WindowsEngine(WindowsSettings(), new_uid=lambda: next(uids))
    events = sorted([*osaka_chain(), *clear_every_log(_after_chain())], key=lambda e: e.ts)
    engine.feed(events)
    windows = engine.collect_changes()
    rules = {a.rule for a in windows}
    assert {"brute-force", "logon-after-failures", "rdp-logon", "log-cleared", "rdp-outbound"} <= rules
    packets = alert(
        "pkt",
        windows[0].first_seen - 30,
        rule="unregistered-terminal",
        src_ip=VENDOR_IP,
        details=UnregisteredTerminalDetails(reason="unregistered-ip"),
    )
    result = grouper().group([packets, *windows])
    assert set(result.assigned.values()) == {"inc001"}, result.assigned
    keys = result.incidents["inc001"].keys
    assert f"ip:{VENDOR_IP}" in keys and f"name:{CATERING_SERVER.lower()}" in keys


def _after_chain() -> float:
    return max(e.ts for e in osaka_chain()) + 600
