"""Exposure self-diagnosis without the network: the scan scope in the settings, nmap's argument list, the XML
reader on good, cut-short, hostile and entity-laden files, the judgement, and the store with hostile nmap text
through the CSV and XLSX exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from mamori.config import settings_from_text
from mamori.detection.book import AlertBook
from mamori.detection.exposure import judge_host, raise_scan_alerts
from mamori.detection.site_index import SiteIndex
from mamori.errors import ConfigError
from mamori.ingest.nmap_xml import NmapXmlError, read_nmap_xml
from mamori.reports.exposure import checklist_evidence, export_rows, exposure_header, site_rows
from mamori.reports.tables import read_xlsx_rows, to_csv, to_xlsx
from mamori.rules.render import summary
from mamori.scanner import nmap_argv
from mamori.storage import ExposureTable, Store

SITE = """\
segments:
  - {name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}
  - {name: 事務系, cidrs: [10.2.0.0/24], zone: sz}
  - {name: 透析, cidrs: [10.5.0.0/24], zone: medical}
systems:
  - name: 検査
    servers: [10.1.0.20]
    ports: [8443, 1433]
    terminals: [{mac: "02:00:00:00:00:01", ip: 10.2.0.7}]
scan:
  targets: [10.1.0.0/24, 10.2.0.11]
  exclude: [10.1.0.99]
  rate: 100
"""

HOSTILE_PRODUCT = "=cmd|'/c calc'!A1 <script>x</script>"


def _xml(product: str = "Samba smbd", *, close: bool = True) -> str:
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -n -sS 10.1.0.0/24" start="1733380000" version="7.93" xmloutputversion="1.05">
<host><status state="up" reason="arp-response"/><address addr="10.1.0.20" addrtype="ipv4"/>
<address addr="02:00:00:00:00:20" addrtype="mac"/><hostnames><hostname name="kensa-sv" type="PTR"/></hostnames>
<ports>
<port protocol="tcp" portid="445"><state state="open" reason="syn-ack"/>
<service name="microsoft-ds" product="{product}" method="probed"/></port>
<port protocol="tcp" portid="1433"><state state="open" reason="syn-ack"/>
<service name="ms-sql-s" method="table"/></port>
<port protocol="tcp" portid="8443"><state state="open" reason="syn-ack"/>
<service name="https-alt" method="table"/></port>
<port protocol="tcp" portid="3389"><state state="closed" reason="reset"/>
<service name="ms-wbt-server" method="table"/></port>
</ports></host>
<host><status state="down" reason="no-response"/><address addr="10.1.0.21" addrtype="ipv4"/></host>
"""
    if close:
        text += '<runstats><finished time="1733380009"/><hosts up="1" down="253" total="254"/></runstats>\n</nmaprun>\n'
    return text


def test_scan_scope_from_the_settings() -> None:
    scope = settings_from_text(SITE).site.scan
    assert scope is not None
    assert scope.targets == ("10.1.0.0/24", "10.2.0.11")
    assert scope.exclude == ("10.1.0.99", "10.5.0.0/24")  # the medical segment, not named by a target
    assert scope.medical_excluded == ("10.5.0.0/24",)
    assert 23 in scope.ports and 8443 in scope.ports and 5432 in scope.ports


