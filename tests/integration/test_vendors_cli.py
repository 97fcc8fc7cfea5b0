"""`mamori vendors export/import` as an operator runs them: the vendor list to Excel (UTF-8 with BOM, Shift_JIS)
and back into the `vendors:` block, which the settings file accepts with the vendors' work plans kept."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import run_mamori

SITE = """\
site: {{name: テスト病院, time_zone: Asia/Tokyo}}
storage: {{path: {db}}}
vendors:
  - name: 透析装置メーカー
    sources: [10.9.0.0/24, 203.0.113.7]
    accounts: [vendor-dia]
    devices: [10.1.0.20, DIA-SRV01]
    work_plans:
      - {{start: 2026-11-10T09:00+09:00, end: 2026-11-10T12:00+09:00, ports: [3389], ticket: "作業計画 2026-118"}}
      - {{every: month, day: 1, time: "10:00", duration: 2h}}
  - name: '@SUM(A1)'
    sources: [198.51.100.0/28]
"""


def test_export_edit_in_excel_import_and_the_settings_file_accepts_it(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(db=tmp_path / "m.db"), encoding="utf-8")
    for encoding, codec in (("utf-8-sig", "utf-8-sig"), ("shift_jis", "cp932")):
        out = tmp_path / f"vendors-{encoding}.csv"
        run_mamori("vendors", "export", "--config", str(config), "-o", str(out), "--encoding", encoding)
        text = out.read_bytes().decode(codec)
        assert text.splitlines()[1].startswith(
            "透析装置メーカー,10.9.0.0/24 203.0.113.7,vendor-dia,10.1.0.20 DIA-SRV01,"
        )
        assert text.splitlines()[2].startswith("'@SUM(A1),")  # never a formula in Excel
    # The office adds a vendor in Excel (Shift_JIS) and reads it back; the plans of the file are kept.
    edited = tmp_path / "vendors-shift_jis.csv"
    edited.write_bytes(edited.read_bytes() + "画像装置メーカー,192.168.100.192/26,vendor-img,,,\r\n".encode("cp932"))
    block = tmp_path / "vendors.yaml"
    result = run_mamori("vendors", "import", str(edited), "--config", str(config), "-o", str(block))
    assert "wrote 3 vendor(s)" in result.stderr
    new = tmp_path / "new.yaml"
    new.write_text(f"storage: {{path: {tmp_path / 'm.db'}}}\n" + block.read_text(encoding="utf-8"), "utf-8")
    check = run_mamori("vendors", "export", "--config", str(new)).stdout
    assert "画像装置メーカー,192.168.100.192/26,vendor-img,,0 件" in check
    assert "透析装置メーカー,10.9.0.0/24 203.0.113.7,vendor-dia,10.1.0.20 DIA-SRV01,2 件" in check
    assert "ticket: 作業計画 2026-118" in block.read_text(encoding="utf-8")
    # A broken row: every problem with its row and column, no YAML, exit 2.
    bad = tmp_path / "bad.csv"
    bad.write_text("業者,接続元,保守対象機器\n透析装置メーカー,10.9.0.0/33,\n透析装置メーカー,,DIA-SRV01\n", "utf-8")
    result = run_mamori("vendors", "import", str(bad), check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert f"{bad}:2: 接続元:" in result.stderr and f"{bad}:3: 業者:" in result.stderr
    assert "used twice" in result.stderr and "問題 2 件" in result.stderr
