"""Readers: real .evtx files (also damaged copies), forwarded JSON lines in every form, exported XML."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from evtx import PyEvtxParser

from mamori.ingest import (
    EvtxFile,
    JsonLinesFile,
    XmlEventsFile,
    count_records,
    event_from_json,
    open_log,
    read_evtx_files,
)
from mamori.ingest.evtx_reader import _selected
from mamori.testing.winevents import JST, ecs_line, evtx_json_line, failed_logon, nxlog_line

SMB = Path("deepbluecli/evtx/smb-password-guessing-security.evtx")  # 3,561 records of 4625 (SOURCE.md)
CHUNK = 65536


@pytest.fixture
def smb(shared_data: Path) -> Path:
    return shared_data / "evtx" / SMB


def read_all(source) -> list:
    return [e for batch in source.batches() for e in batch]


def test_evtx_file_is_read_into_events_with_int_ids_and_data_fields(smb: Path) -> None:
    events = read_all(EvtxFile(smb))
    assert len(events) == 3561 == count_records(smb)
    first = events[0]
    assert first.event_id == 4625 and first.channel == "Security" and first.computer == "DESKTOP-M5SN04R"
    assert first.provider == "Microsoft-Windows-Security-Auditing"
    assert first.record_id == 1
    assert first.fields["LogonType"] == "3"  # numbers become text, as in the XML
    assert first.fields["IpAddress"] == "192.168.198.149"
    assert first.ts == pytest.approx(1474303806.477878)


def test_the_event_id_filter_skips_decoding(smb: Path) -> None:
    source = EvtxFile(smb, frozenset({4624}))
    assert read_all(source) == []
    assert source.stats.records == 3561 and source.stats.decoded == 0


def test_event_ids_are_read_from_the_text_in_every_form() -> None:
    texts = [
        '{"Event":{"System":{"EventID":{"#attributes":{"Qualifiers":16384},"#text":7045}}}}',
        '{"Event":{"System":{"EventID":4625,"Version":0}}}',
        '{"Event":{"System":{"EventID":46250,"Version":0}}}',  # not 4625
        '{"Event":{"System":{"EventID":4624,"Version":0}}}',  # not wanted
        '{"Event":{}}',  # no id found: decoded, and reported there
        '{"Event":{"System":{"EventID":"4625","Version":"0"}}}',  # every value as text
        '{"Event":{"System":{"EventID":{"#attributes":{"Qualifiers":"16384"},"#text":"7045"}}}}',
        '{"Event":{"System":{"EventID":"4624"}}}',  # not wanted
        '{"Event":{"System":{"EventID":{"#attributes":{"Qualifiers":0}},"Data":{"#text":4625}}}}',  # not the id
    ]
    records = iter([{"event_record_id": i, "data": text} for i, text in enumerate(texts)])
    [(selected, n, problems)] = list(_selected(records, frozenset({7045, 4625}), 20, 0))
    assert [record_id for record_id, _ in selected] == [0, 1, 4, 5, 6, 8]
    assert n == 9 and problems == []


def damaged_copy(smb: Path, tmp_path: Path, chunk: int, offset: int, length: int) -> Path:
    copy = tmp_path / "damaged.evtx"
    shutil.copyfile(smb, copy)
    with copy.open("r+b") as f:
        f.seek(4096 + chunk * CHUNK + offset)
        f.write(b"\xff" * length)
    return copy


def test_a_damaged_chunk_is_reported_and_the_rest_of_the_file_is_read(smb: Path, tmp_path: Path) -> None:
    copy = damaged_copy(smb, tmp_path, chunk=3, offset=0, length=8)  # the chunk header's signature
    source = EvtxFile(copy)
    events = read_all(source)
    assert 3300 < len(events) < 3561
    assert max(e.record_id for e in events) == 3561  # chunks after the damage were read
    assert source.stats.problem_count == 1
    assert "chunk" in source.stats.problems[0]
    assert source.stats.failed is None


def test_a_damaged_record_is_reported_and_the_chunks_after_it_are_read(smb: Path, tmp_path: Path) -> None:
    copy = damaged_copy(smb, tmp_path, chunk=5, offset=0xC000, length=64)  # inside a record, mid-chunk
    source = EvtxFile(copy)
    events = read_all(source)
    assert 3400 < len(events) < 3561
    assert max(e.record_id for e in events) == 3561
    assert source.stats.problem_count >= 1
    assert "record" in " ".join(source.stats.problems)


def test_a_file_that_is_not_evtx_fails_alone(tmp_path: Path, smb: Path) -> None:
    bogus = tmp_path / "bogus.evtx"
    bogus.write_bytes(b"ElfFile\x00" + b"\x00" * 100)
    files = [EvtxFile(bogus), EvtxFile(smb)]
    events = [e for _, batch in read_evtx_files(files, parallel_min_bytes=0) for e in batch]
    assert files[0].stats.failed is not None
    assert len(events) == 3561


def test_parallel_and_in_process_reading_give_the_same_events(smb: Path, shared_data: Path) -> None:
    other = shared_data / "evtx" / "deepbluecli" / "evtx" / "password-spray.evtx"
    local = [e for _, b in read_evtx_files([EvtxFile(smb), EvtxFile(other)], parallel_min_bytes=1 << 60) for e in b]
    forked = [e for _, b in read_evtx_files([EvtxFile(smb), EvtxFile(other)], parallel_min_bytes=0) for e in b]
    assert local == forked
    assert len(local) == 3561 + 295


def test_a_big_file_shared_among_workers_in_blocks_of_chunks_keeps_its_order(smb: Path, shared_data: Path) -> None:
    other = shared_data / "evtx" / "deepbluecli" / "evtx" / "password-spray.evtx"
    local = [e for _, b in read_evtx_files([EvtxFile(smb), EvtxFile(other)], parallel_min_bytes=1 << 60) for e in b]
    files = [EvtxFile(smb), EvtxFile(other)]
    assert len(files[0].shares(0, block_chunks=4)) == 13  # 49 chunks (34 in use), in blocks of 4
    shared = [e for _, b in read_evtx_files(files, parallel_min_bytes=0, workers=3, block_chunks=4) for e in b]
    assert shared == local
    assert files[0].stats.records == 3561 and files[0].stats.decoded == 3561


def test_a_damaged_chunk_in_a_shared_file_is_numbered_as_in_the_file(smb: Path, tmp_path: Path) -> None:
    copy = damaged_copy(smb, tmp_path, chunk=9, offset=0, length=8)
    whole = EvtxFile(copy)
    read_all(whole)
    shared = EvtxFile(copy)
    events = [e for _, b in read_evtx_files([shared], parallel_min_bytes=0, workers=2, block_chunks=4) for e in b]
    assert len(events) == whole.stats.decoded
    assert shared.stats.problems == whole.stats.problems
    assert "chunk number 9" in shared.stats.problems[0]


def test_a_file_without_the_evtx_header_is_not_shared_and_fails_once(tmp_path: Path) -> None:
    bogus = tmp_path / "big.evtx"
    bogus.write_bytes(b"\x00" * (4096 + 20 * CHUNK))
    file = EvtxFile(bogus)
    assert len(file.shares(0, block_chunks=4)) == 1
    assert list(read_evtx_files([file], parallel_min_bytes=0, workers=2, block_chunks=4)) == []
    assert file.stats.failed is not None


def test_stopping_early_leaves_no_worker_behind(smb: Path) -> None:
    import multiprocessing

    batches = read_evtx_files([EvtxFile(smb)] * 4, parallel_min_bytes=0, workers=2, block_chunks=4)
    first = next(batches)
    assert first[1]
    batches.close()
    assert multiprocessing.active_children() == []


SAMPLE = failed_logon(1667156832.0, user="ADMINISTRATOR", ip="-", logon_type=8)._replace(record_id=42)


@pytest.mark.parametrize(
    "line", [ecs_line(SAMPLE), nxlog_line(SAMPLE), evtx_json_line(SAMPLE)], ids=["ecs", "nxlog", "evtx_dump"]
)
def test_every_forwarded_form_gives_the_same_event(line: str) -> None:
    event = event_from_json(json.loads(line), "x", JST)
    assert event.event_id == 4625
    assert event.ts == SAMPLE.ts
    assert event.computer == SAMPLE.computer and event.channel == "Security"
    assert event.provider == SAMPLE.provider
    assert event.record_id == 42
    assert event.fields["SubStatus"] == "0xc000006a" and event.fields["LogonType"] == "8"
    assert "Message" not in event.fields  # the rendered message is never kept


def test_ecs_with_dotted_keys() -> None:
    doc = json.loads(ecs_line(SAMPLE))
    flat = {"@timestamp": doc["@timestamp"], **{f"winlog.{k}": v for k, v in doc["winlog"].items()}}
    assert event_from_json(flat).fields["TargetUserName"] == "ADMINISTRATOR"


def test_nxlog_local_times_follow_the_configured_zone() -> None:
    line = json.loads(nxlog_line(SAMPLE))
    assert line["EventTime"] == "2022-10-31 04:07:12"
    assert event_from_json(line, tz=JST).ts == SAMPLE.ts


def test_json_lines_file_reports_bad_lines_and_reads_the_rest_including_gzip(tmp_path: Path) -> None:
    text = "\n".join([ecs_line(SAMPLE), "not json", '{"hello": 1}', "", nxlog_line(SAMPLE)]) + "\n"
    plain = tmp_path / "events.jsonl"
    plain.write_text("\ufeff" + text, encoding="utf-8")
    packed = tmp_path / "events.json.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    for path in (plain, packed):
        source = open_log(path, tz=JST)
        assert isinstance(source, JsonLinesFile)
        events = read_all(source)
        assert len(events) == 2
        assert source.stats.problem_count == 2
        assert source.stats.problems[0].startswith("line 2:")


XML_EVENT = """<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>
<Provider Name="Microsoft-Windows-Eventlog"/><EventID Qualifiers="0">1102</EventID>
<TimeCreated SystemTime="2022-10-30T19:50:00.0000000Z"/>
<EventRecordID>77</EventRecordID><Channel>Security</Channel><Computer>KYUSHOKU-SV01</Computer></System>
<UserData><LogFileCleared xmlns="http://manifests.microsoft.com/win/2004/08/windows/eventlog">
<SubjectUserName>Administrator</SubjectUserName>
<SubjectDomainName>KYUSHOKU-SV01</SubjectDomainName></LogFileCleared></UserData>
<RenderingInfo Culture="ja-JP"><Message>監査ログが消去されました。</Message></RenderingInfo></Event>"""
XML_EVENT_2 = XML_EVENT.replace("1102", "4625").replace(
    "<UserData>",
    '<EventData><Data Name="TargetUserName">ADMINISTRATOR</Data><Data Name="IpAddress">-</Data></EventData><UserData>',
)


def test_wevtutil_xml_without_a_root_element(tmp_path: Path) -> None:
    path = tmp_path / "forwarded.xml"
    path.write_text(XML_EVENT + "\n" + XML_EVENT_2, encoding="utf-8")
    source = open_log(path)
    assert isinstance(source, XmlEventsFile)
    first, second = read_all(source)
    assert first.event_id == 1102 and first.record_id == 77
    assert first.fields["SubjectUserName"] == "Administrator"
    assert "Message" not in first.fields
    assert second.fields["TargetUserName"] == "ADMINISTRATOR"


def test_event_viewer_xml_in_utf16_with_a_root(tmp_path: Path) -> None:
    path = tmp_path / "saved.xml"
    text = '<?xml version="1.0" encoding="UTF-16"?>\n<Events>' + XML_EVENT + "</Events>"
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    [event] = read_all(open_log(path))
    assert event.computer == "KYUSHOKU-SV01"


def test_truncated_xml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.xml"
    path.write_text(XML_EVENT + XML_EVENT[:200], encoding="utf-8")
    source = open_log(path)
    events = read_all(source)
    assert len(events) == 1
    assert source.stats.problem_count == 1


def test_unknown_files_are_reported_not_read(tmp_path: Path) -> None:
    path = tmp_path / "notes.log"
    path.write_text("hello", encoding="utf-8")
    source = open_log(path)
    assert source.stats.failed is not None and "not a Windows event log" in source.stats.failed


# -- files that end early (copied while Windows was writing them, partial downloads) --------------------------------

SPRAY = Path("deepbluecli/evtx/password-spray.evtx")  # 295 records in 3 chunks (header: 200,704 bytes in use)


def cut_copy(source: Path, tmp_path: Path, size: int) -> Path:
    copy = tmp_path / f"cut-{size}.evtx"
    with source.open("rb") as f:
        copy.write_bytes(f.read(size))
    return copy


@pytest.mark.parametrize(
    ("size", "records", "chunk", "inside"),
    [
        (5_000, 0, 0, True),  # the issue: "0 records, no alerts"
        (30_000, 38, 0, True),  # the records before the cut in a chunk cut short are read too
        (69_632, 104, 1, False),  # a whole chunk, the next ones missing
        (70_000, 104, 1, True),  # the issue: "104 of 295 records, and nothing said"
        (140_000, 214, 2, True),
    ],
)
def test_an_evtx_file_that_ends_early_says_where_and_how_many_records_were_read(
    shared_data: Path, tmp_path: Path, size: int, records: int, chunk: int, inside: bool
) -> None:
    cut = cut_copy(shared_data / "evtx" / SPRAY, tmp_path, size)
    here = EvtxFile(cut)
    local = read_all(here)
    workers = EvtxFile(cut)
    forked = [e for _, b in read_evtx_files([workers], parallel_min_bytes=0, workers=2) for e in b]
    assert forked == local and len(local) == records
    for stats in (here.stats, workers.stats):
        assert stats.records == records and stats.failed is None
        assert stats.cut is not None
        assert (stats.cut.at, stats.cut.expected, stats.cut.chunk, stats.cut.inside_chunk) == (
            size,
            200_704,
            chunk,
            inside,
        )
        assert stats.cut.last_record == 295
        [first, *_] = stats.warnings()
        assert f"stops at byte {size:,} of 200,704" in first and f"{records:,} records were read" in first
        assert f"{size:,} バイトで切れています" in first and f"読めたレコードは {records:,} 件" in first


def test_a_big_file_that_ends_early_shared_among_workers_reads_what_one_process_reads(
    smb: Path, tmp_path: Path
) -> None:
    cut = cut_copy(smb, tmp_path, 4096 + 17 * CHUNK + 30_000)  # 34 chunks in use: stops inside chunk 17
    whole = EvtxFile(cut)
    local = read_all(whole)
    shared = EvtxFile(cut)
    events = [e for _, b in read_evtx_files([shared], parallel_min_bytes=0, workers=2, block_chunks=4) for e in b]
    assert len(shared.shares(0, block_chunks=4)) == 5
    assert events == local and len(local) < 3561
    skipping_the_short_chunk = sum(1 for _ in PyEvtxParser(str(cut)).records_json())  # the parser alone
    assert len(local) > skipping_the_short_chunk  # the records before the cut in chunk 17 were read too
    assert shared.stats.cut == whole.stats.cut and shared.stats.cut is not None and shared.stats.cut.chunk == 17


def test_whole_evtx_files_do_not_end_early(smb: Path, shared_data: Path) -> None:
    for path in (smb, shared_data / "evtx" / SPRAY):
        file = EvtxFile(path)
        read_all(file)
        assert file.stats.cut is None and file.stats.ends_early is None
        assert not [w for w in file.stats.warnings() if "ends early" in w]
