"""``mamori segments export`` and ``import`` as a user runs them: the settings file's segments out to Excel's CSV
and back into YAML the settings file accepts; a broken CSV names every problem and writes nothing."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import run_mamori

SITE = """\
segments:
  - {name: 電子カルテ, cidrs: [10.1.0.0/24], zone: hsz}
  - {name: 事務系, cidrs: [10.2.0.0/24, 10.12.0.0/24], zone: sz, proxies: [10.2.0.5], note: 本館}
  - {name: 保守回線, cidrs: [172.16.50.0/24], zone: external, role: maintenance}
"""


def test_segments_go_out_as_csv_and_come_back_as_the_same_yaml(site_file, tmp_path: Path) -> None:
    site = site_file(SITE)
    csv_path = tmp_path / "segments.csv"
    done = run_mamori("segments", "export", "--config", str(site), "-o", str(csv_path), "--encoding", "shift_jis")
    assert "wrote 3 segment(s)" in done.stdout
    assert csv_path.read_bytes().decode("cp932").splitlines()[2] == "事務系,sz,10.2.0.0/24 10.12.0.0/24,10.2.0.5,,本館"
    yaml_text = run_mamori("segments", "import", str(csv_path)).stdout
    assert yaml_text == SITE
    check = run_mamori("check", "--config", str(site_file(yaml_text, "again.yaml")))
    assert "セグメント / segments: 3, ゾーンポリシー / zone policy: heasnet-large" in check.stdout


def test_a_broken_csv_names_every_problem_and_writes_no_yaml(tmp_path: Path) -> None:
    csv_path = tmp_path / "segments.csv"
    csv_path.write_text(
        "セグメント,ゾーン,ネットワーク\n電子カルテ,hsz,10.1.0.5/24\n事務系,オフィス,10.2.0.0/24\n", "utf-8"
    )
    out = tmp_path / "segments.yaml"
    result = run_mamori("segments", "import", str(csv_path), "-o", str(out), check=False)
    assert result.returncode == 2 and not out.exists()
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{csv_path}:2: ネットワーク: ") and "did you mean 10.1.0.0/24" in lines[0]
    assert lines[1].startswith(f"{csv_path}:3: ゾーン: ")
    assert "2 problem(s): no YAML written" in lines[2]
