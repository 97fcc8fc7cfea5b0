"""The ledger CSV for Excel: UTF-8 (BOM) and Shift_JIS round trips, every kind of bad row located by row and
column, the decision column of a `learn` proposal."""

from __future__ import annotations

import csv
import io

import pytest

from mamori.reports import ParsedTerminals, ProposalRow, decode_csv, parse_terminals, write_proposal, write_terminals
from mamori.storage import LedgerEntry

SYSTEMS = ("透析システム", "検査システム")
ROUTERS = {"02:10:00:00:00:01": "core-router"}
ENTRIES = [
    LedgerEntry("透析システム", "透析端末-1（２階）", "02:10:00:00:02:01", "192.168.10.101", "髙橋さんの席、①番"),
    LedgerEntry("透析システム", "透析端末-2", "02:10:00:00:02:02", None, ""),
    LedgerEntry("検査システム", '検査端末, "A"', "02:10:00:00:03:01", "192.168.10.121", "改行を\n含む備考"),
    LedgerEntry("検査システム", "via-router", "", "10.20.0.55", "ルータ経由"),
]


def _parse(text: str | bytes, encoding: str = "auto") -> ParsedTerminals:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_terminals(data, source="台帳.csv", systems=SYSTEMS, gateways=ROUTERS, encoding=encoding)


def _key(e: LedgerEntry) -> tuple[str, str, str, str | None, str]:
    return e.system, e.name, e.mac, e.ip, e.note


@pytest.mark.parametrize("encoding", ["utf-8-sig", "shift_jis"])
def test_round_trip_in_both_encodings(encoding: str) -> None:
    data = write_terminals(ENTRIES, encoding=encoding)
    assert data.endswith(b"\r\n")
    if encoding == "utf-8-sig":
        assert data.startswith(b"\xef\xbb\xbf")
    else:
        assert "システム".encode("cp932") in data
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    parsed = parse_terminals(data, source="export.csv", systems=SYSTEMS, gateways=ROUTERS)
    assert parsed.problems == []
    assert parsed.encoding == encoding  # detected
    assert [_key(e) for e in parsed.entries] == [_key(e) for e in ENTRIES]
    assert not parsed.proposal
    forced = parse_terminals(data, source="export.csv", systems=SYSTEMS, encoding=encoding)
    assert [_key(e) for e in forced.entries] == [_key(e) for e in ENTRIES]


def test_export_header_and_times() -> None:
    entry = LedgerEntry("透析システム", "透析端末-1", "02:10:00:00:02:01", source="learn", updated_at=1_800_000_000.0)
    lines = write_terminals([entry]).decode("utf-8-sig").splitlines()
    assert lines[0] == "システム,端末名,MAC アドレス,IP アドレス,備考,登録元,最終更新"
    assert lines[1].startswith("透析システム,透析端末-1,02:10:00:00:02:01,,,learn,20")


def test_shift_jis_cannot_hold_every_character() -> None:
    entry = LedgerEntry("透析システム", "𠮷野家の端末", "02:10:00:00:02:01")
    with pytest.raises(ValueError, match=r"row 2: '𠮷' cannot be written in shift_jis"):
        write_terminals([entry], encoding="shift_jis")
    assert "𠮷野家の端末" in write_terminals([entry], encoding="utf-8-sig").decode("utf-8-sig")


def test_encoding_detection() -> None:
    assert decode_csv("システム\r\n".encode("utf-8-sig")) == ("システム\r\n", "utf-8-sig")
    assert decode_csv("システム\r\n".encode()) == ("システム\r\n", "utf-8")
    assert decode_csv("システム\r\n".encode("cp932")) == ("システム\r\n", "shift_jis")
    with pytest.raises(ValueError, match="UTF-16"):
        decode_csv("システム".encode("utf-16"))
    with pytest.raises(ValueError, match="line 2: byte 0x83 is not utf-8-sig text"):
        decode_csv(b"system,mac\r\n" + "システム".encode("cp932"), "utf-8-sig")
    problems = _parse(b"\xff\xfe", encoding="auto").problems
    assert [str(p) for p in problems] == [
        "台帳.csv:1: the file is UTF-16 (Excel's 'Unicode text'); save it as 'CSV UTF-8' or 'CSV' instead"
    ]


