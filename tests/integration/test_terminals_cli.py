"""`mamori terminals` with the installed command: a hospital's ledger from Excel (Shift_JIS), export and import
round trips in both encodings, a broken CSV that changes nothing, list and retire."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import json_lines, run_mamori

SITE = """\
storage: {{path: {db}}}
gateways:
  - {{name: core-router, mac: "02:70:00:00:00:01", ip: 192.168.70.1}}
systems:
  - name: 透析システム
    servers: [192.168.70.11]
    ports: [6000]
    terminals:
      - {{name: 透析端末-設定, mac: "02:70:00:00:02:09", ip: 192.168.70.109}}
  - name: 薬剤システム
    servers: [192.168.70.31]
    ports: [1433]
"""

# As the hospital's asset ledger was typed in Excel: Japanese headers, MACs in several spellings, a full-width
# IP, an IP-only terminal behind the router, and the operator's own column (設置場所).
LEDGER = (
    "システム,端末名,MAC アドレス,IP アドレス,備考,設置場所\r\n"
    "透析システム,透析端末-1（髙橋）,02:70:00:00:02:01,192.168.70.101,① 透析室,2F\r\n"
    "透析システム,透析端末-2,02-70-00-00-02-02,,DHCP,2F\r\n"
    "薬剤システム,薬剤端末-1,0270.0000.0401,１９２．１６８．７０．１３１,,1F\r\n"
    "薬剤システム,調剤室（ルータ経由）,,10.70.5.5,別棟,別棟\r\n"
)


def _site(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SITE.format(db=tmp_path / f"{name}.db"), encoding="utf-8")
    return path


def _ledger(site: Path, *extra: str) -> list[tuple[str, str, str | None, str | None, str]]:
    rows = json_lines(run_mamori("terminals", "list", "--config", str(site), "--json", *extra).stdout)
    return sorted((r["system"], r["name"], r["mac"], r["ip"], r["note"]) for r in rows if r["source"] != "settings")


EXPECTED = [
    ("薬剤システム", "薬剤端末-1", "02:70:00:00:04:01", "192.168.70.131", ""),
    ("薬剤システム", "調剤室（ルータ経由）", None, "10.70.5.5", "別棟"),
    ("透析システム", "透析端末-1（髙橋）", "02:70:00:00:02:01", "192.168.70.101", "① 透析室"),
    ("透析システム", "透析端末-2", "02:70:00:00:02:02", None, "DHCP"),
]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "shift_jis"])
def test_excel_ledger_then_export_import_round_trip(tmp_path: Path, encoding: str) -> None:
    site, other = _site(tmp_path, "a"), _site(tmp_path, "b")
    ledger = tmp_path / "台帳.csv"
    ledger.write_bytes(LEDGER.encode("cp932"))  # Excel on Japanese Windows
    result = run_mamori("terminals", "import", "--config", str(site), str(ledger))
    assert "added: 4," in result.stdout
    assert "shift_jis" in result.stdout
    assert _ledger(site) == EXPECTED
    exported = tmp_path / f"export-{encoding}.csv"
    run_mamori("terminals", "export", "--config", str(site), "--output", str(exported), "--encoding", encoding)
    data = exported.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    assert "髙橋".encode("utf-8" if encoding == "utf-8-sig" else "cp932") in data
    result = run_mamori("terminals", "import", "--config", str(other), str(exported), "--encoding", encoding)
    assert "added: 4," in result.stdout
    assert _ledger(other) == EXPECTED
    # Importing the export again changes nothing.
    result = run_mamori("terminals", "import", "--config", str(other), str(exported))
    assert "added: 0, 更新 / updated: 0, 変更なし / unchanged: 4" in result.stdout
    stdout_export = run_mamori("terminals", "export", "--config", str(site))
    assert stdout_export.stdout.lstrip("\ufeff").startswith(
        "システム,端末名,MAC アドレス,IP アドレス,備考,登録元,最終更新"
    )


def test_a_broken_csv_changes_nothing(tmp_path: Path) -> None:
    site = _site(tmp_path, "a")
    good = tmp_path / "good.csv"
    good.write_bytes(LEDGER.encode("utf-8-sig"))
    run_mamori("terminals", "import", "--config", str(site), str(good))
    before = _ledger(site)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(
        (
            "システム,端末名,MAC アドレス,IP アドレス,備考\r\n"
            "透析システム,透析端末-1,02:70:00:00:02:01,192.168.70.201,moved\r\n"  # valid, but must not be applied
            "眼科システム,眼科端末,02:70:00:00:05:01,,\r\n"
            "透析システム,透析端末-3,02:70:00:00:02,192.168.70.103,\r\n"
            "薬剤システム,薬剤端末-2,02:70:00:00:04:02,192.168.70.1322,\r\n"
        ).encode("cp932")
    )
    for extra in ((), ("--dry-run",)):
        result = run_mamori("terminals", "import", "--config", str(site), str(broken), *extra, check=False)
        assert result.returncode == 2
        lines = result.stderr.splitlines()
        assert lines[0].startswith(f"{broken}:3: システム: '眼科システム' is not a system of the settings file")
        assert lines[1].startswith(f"{broken}:4: MAC アドレス: '02:70:00:00:02' は MAC アドレスではありません")
        assert "'02:70:00:00:02' is not a MAC address" in lines[1]
        assert lines[2].startswith(f"{broken}:5: IP アドレス: '192.168.70.1322' は IPv4 / IPv6 アドレスではありません")
        assert lines[2].endswith("'192.168.70.1322' is not an IPv4 or IPv6 address")
        assert "nothing was changed" in lines[3]
        assert _ledger(site) == before
    unreadable = run_mamori("terminals", "import", "--config", str(site), str(tmp_path / "none.csv"), check=False)
    assert unreadable.returncode == 2


def test_dry_run_list_and_retire(tmp_path: Path) -> None:
    site = _site(tmp_path, "a")
    ledger = tmp_path / "台帳.csv"
    ledger.write_bytes(LEDGER.encode("utf-8-sig"))
    dry = run_mamori("terminals", "import", "--config", str(site), str(ledger), "--dry-run")
    assert "added: 4," in dry.stdout and "nothing was changed" in dry.stdout
    assert _ledger(site) == []
    run_mamori("terminals", "import", "--config", str(site), str(ledger))
    listed = json_lines(run_mamori("terminals", "list", "--config", str(site), "--json").stdout)
    assert [t["name"] for t in listed if t["source"] == "settings"] == ["透析端末-設定"]
    table = run_mamori("terminals", "list", "--config", str(site)).stdout
    assert "透析端末-2" in table and "02:70:00:00:02:09" in table

    run_mamori("terminals", "retire", "--config", str(site), "--system", "透析システム", "--mac", "02-70-00-00-02-02")
    run_mamori("terminals", "retire", "--config", str(site), "--system", "薬剤システム", "--ip", "10.70.5.5")
    assert [name for _, name, *_ in _ledger(site)] == ["薬剤端末-1", "透析端末-1（髙橋）"]
    retired = json_lines(run_mamori("terminals", "list", "--config", str(site), "--json", "--retired").stdout)
    assert sorted(t["name"] for t in retired if t["retired_at"]) == ["調剤室（ルータ経由）", "透析端末-2"]
    again = run_mamori(
        "terminals",
        "retire",
        "--config",
        str(site),
        "--system",
        "透析システム",
        "--mac",
        "02:70:00:00:02:02",
        check=False,
    )
    assert again.returncode == 2
    in_file = run_mamori(
        "terminals",
        "retire",
        "--config",
        str(site),
        "--system",
        "透析システム",
        "--mac",
        "02:70:00:00:02:09",
        check=False,
    )
    assert in_file.returncode == 2 and "settings" in in_file.stderr
    # Importing the ledger again brings the retired terminals back.
    result = run_mamori("terminals", "import", "--config", str(site), str(ledger))
    assert "再登録 / re-activated: 2" in result.stdout
    assert _ledger(site) == EXPECTED


def test_export_quotes_names_excel_would_run(tmp_path: Path) -> None:
    site = _site(tmp_path, "a")
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(
        "システム,端末名,MAC アドレス,IP アドレス,備考\r\n"
        "透析システム,'=cmd|'/c calc'!A1,02:70:00:00:02:31,,+1 2F\r\n"  # typed in Excel with the quote
        '透析システム,"@SUM(A1:A9)",02:70:00:00:02:32,,-1\r\n',  # or not
        encoding="utf-8-sig",
    )
    run_mamori("terminals", "import", "--config", str(site), str(ledger))
    names = {(name, note) for _system, name, _mac, _ip, note in _ledger(site)}
    assert names == {("=cmd|'/c calc'!A1", "+1 2F"), ("@SUM(A1:A9)", "-1")}
    exported = run_mamori("terminals", "export", "--config", str(site)).stdout
    cells = [cell for line in exported.splitlines() for cell in line.split(",")]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))], exported
    assert "'=cmd|'/c calc'!A1" in exported and "'-1" in exported


def test_analyze_without_storing_judges_by_the_ledger_and_leaves_the_database_alone(tmp_path: Path) -> None:
    """analyze --no-store reads the ledger with a read-only query: its active terminals are not strangers, a
    retired one is, and the database file is not written (no migration, no alert; SQLite may add its
    -wal and -shm companions to read it)."""
    from mamori.model import SYN
    from mamori.testing.pcapbuilder import PcapWriter, eth, ipv4, tcp

    site = _site(tmp_path, "a")
    ledger = tmp_path / "台帳.csv"
    ledger.write_bytes(LEDGER.encode("utf-8-sig"))
    run_mamori("terminals", "import", "--config", str(site), str(ledger))
    run_mamori("terminals", "retire", "--config", str(site), "--system", "透析システム", "--mac", "02:70:00:00:02:02")
    capture = tmp_path / "syns.pcap"
    server = ("02:70:00:00:00:11", "192.168.70.11")
    with PcapWriter(capture) as writer:
        for i, (mac, ip) in enumerate(
            (("02:70:00:00:02:01", "192.168.70.101"), ("02:70:00:00:02:02", "192.168.70.102"))
        ):
            syn = tcp(ip, server[1], 50000 + i, 6000, SYN)
            writer.write(1_800_000_000.0 + i, eth(server[0], mac, 0x0800, ipv4(ip, server[1], 6, syn)))
    database = tmp_path / "a.db"
    before = database.stat().st_mtime_ns, database.read_bytes()
    alerts = json_lines(run_mamori("analyze", "--config", str(site), "--no-store", "--json", str(capture)).stdout)
    assert [(a["rule"], a["src_mac"]) for a in alerts] == [("unregistered-terminal", "02:70:00:00:02:02")]
    assert (database.stat().st_mtime_ns, database.read_bytes()) == before
