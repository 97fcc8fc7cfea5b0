"""The checklist from a site with known state, through the commands as cron runs them (no dashboard): devices seen
in a capture fill the asset ledger (`mamori analyze`), an answer is confirmed (`mamori checklist answer`), the
checklist is written as XLSX (read back with openpyxl, converted by LibreOffice headless) and PDF (pdftotext,
pdftoppm), and the inspection pack's contents are listed."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from mamori.testing.pcapbuilder import SYN, PcapWriter, arp, eth, ipv4, tcp
from tests.integration.conftest import run_mamori

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

SITE = """\
storage: {{path: {db}}}
site: {{name: 北病院}}
segments:
  - {{name: 電子カルテ, cidrs: [192.168.70.0/26], zone: hsz}}
  - {{name: 事務系, cidrs: [192.168.70.64/26, 192.168.70.128/26], zone: sz}}
zone_policy: heasnet-small
systems:
  - name: 透析システム
    servers: [192.168.70.11]
    ports: [6000]
    terminals:
      - {{name: 透析端末-1, mac: "02:70:00:00:02:01", ip: 192.168.70.101}}
  - name: 薬剤システム
    servers: [192.168.70.31]
    ports: [1433]
  - name: 検査システム
    servers: [192.168.70.21]
    ports: [8080]
    terminals:
      - {{name: 検査端末-1, mac: "02:70:00:00:03:01", ip: 192.168.70.121}}
