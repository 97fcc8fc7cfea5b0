"""Sources of Windows events: .evtx files (also Windows Event Forwarding's ForwardedEvents.evtx), exported event
XML, and JSON lines from Winlogbeat / Elastic Agent, NXLog and evtx_dump. Sources only decode: every record
becomes a :class:`mamori.model.WindowsEvent`; no source knows a rule."""

from mamori.ingest.event_xml import XmlEventsFile
from mamori.ingest.evtx_reader import EvtxFile, EvtxWorkers, count_records, cpu_count, read_evtx_files
from mamori.ingest.files import LOG_SUFFIXES, WindowsLogFile, expand_paths, open_log
from mamori.ingest.forwarded import JsonLinesFile, event_from_json
from mamori.ingest.stats import ReadStats
from mamori.ingest.winevent import DecodeError, event_from_xml_json

__all__ = [
    "LOG_SUFFIXES",
    "DecodeError",
    "EvtxFile",
    "EvtxWorkers",
    "JsonLinesFile",
    "ReadStats",
    "WindowsLogFile",
    "XmlEventsFile",
    "count_records",
    "cpu_count",
    "event_from_json",
    "event_from_xml_json",
    "expand_paths",
    "open_log",
    "read_evtx_files",
]