def test_every_bad_row_is_reported_with_its_row_and_column() -> None:
    text = (
        "# 台帳 2026 年度\r\n"  # row 1: a comment
        "システム,端末名,MAC アドレス,IP アドレス,備考,設置場所\r\n"  # row 2: header (and an operator's own column)
        "透析システム,ok,02:10:00:00:02:01,192.168.10.101,,2F\r\n"  # 3
        "眼科システム,x,02:10:00:00:02:09,,,\r\n"  # 4: unknown system
        ",x,02:10:00:00:02:08,,,\r\n"  # 5: no system
        "透析システム,x,02:10:00:00:02,,,\r\n"  # 6: short MAC
        "透析システム,x,02:10:00:00:02:07,192.168.10.300,,\r\n"  # 7: bad IP
        "透析システム,x,,,,\r\n"  # 8: neither MAC nor IP
        "透析システム,dup,02-10-00-00-02-01,,,\r\n"  # 9: same MAC as row 3, other spelling
        "\r\n"  # 10: blank
        "検査システム,router,02:10:00:00:00:01,,,\r\n"  # 11: the router's MAC
        f"検査システム,{'長' * 201},02:10:00:00:03:09,,,\r\n"  # 12: name too long
        "検査システム,x,ff:ff:ff:ff:ff:ff,,,\r\n"  # 13: broadcast
    )
    parsed = _parse(text)
    got = [(p.row, p.column) for p in parsed.problems]
    assert got == [
        (4, "システム"),
        (5, "システム"),
        (6, "MAC アドレス"),
        (7, "IP アドレス"),
        (8, "MAC アドレス"),
        (9, "MAC アドレス"),
        (11, "MAC アドレス"),
        (12, "端末名"),
        (13, "MAC アドレス"),
    ]
    text_problems = [str(p) for p in parsed.problems]
    assert text_problems[0].startswith("台帳.csv:4: システム: '眼科システム' is not a system of the settings file")
    assert "'透析システム', '検査システム'" in text_problems[0]
    assert text_problems[2] == (
        "台帳.csv:6: MAC アドレス: '02:10:00:00:02' は MAC アドレスではありません（02:42:ac:11:00:02 のような "
        "16 進 2 桁 × 6） / '02:10:00:00:02' is not a MAC address (expected six hex pairs such as 02:42:ac:11:00:02)"
    )
    assert text_problems[3] == (
        "台帳.csv:7: IP アドレス: '192.168.10.300' は IPv4 / IPv6 アドレスではありません / "
        "'192.168.10.300' is not an IPv4 or IPv6 address"
    )
    assert "(rows 3 and 9)" in text_problems[5]
    assert "router 'core-router'" in text_problems[6]


def test_header_problems() -> None:
    parsed = _parse("name,ip\r\nx,10.0.0.1\r\n")
    assert [str(p).split(" (")[0] for p in parsed.problems] == [
        "台帳.csv:1: no システム / system column in the header row",
        "台帳.csv:1: no MAC アドレス / mac column in the header row",
    ]
    twice = _parse("system,mac,システム\r\n")
    assert [(p.row, p.column) for p in twice.problems] == [(1, "システム")]
    assert [str(p) for p in _parse("\r\n# only a comment\r\n").problems] == [
        "台帳.csv:1: no header row and no terminals: the file is empty"
    ]


def test_english_headers_full_width_addresses_and_ip_only_rows() -> None:
    text = (
        "System,Name,MAC address,IP address,Note\n"
        "透析システム,pc1,０２：１０：００：００：０２：０１,１９２．１６８．１０．１０１,\n"
        "検査システム,,,10.20.0.55,behind the router\n"
        "検査システム,,0210.0000.0302,,\n"
    )
    parsed = _parse(text)
    assert parsed.problems == []
    assert [_key(e) for e in parsed.entries] == [
        ("透析システム", "pc1", "02:10:00:00:02:01", "192.168.10.101", ""),
        ("検査システム", "10.20.0.55", "", "10.20.0.55", "behind the router"),
        ("検査システム", "02:10:00:00:03:02", "02:10:00:00:03:02", None, ""),
    ]