"""
HOSTILE_BY = "=cmd|'/c calc'!A1 <b>山田</b>"
SERVER_MAC = "02:70:00:00:00:11"
TERMINAL_MAC = "02:70:00:00:02:01"
UNKNOWN_MAC = "02:70:00:00:09:99"


def _capture(path: Path, t0: float) -> None:
    with PcapWriter(path) as w:
        w.write(
            t0,
            eth(
                "ff:ff:ff:ff:ff:ff",
                TERMINAL_MAC,
                0x0806,
                arp(1, TERMINAL_MAC, "192.168.70.101", "00:00:00:00:00:00", "192.168.70.11"),
            ),
        )
        syn = ipv4("192.168.70.101", "192.168.70.11", 6, tcp("192.168.70.101", "192.168.70.11", 40000, 6000, SYN))
        w.write(t0 + 1, eth(SERVER_MAC, TERMINAL_MAC, 0x0800, syn))
        synack = ipv4(
            "192.168.70.11", "192.168.70.101", 6, tcp("192.168.70.11", "192.168.70.101", 6000, 40000, 0x12, ack=1)
        )
        w.write(t0 + 1.01, eth(TERMINAL_MAC, SERVER_MAC, 0x0800, synack))
        probe = ipv4("192.168.70.99", "192.168.70.31", 6, tcp("192.168.70.99", "192.168.70.31", 40001, 1433, SYN))
        w.write(t0 + 2, eth("02:70:00:00:00:31", UNKNOWN_MAC, 0x0800, probe))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(SITE.format(db=tmp_path / "mamori.db"), encoding="utf-8")
    pcap = tmp_path / "seen.pcap"
    _capture(pcap, 1_790_000_000.0)
    run_mamori("analyze", "--config", str(path), str(pcap), check=False)
    return path


def test_the_checklist_shows_the_sites_state_and_goes_out_as_xlsx_pdf_and_a_pack(site: Path, tmp_path: Path) -> None:
    # the asset ledger from observation: the three MACs seen, the server's service, vendors column present
    csv_text = tmp_path / "assets.csv"
    run_mamori("assets", "--config", str(site), "-o", str(csv_text))
    rows = csv_text.read_bytes().decode("utf-8-sig").splitlines()
    assert len(rows) == 4
    by_mac = {r.split(",")[0]: r for r in rows[1:]}
    assert set(by_mac) == {SERVER_MAC, TERMINAL_MAC, UNKNOWN_MAC}
    assert "tcp/6000" in by_mac[SERVER_MAC] and "192.168.70.11" in by_mac[SERVER_MAC]
    assert "未確認 / unknown" in by_mac[UNKNOWN_MAC]

    # a person confirms 2-⑬ (hostile text as who answered and as a note)
    run_mamori(
        "checklist-answer",
        "--config",
        str(site),
        "--item",
        "2-⑬",
        "--answer",
        "no",
        "--target-on",
        "2027-03-31",
        "--checked-on",
        "2026-12-01",
        "--by",
        HOSTILE_BY,
        "--note",
        "@SUM(A1)",
    )
    xlsx = tmp_path / "checklist.xlsx"
    run_mamori("checklist", "--config", str(site), "--format", "xlsx", "-o", str(xlsx))
    book = load_workbook(xlsx)
    sheet = book["チェックリスト"]
    values = {row[0]: row for row in sheet.iter_rows(values_only=True) if row[0]}
    assert values["2-⑬"][1] == "接続元制限を実施している。（ネットワーク機器）"
    assert values["2-⑬"][2:6] == (None, "○", "2026-12-01", "2027-03-31")
    assert values["2-⑬"][6] == "'" + HOSTILE_BY  # formula escaped
    assert values["2-⑬"][8].startswith("'@SUM")
    assert values["2-⑦"][1].startswith("【文言未確認】")
    assert values["2-①"][7] == "いいえ（未確定）"  # never compared with reality: proposed, not final
    assert values["1-①"][2:4] == (None, None)  # answered by hand only
    evidence = {(r[0], r[4]) for r in book["根拠 Evidence"].iter_rows(min_row=2, values_only=True)}
    assert (
        "2-⑬",
        "3 の部門システムのうち 2 が接続元を正規端末（登録 2 台）に限定して監視しています。"
        "1 システムは端末が未登録です: 薬剤システム。",
    ) in evidence
    assert ("2-①", "観測した機器 3 台（確認済み 0、未確認 3、登録端末・サーバと一致 2、廃止 0）。") in evidence
    assert ("2-⑬", "過去30日の未登録端末からの接続の検知: 0 件。") in evidence

    pdf = tmp_path / "checklist.pdf"
    run_mamori("checklist", "--config", str(site), "--format", "pdf", "-o", str(pdf))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = "".join(text.split())
    assert "医療機関におけるサイバーセキュリティ対策チェックリスト（医療機関確認用）" in flat
    assert "接続元制限を実施している。" in flat and "<b>山田</b>" in flat and "【文言未確認】" in flat
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(ARTIFACTS / "checklist-pdf")], check=True
    )

    heasnet = tmp_path / "heasnet.xlsx"
    run_mamori("checklist", "--config", str(site), "--form", "heasnet-small", "-o", str(heasnet))
    hrows = {(r[0], r[4]) for r in load_workbook(heasnet)["根拠 Evidence"].iter_rows(min_row=2, values_only=True)}
    assert ("3-1-1", "部門システムのサーバ 3 台のうち High Secure Zone 外: 0 台。") in hrows
    assert any(n == "3-3-2" and "mamori が監視し、過去30日の違反の検知は 0 件" in t for n, t in hrows)

    # LibreOffice opens the workbook without a repair prompt: headless conversion succeeds and keeps the text
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("soffice (libreoffice-calc-nogui) is not installed")
    out = tmp_path / "lo"
    done = subprocess.run(
        [
            soffice,
            "--headless",
            "--norestore",
            f"-env:UserInstallation=file://{tmp_path}/lo-profile",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(xlsx),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    lo_text = subprocess.run(["pdftotext", str(out / "checklist.pdf"), "-"], capture_output=True, text=True).stdout
    assert "接続元制限を実施している" in "".join(lo_text.split())
    assert "repair" not in (done.stdout + done.stderr).lower()


def test_the_inspection_pack_holds_every_part(site: Path, tmp_path: Path) -> None:
    pack = tmp_path / "pack.zip"
    run_mamori("inspection-pack", "--config", str(site), "-o", str(pack))
    with zipfile.ZipFile(pack) as z:
        names = set(z.namelist())
        assert {
            "checklist/medical.xlsx",
            "checklist/medical.pdf",
            "checklist/heasnet-small.xlsx",
            "checklist/heasnet-small.pdf",
            "ledger/assets.csv",
            "ledger/assets.xlsx",
            "archive/verification.txt",
        } <= names
        assert any(n.startswith("monthly/monthly-") and n.endswith(".pdf") for n in names)
        assert z.read("archive/verification.txt").decode().startswith("証跡アーカイブはありません")
        load_workbook(io.BytesIO(z.read("checklist/medical.xlsx")))
        assert len(z.read("ledger/assets.csv").decode("utf-8-sig").splitlines()) == 4
