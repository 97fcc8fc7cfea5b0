"""Reports and output formats: alerts as JSON and text, the terminal ledger, learn proposals and segments as CSV
for Excel, MAC vendor names (CSV/XLSX/PDF reports come with the dashboard)."""

from mamori.reports.alert_format import alert_line, alert_to_dict, alert_to_json, iso_time, local_time
from mamori.reports.oui import LOCALLY_ADMINISTERED, OuiRegistry
from mamori.reports.segments_csv import ParsedSegments, parse_segments, segments_yaml, write_segments
from mamori.reports.terminals_csv import (
    ENCODINGS,
    CsvProblem,
    ParsedTerminals,
    ProposalRow,
    decode_csv,
    parse_terminals,
    write_proposal,
    write_terminals,
)

__all__ = [
    "ENCODINGS",
    "LOCALLY_ADMINISTERED",
    "CsvProblem",
    "OuiRegistry",
    "ParsedSegments",
    "ParsedTerminals",
    "ProposalRow",
    "alert_line",
    "alert_to_dict",
    "alert_to_json",
    "decode_csv",
    "iso_time",
    "local_time",
    "parse_segments",
    "parse_terminals",
    "segments_yaml",
    "write_proposal",
    "write_segments",
    "write_terminals",
]
