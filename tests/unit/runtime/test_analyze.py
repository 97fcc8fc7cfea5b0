"""analyze_captures: the site is asked for while the first capture is already being read."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from mamori.capture import FileSource, build_filter
from mamori.capture.decode import PayloadWatch
from mamori.model import Site
from mamori.runtime import analyze as analyze_module
from mamori.runtime import analyze_captures
from tests.conftest import LAB_SITE, make_settings

STRANGER_MAC = "02:00:00:00:0a:01"


class ForkedSource(FileSource):
    """A capture source that treats every file as large and reads it with libpcap: a reader process (the lab's files
    are small; the walker would read them in a thread)."""

    def __init__(self, path: Path, bpf: str, *, watch: PayloadWatch | None = None) -> None:
        super().__init__(path, bpf, parallel_min_bytes=1, watch=watch, walk=False)


def _walkers() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "mamori-pcap-walker")


def test_a_classic_pcap_is_walked_while_the_site_is_prepared(lab_pcaps: Path, tmp_path: Path) -> None:
    pytest.importorskip("mamori.capture._pcapwalk")  # built where a C compiler is (under CI a skip fails)
    settings = make_settings(LAB_SITE, tmp_path)
    walking: list[int] = []

    def site() -> Site:
        walking.append(_walkers())
        return settings.site

    result = analyze_captures(settings, [lab_pcaps / "nmap_sS_1-1000.pcap"], site=site)
    assert walking == [1]  # the walker's thread was already reading
    assert sorted(a.rule for a in result.alerts) == ["port-scan", "unregistered-terminal"]
    assert _walkers() == 0


def test_an_error_getting_the_site_stops_the_walker(lab_pcaps: Path, tmp_path: Path) -> None:
    settings = make_settings(LAB_SITE, tmp_path)

    def site() -> Site:
        raise RuntimeError("the database is locked")

    with pytest.raises(RuntimeError, match="locked"):
        analyze_captures(settings, [lab_pcaps / "nmap_sS_1-1000.pcap"], site=site)
    assert _walkers() == 0


def test_the_site_is_asked_for_once_the_first_capture_is_being_read(lab_pcaps: Path, tmp_path: Path) -> None:
    settings = make_settings(LAB_SITE, tmp_path)
    capture = lab_pcaps / "nmap_sS_1-1000.pcap"
    readers: list[int] = []

    def site() -> Site:  # as the command reads the ledger: here, the stranger was registered there
        readers.append(len(multiprocessing.active_children()))
        ledger = LAB_SITE + f'      - {{name: vendor-laptop, mac: "{STRANGER_MAC}"}}\n'
        return make_settings(ledger, tmp_path).site

    without = analyze_captures(settings, [capture])
    assert sorted(a.rule for a in without.alerts) == ["port-scan", "unregistered-terminal"]
    with_ledger = analyze_captures(settings, [capture], site=site)
    assert [a.rule for a in with_ledger.alerts] == ["port-scan"]  # the ledger's terminal is not a stranger
    assert readers == [0]  # a classic pcap: walked in a thread, no reader process


def test_a_large_capture_is_read_ahead_while_the_site_is_prepared(
    lab_pcaps: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analyze_module, "FileSource", ForkedSource)
    settings = make_settings(LAB_SITE, tmp_path)
    children: list[int] = []

    def site() -> Site:
        children.append(len(multiprocessing.active_children()))
        return settings.site

    result = analyze_captures(settings, [lab_pcaps / "nmap_sS_1-1000.pcap"], site=site)
    assert children == [1]  # the reader process was already running
    assert sorted(a.rule for a in result.alerts) == ["port-scan", "unregistered-terminal"]
    assert multiprocessing.active_children() == []


def test_a_reader_started_ahead_is_stopped_when_the_site_cannot_be_read(lab_pcaps: Path) -> None:
    source = FileSource(lab_pcaps / "nmap_sS_1-1000.pcap", build_filter(), parallel_min_bytes=1, walk=False)
    source.start()
    assert len(multiprocessing.active_children()) == 1
    source.close()
    assert multiprocessing.active_children() == []


def test_an_error_getting_the_site_stops_the_reader(
    lab_pcaps: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analyze_module, "FileSource", ForkedSource)
    settings = make_settings(LAB_SITE, tmp_path)

    def site() -> Site:
        raise RuntimeError("the database is locked")

    with pytest.raises(RuntimeError, match="locked"):
        analyze_captures(settings, [lab_pcaps / "nmap_sS_1-1000.pcap"], site=site)
    assert multiprocessing.active_children() == []
