"""Incidents in a real SQLite file: two writers (the packet sensor and the Windows log reader are separate
processes) group into the same incidents; a restarted writer goes on with them; a merge moves the alerts; the
status follows the alerts' handling; alerts stored before incidents existed are still there."""

from __future__ import annotations

from pathlib import Path

from mamori.incidents import IncidentRules
from mamori.model import Alert, Severity
from mamori.rules.network import UnregisteredTerminalDetails
from mamori.rules.windows import BruteForceDetails, LogClearedDetails, RdpLogonDetails
from mamori.storage import AlertFilter, Store, refresh_incidents

T0 = 1_800_000_000.0
VENDOR = "172.31.8.20"


def alert(uid: str, rule: str, at: float, *, severity: Severity = Severity.HIGH, **fields: object) -> Alert:
    return Alert(uid=uid, rule=rule, key=uid, severity=severity, first_seen=at, last_seen=at, count=1, **fields)  # type: ignore[arg-type]


def incident_of(store: Store, uid: str) -> str | None:
    from mamori.storage.models import AlertRecord

    return AlertRecord.objects.using(store.alias).get(uid=uid).incident_uid


def test_two_writers_and_a_restart_build_one_incident(tmp_path: Path) -> None:
    sensor, windows = Store(tmp_path / "m.db"), Store(tmp_path / "m.db")
    sensor.upsert_alerts(
        [alert("pkt", "unregistered-terminal", T0, src_ip=VENDOR, details=UnregisteredTerminalDetails())]
    )
    windows.upsert_alerts(
        [
            alert(
                "rdp",
                "rdp-logon",
                T0 + 60,
                src_ip=VENDOR,
                details=RdpLogonDetails(computer="EMR-SRV01", target_user="vendor01"),
            )
        ],
        origin="evtx",
    )
    restarted = Store(tmp_path / "m.db")  # a new process: its grouper starts from the table
    restarted.upsert_alerts(
        [
            alert(
                "clear",
                "log-cleared",
                T0 + 1200,
                severity=Severity.CRITICAL,
                details=LogClearedDetails(computer="EMR-SRV01"),
            )
        ],
        origin="evtx",
    )
    [incident] = restarted.incidents()
    assert incident.alert_uids == ("pkt", "rdp", "clear")
    assert incident.rules == ("unregistered-terminal", "rdp-logon", "log-cleared")
    assert (incident.status, incident.severity, incident.alert_count) == ("open", Severity.CRITICAL, 3)
    assert (incident.first_seen, incident.last_seen) == (T0, T0 + 1200)
    assert [a.uid for a in restarted.incident_alerts(incident.uid)] == ["pkt", "rdp", "clear"]
    # A growing alert keeps its incident.
    sensor.upsert_alerts(
        [alert("pkt", "unregistered-terminal", T0, src_ip=VENDOR, details=UnregisteredTerminalDetails())]
    )
    assert incident_of(sensor, "pkt") == incident.uid and len(sensor.incidents()) == 1


def test_a_linking_alert_merges_stored_incidents_and_moves_their_alerts(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    store.upsert_alerts([alert("scan", "port-scan", T0, src_ip=VENDOR)])
    store.upsert_alerts(
        [alert("brute", "brute-force", T0 + 300, details=BruteForceDetails(computer="EMR-SRV01", target_user="x"))]
    )
    first, second = incident_of(store, "scan"), incident_of(store, "brute")
    assert first != second and len(store.incidents()) == 2
    other = Store(tmp_path / "m.db")  # another writer makes the link
    other.upsert_alerts(
        [
            alert(
                "logon",
                "logon-after-failures",
                T0 + 400,
                src_ip=VENDOR,
                details=BruteForceDetails(computer="emr-srv01"),
            )
        ]
    )
    [merged] = other.incidents()
    assert merged.uid == first and set(merged.alert_uids) == {"scan", "brute", "logon"}
    from mamori.storage.models import IncidentRecord

    gone = IncidentRecord.objects.using(store.alias).get(uid=second)
    assert (gone.status, gone.merged_into) == ("merged", first)
    # The first writer learns of the merge before its next batch: the brute force's update stays in the survivor.
    store.upsert_alerts(
        [alert("brute", "brute-force", T0 + 300, details=BruteForceDetails(computer="EMR-SRV01", target_user="x"))]
    )
    assert incident_of(store, "brute") == first and len(store.incidents()) == 1


def test_the_incident_closes_when_every_alert_is_handled(tmp_path: Path) -> None:
    from mamori.storage.models import AlertRecord

    store = Store(tmp_path / "m.db")
    store.upsert_alerts([alert("a", "port-scan", T0, src_ip=VENDOR), alert("b", "syn-flood", T0 + 5, src_ip=VENDOR)])
    [incident] = store.incidents()
    rows = AlertRecord.objects.using(store.alias)
    rows.filter(uid="a").update(status="resolved")
    refresh_incidents(store.alias, [incident.uid])
    assert store.incidents()[0].status == "open"
    rows.filter(uid="b").update(status="acknowledged")  # someone is on it: not yet handled
    refresh_incidents(store.alias, [incident.uid])
    assert store.incidents()[0].status == "open"
    rows.filter(uid="b").update(status="false_positive")
    refresh_incidents(store.alias, [incident.uid])
    assert store.incidents()[0].status == "closed"
    assert store.incidents(open_only=True) == []
    # The attack goes on within the span: the incident takes the new alert and opens again.
    store.upsert_alerts([alert("c", "port-scan", T0 + 600, src_ip=VENDOR)])
    [again] = store.incidents()
    assert again.uid == incident.uid and again.status == "open" and again.alert_count == 3


def test_open_incidents_are_listed_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    store.upsert_alerts([alert("old", "port-scan", T0, src_ip="10.0.0.1")])
    store.upsert_alerts([alert("new", "port-scan", T0 + 10 * 3600, src_ip="10.0.0.2")])
    from mamori.storage.models import AlertRecord

    AlertRecord.objects.using(store.alias).filter(uid="new").update(status="resolved")
    refresh_incidents(store.alias, [str(incident_of(store, "new"))])
    assert [i.alert_uids for i in store.incidents()] == [("old",), ("new",)]


def test_alerts_stored_before_incidents_keep_working_and_grouping_can_be_turned_off(tmp_path: Path) -> None:
    plain = Store(tmp_path / "m.db", incidents=IncidentRules(enabled=False))
    plain.upsert_alerts([alert("old", "port-scan", T0, src_ip=VENDOR)])
    assert incident_of(plain, "old") is None
    assert plain.incidents() == [] and [a.uid for a in plain.alerts(AlertFilter())] == ["old"]
    grouped = Store(tmp_path / "m.db")
    grouped.upsert_alerts([alert("new", "port-scan", T0 + 60, src_ip=VENDOR)])
    [incident] = grouped.incidents()
    assert incident.alert_uids == ("new",)  # the old alert is not claimed; it still shows in the alert list
    assert {a.uid for a in grouped.alerts(AlertFilter())} == {"old", "new"}