def test_a_medical_device_named_in_the_targets_is_scanned() -> None:
    scope = settings_from_text(SITE.replace("10.2.0.11]", "10.2.0.11, 10.5.0.7]")).site.scan
    assert scope is not None and scope.medical_excluded == () and "10.5.0.7" in scope.targets


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("10.0.0.0/8", "too wide"),
        ("printer.local", "host names are not allowed"),
        ("10.1.0.5/24", "host bits"),
        ("10.1.0.99", "nothing of it would be scanned"),
        ("'-oN /etc/passwd'", "neither an address nor a network"),
    ],
)
def test_bad_targets_are_refused_with_their_line(target: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_text(SITE.replace("10.2.0.11]", f"{target}]"), source="site.yaml")
    text = str(info.value)
    assert "site.yaml:11:" in text and "scan.targets[" in text and words in text


def test_nmap_argv_is_a_list_from_the_scope_only(tmp_path: Path) -> None:
    scope = settings_from_text(SITE).site.scan
    assert scope is not None
    argv = nmap_argv(scope, tmp_path / "out.xml", privileged=True)
    assert argv[:3] == ["nmap", "-n", "-sS"]
    assert argv[argv.index("--max-rate") + 1] == "100"
    assert argv[argv.index("--exclude") + 1] == "10.1.0.99,10.5.0.0/24"
    assert argv[argv.index("-oX") + 1] == str(tmp_path / "out.xml")
    assert argv[-2:] == ["10.1.0.0/24", "10.2.0.11"]
    bad = scope.__class__(targets=("10.1.0.0/24; rm -rf /",))
    with pytest.raises(ValueError):
        nmap_argv(bad, tmp_path / "out.xml")


def test_reading_nmap_xml(tmp_path: Path) -> None:
    path = tmp_path / "scan.xml"
    path.write_text(_xml(), encoding="utf-8")
    report = read_nmap_xml(path)
    assert report.version == "7.93" and report.hosts_down == 253 and report.complete
    (host,) = report.hosts
    assert (host.address, host.mac, host.hostname) == ("10.1.0.20", "02:00:00:00:00:20", "kensa-sv")
    assert [(p.port, p.state, p.service) for p in host.open_ports()] == [
        (445, "open", "microsoft-ds"),
        (1433, "open", "ms-sql-s"),
        (8443, "open", "https-alt"),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (_xml(close=False), "cut short"),
        (_xml()[:600], "damaged or cut short"),
        ("<html><body>proxy error</body></html>", "not nmap's XML"),
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><nmaprun>&a;</nmaprun>', "entities"),
        ("", "damaged or cut short"),
    ],
)
def test_broken_nmap_xml_gives_a_clear_error(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "scan.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NmapXmlError) as info:
        read_nmap_xml(path)
    assert str(path) in str(info.value) and words in str(info.value)


def test_judgement_by_role_previous_run_and_baseline() -> None:
    site = settings_from_text(SITE).site
    index = SiteIndex(site)
    # 1433 is listed for 10.1.0.20 and reached by a scanner in the same segment: needed, not "database".
    j = judge_host(index, "10.1.0.20", ["tcp/445", "tcp/1433", "tcp/8443"], observer="10.1.0.5")
    assert (j.unneeded, j.database, j.new) == (("tcp/445",), (), ())
    # From the clients' segment by an address that is not one of the system's terminals: "database".
    j = judge_host(index, "10.1.0.20", ["tcp/1433"], observer="10.2.0.99")
    assert j.database == ("tcp/1433",)
    # The system's own terminal reaching it is what the port is for.
    assert judge_host(index, "10.1.0.20", ["tcp/1433"], observer="10.2.0.7").database == ()
    # New since the previous run; the baseline silences what was approved.
    j = judge_host(
        index, "10.1.0.30", ["tcp/23", "tcp/80", "tcp/22"], previous=["tcp/80", "tcp/3389"], baseline=["tcp/23"]
    )
    assert (j.new, j.gone, j.unneeded, j.approved) == (("tcp/22",), ("tcp/3389",), ("tcp/22",), ("tcp/23",))
    assert j.reasons("tcp/22") == ("new", "unneeded") and j.reasons("tcp/23") == ("approved",)


def test_store_judge_and_export_hostile_nmap_text(tmp_path: Path) -> None:
    site = settings_from_text(SITE).site
    path = tmp_path / "scan.xml"
    path.write_text(_xml(HOSTILE_PRODUCT.replace("<", "&lt;").replace(">", "&gt;")), encoding="utf-8")
    report = read_nmap_xml(path)
    assert report.hosts[0].ports[0].product == HOSTILE_PRODUCT
    store = Store(tmp_path / "mamori.db")
    table = ExposureTable(store)
    index = SiteIndex(site)
    judged = [judge_host(index, "10.1.0.20", ["tcp/445", "tcp/1433", "tcp/8443"], observer="10.2.0.99")]
    run = table.save_run(
        started=report.started,
        scope={},
        argv=["nmap"],
        seconds=9.0,
        observer="10.2.0.99",
        report=report,
        reasons={"10.1.0.20": {k: judged[0].reasons(k) for k in judged[0].open_ports}},
    )
    book = AlertBook()
    services = {"10.1.0.20": {"tcp/445": f"microsoft-ds ({HOSTILE_PRODUCT})"}}
    raise_scan_alerts(book, index, judged, scan_id=run, ts=report.started, observer="10.2.0.99", services=services)
    (alert,) = book.collect_changes()
    assert alert.details.unneeded_ports == ("tcp/445",) and alert.details.database_ports == ("tcp/1433",)
    assert summary(alert, "en") == (
        "10.1.0.20 offers unneeded or new services (scan): 445 (SMB), 1433 (SQL Server) (system: 検査)"
    )
    rows = site_rows(table, site)
    assert [p.port for p in rows[0].findings] == [445, 1433]
    evidence = checklist_evidence(table, site)
    assert evidence.item_ok("2-12") is False and evidence.unneeded == {"10.1.0.20": ("tcp/445",)}
    assert evidence.database == {"10.1.0.20": ("tcp/1433",)}
    data = list(export_rows(rows, "en", lambda ts: "t"))
    # CSV: the product is text, never a formula
    out = to_csv(exposure_header("en"), data).decode("utf-8-sig")
    cells = next(r for r in csv.reader(io.StringIO(out)) if r and r[2] == "445 (SMB)")
    assert cells[5] == "'" + HOSTILE_PRODUCT
    # XLSX: the same
    sheet = read_xlsx_rows(to_xlsx(exposure_header("en"), data))
    assert next(r for r in sheet if r[2] == "445 (SMB)")[5] == "'" + HOSTILE_PRODUCT
    # Approving the host accepts its ports: no finding left, the checklist item is met.
    assert table.approve(["10.1.0.20"], user="kanri", now=report.started + 60) == 1
    assert site_rows(table, site)[0].findings == ()
    assert checklist_evidence(table, site).item_ok("2-12") is True
    store.close()