def test_decision_column() -> None:
    text = (
        "システム,端末名,MAC アドレス,IP アドレス,備考,判定\n"
        "透析システム,a,02:10:00:00:02:01,,,\n"
        "透析システム,b,02:10:00:00:02:02,,,はい\n"
        "透析システム,c,02:10:00:00:02:03,,,いいえ\n"
        "透析システム,d,02:10:00:00:02:04,,,No\n"
        "透析システム,e,02:10:00:00:02:05,,,reject\n"
        "透析システム,f,02:10:00:00:02:06,,,×\n"
        "透析システム,g,02:10:00:00:02:07,,,登録済み\n"
        "透析システム,h,not-a-mac,,,いいえ\n"  # declined rows are not validated
        "透析システム,i,02:10:00:00:02:09,,,たぶん\n"
    )
    parsed = _parse(text)
    assert parsed.proposal
    assert [str(p).split(" / ")[0] for p in parsed.problems] == [
        "台帳.csv:10: 判定: 'たぶん' is not a decision: leave it empty (or はい/yes) to register, "
        "いいえ/no/reject/× to skip"
    ]
    assert [e.name for e in parsed.entries] == ["a", "b"]
    assert (parsed.rejected, parsed.known) == (5, 1)


def test_a_proposal_reads_back_as_the_import_sees_it() -> None:
    rows = [
        ProposalRow(
            "透析システム",
            "learn-192.168.10.101",
            "02:10:00:00:02:01",
            "192.168.10.101",
            "",
            1_800_000_000.0,
            1_800_003_600.0,
            12,
            (6000,),
            (("192.168.10.101", 12),),
            "ローカル管理アドレス (locally administered)",
        ),
        ProposalRow(
            "検査システム",
            "via-router",
            "",
            "10.20.0.55",
            "ルータ経由",
            1_800_000_100.0,
            1_800_000_200.0,
            2,
            (443, 8080),
            (("10.20.0.55", 2),),
        ),
        ProposalRow(
            "検査システム",
            "learn-10.77.0.200",
            "02:66:00:00:be:ef",
            None,
            "port-scan",
            1_800_000_100.0,
            1_800_000_200.0,
            1000,
            (443,),
            (("10.77.0.200", 999), ("10.77.0.201", 1)),
            decision="いいえ",
        ),
    ]
    for encoding in ("utf-8-sig", "shift_jis"):
        data = write_proposal(rows, encoding=encoding, preamble=["判定: 空欄 = 登録する、いいえ = 登録しない"])
        text = data.decode("utf-8-sig" if encoding == "utf-8-sig" else "cp932")
        lines = text.splitlines()
        assert lines[0] == "# 判定: 空欄 = 登録する、いいえ = 登録しない"
        assert lines[1] == (
            "システム,端末名,MAC アドレス,IP アドレス,備考,初回,最終,接続回数,ポート,使用 IP,ベンダー,判定"
        )
        assert ",12,6000,192.168.10.101×12," in lines[2]
        assert ",443 8080,10.20.0.55×2,," in lines[3]
        parsed = parse_terminals(data, source="p.csv", systems=SYSTEMS)
        assert parsed.problems == []
        assert parsed.proposal
        assert parsed.rejected == 1
        assert [(e.system, e.mac, e.ip) for e in parsed.entries] == [
            ("透析システム", "02:10:00:00:02:01", "192.168.10.101"),
            ("検査システム", "", "10.20.0.55"),
        ]


HOSTILE_NAMES = ["=cmd|'/c calc'!A1", "+1", "-1", "@SUM(A1:A9)", '=HYPERLINK("http://evil.example","x")']


@pytest.mark.parametrize("encoding", ["utf-8-sig", "shift_jis"])
def test_names_excel_would_run_are_quoted_and_read_back_unchanged(encoding: str) -> None:
    entries = [
        LedgerEntry("透析システム", name, f"02:10:00:00:09:{i:02x}", None, note=name)
        for i, name in enumerate(HOSTILE_NAMES)
    ]
    data = write_terminals(entries, encoding=encoding)
    text, _ = decode_csv(data)
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))], cells  # Excel shows them as text
    parsed = parse_terminals(data, source="export.csv", systems=SYSTEMS, gateways=ROUTERS)
    assert parsed.problems == []
    assert [(e.name, e.note) for e in parsed.entries] == [(n, n) for n in HOSTILE_NAMES]
    rows = [ProposalRow("透析システム", n, "02:10:00:00:09:01", None, n, 1.0, 2.0, 3, (80,), ()) for n in ["-x"]]
    proposal = decode_csv(write_proposal(rows, encoding=encoding, preamble=["=not a formula either"]))[0]
    assert "'-x" in proposal and "'=not" not in proposal  # comment rows start with "# "
