"""The terminal ledger as CSV for Excel: reading (every problem located by row and column) and writing.

Excel on Japanese Windows saves CSV in Shift_JIS (cp932); newer Excel saves "CSV UTF-8", with a byte order mark.
Reading detects which (``auto``); writing produces either, with CRLF line ends as Excel does. The header row is
Japanese (システム, 端末名, MAC アドレス, IP アドレス, 備考); the English names (system, name, mac, ip, note) are
accepted as well. Rows whose first cell starts with ``#`` are comments (a proposal's explanations).

A proposal from ``mamori learn`` has the same columns plus what was observed and a decision column (判定): empty
or はい/yes registers the row, いいえ/no/reject/× skips it, 登録済み/known marks an already registered terminal.
Pure functions: bytes in, entries and problems out; entries in, bytes out.

Names come from people and from the network (a learned host name): a cell Excel would run as a formula (starting
with = + - @, tab or CR) is written with a leading quote, and reading takes that quote off again, so an export
imports back unchanged.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mamori.config import normalize_ip, normalize_mac
from mamori.storage import LedgerEntry

__all__ = [
    "DECISION_KNOWN",
    "DECISION_REJECT",
    "ENCODINGS",
    "CsvLayout",
    "CsvProblem",
    "ParsedTerminals",
    "ProposalRow",
    "cell",
    "check_site_rows",
    "decode_csv",
    "encode_rows",
    "fold",
    "parse_terminals",
    "write_proposal",
    "write_terminals",
]

ENCODINGS = ("utf-8-sig", "shift_jis")
_CODECS = {"utf-8-sig": "utf-8-sig", "utf-8": "utf-8", "shift_jis": "cp932", "cp932": "cp932"}
_MAX_TEXT = 200  # the ledger's name and system columns
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# key -> (Japanese header, English header, further accepted spellings)
_COLUMNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "system": ("システム", "system", ("部門システム", "システム名")),
    "name": ("端末名", "name", ("名前", "端末")),
    "mac": ("MAC アドレス", "mac", ("mac address", "mac_address", "macアドレス")),
    "ip": ("IP アドレス", "ip", ("ip address", "ip_address", "ipアドレス")),
    "note": ("備考", "note", ("メモ", "notes")),
    "source": ("登録元", "source", ()),
    "updated": ("最終更新", "updated", ()),
    "first_seen": ("初回", "first_seen", ()),
    "last_seen": ("最終", "last_seen", ()),
    "connections": ("接続回数", "connections", ()),
    "ports": ("ポート", "ports", ()),
    "ips": ("使用 IP", "ips", ()),
    "vendor": ("ベンダー", "vendor", ()),
    "decision": ("判定", "decision", ()),
}
_LEDGER = ("system", "name", "mac", "ip", "note")
_EXPORT = (*_LEDGER, "source", "updated")
_PROPOSAL = (*_LEDGER, "first_seen", "last_seen", "connections", "ports", "ips", "vendor", "decision")

DECISION_REJECT = ("いいえ", "no", "n", "reject", "×", "✕", "x")
DECISION_KNOWN = ("登録済み", "登録済", "known")
_DECISION_ACCEPT = ("", "はい", "yes", "y", "ok", "accept", "○", "〇", "◯", "登録")


def fold(text: str) -> str:
    """Header and decision spellings compared without case, width or spaces: "ＭＡＣアドレス" == "mac アドレス"."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


_DECISIONS = {
    **{fold(v): "accept" for v in _DECISION_ACCEPT},
    **{fold(v): "reject" for v in DECISION_REJECT},
    **{fold(v): "known" for v in DECISION_KNOWN},
}


@dataclass(frozen=True)
class CsvProblem:
    """One problem in a CSV file: the row as Excel numbers it (the header is row 1) and the column's header."""

    file: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        column = f" {self.column}:" if self.column else ""
        return f"{self.file}:{self.row}:{column} {self.message}"


@dataclass
class ParsedTerminals:
    """The terminals a CSV registers, or the problems that prevent it. ``rejected`` rows were declined in the
    decision column; ``known`` rows were marked as already registered. Both are left out of ``entries``.
    ``proposal`` tells a ``mamori learn`` proposal (it has the decision column) from a ledger CSV."""

    entries: list[LedgerEntry] = field(default_factory=list)
    problems: list[CsvProblem] = field(default_factory=list)
    rejected: int = 0
    known: int = 0
    encoding: str = ""
    proposal: bool = False


def decode_csv(data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """Bytes -> (text, encoding used). ``auto``: a UTF-8 BOM means utf-8-sig, valid UTF-8 means utf-8, anything
    else is read as Shift_JIS (cp932). Raises ValueError naming the line of an undecodable byte."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError("the file is UTF-16 (Excel's 'Unicode text'); save it as 'CSV UTF-8' or 'CSV' instead")
    if encoding == "auto":
        if data.startswith(b"\xef\xbb\xbf"):
            encoding = "utf-8-sig"
        else:
            try:
                return data.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                encoding = "shift_jis"
    codec = _CODECS.get(encoding)
    if codec is None:
        raise ValueError(f"unknown encoding {encoding!r}; known: auto, {', '.join(ENCODINGS)}")
    try:
        return data.decode(codec), encoding
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(
            f"line {line}: byte 0x{data[exc.start]:02x} is not {encoding} text; save the file as CSV (UTF-8 or "
            "Shift_JIS)"
        ) from None


def parse_terminals(
    data: bytes,
    *,
    source: str,
    systems: Collection[str],
    gateways: Mapping[str, str] | None = None,
    encoding: str = "auto",
) -> ParsedTerminals:
    """Read and validate every row of a ledger, export or proposal CSV against the settings file's ``systems``
    and ``gateways`` (router MAC -> name: a router's MAC is never a terminal's). When ``problems`` is not empty
    the caller must register nothing."""
    result = ParsedTerminals()
    result.encoding, columns, _, records = _LAYOUT.read(data, source, encoding, result.problems)
    if result.problems:
        return result
    result.proposal = "decision" in columns
    seen: dict[tuple[str, str], int] = {}
    for number, row in records:
        entry = _row(row, number, columns, source, (systems, gateways or {}), result)
        if entry is None:
            continue
        key = entry.key
        if key in seen:
            what = f"MAC {entry.mac}" if entry.mac else f"IP {entry.ip} (without MAC)"
            label = _label(columns, "mac" if entry.mac else "ip")
            result.problems.append(
                CsvProblem(
                    source,
                    number,
                    label,
                    f"{what} is listed twice for {entry.system} (rows {seen[key]} and "
                    f"{number}) / 同じ端末が 2 回あります",
                )
            )
            continue
        seen[key] = number
        result.entries.append(entry)
    return result


@dataclass(frozen=True)
class CsvLayout:
    """The columns of one kind of CSV: key -> (Japanese header, English header, other spellings), the keys a file
    must have, and the order the header is written in (named in the message for a missing column)."""

    columns: Mapping[str, tuple[str, str, tuple[str, ...]]]
    required: tuple[str, ...]
    order: tuple[str, ...]
    what: str  # "terminals", "segments": for "no header row and no ..."

    def keys(self) -> dict[str, str]:
        return {fold(spelling): key for key, (ja, en, more) in self.columns.items() for spelling in (ja, en, *more)}

    def read(
        self, data: bytes, source: str, encoding: str, problems: list[CsvProblem]
    ) -> tuple[str, dict[str, tuple[int, str]], int, list[tuple[int, list[str]]]]:
        """(encoding used, column key -> (index, header as written), the header's row number, the numbered rows after
        the header). Blank
        and ``#`` comment rows are passed over; every problem of the file or its header goes to ``problems``."""
        try:
            text, used = decode_csv(data, encoding)
        except ValueError as exc:
            problems.append(CsvProblem(source, 1, "", str(exc)))
            return "", {}, 1, []
        rows = list(enumerate(csv.reader(io.StringIO(text, newline="")), start=1))
        body = [(n, r) for n, r in rows if any(cell.strip() for cell in r) and not r[0].lstrip().startswith("#")]
        if not body:
            problems.append(CsvProblem(source, 1, "", f"no header row and no {self.what}: the file is empty"))
            return used, {}, 1, []
        (header_row, header), *records = body
        columns = self._header(header, source, header_row, problems)
        return used, columns, header_row, records

    def _header(
        self, cells: Sequence[str], source: str, row: int, problems: list[CsvProblem]
    ) -> dict[str, tuple[int, str]]:
        """Column key -> (index, header as written). Unknown columns (the operator's own) are ignored."""
        keys = self.keys()
        columns: dict[str, tuple[int, str]] = {}
        for index, cell in enumerate(cells):
            key = keys.get(fold(cell))
            if key is None:
                continue
            if key in columns:
                problems.append(
                    CsvProblem(
                        source,
                        row,
                        cell.strip(),
                        f"the column is given twice (also column {columns[key][0] + 1}) / 列が 2 つあります",
                    )
                )
                continue
            columns[key] = (index, cell.strip())
        for key in self.required:
            if key not in columns:
                ja, en, _ = self.columns[key]
                problems.append(
                    CsvProblem(
                        source,
                        row,
                        "",
                        f"no {ja} / {en} column in the header row (expected: "
                        f"{', '.join(self.columns[k][0] for k in self.order)}) / ヘッダー行に {ja} 列がありません",
                    )
                )
        return columns


def cell(row: Sequence[str], columns: Mapping[str, tuple[int, str]], key: str) -> str:
    """The cell of column ``key`` in ``row``, stripped, as written before our formula escaping ("" if absent)."""
    index = columns.get(key, (-1, ""))[0]
    return _unquoted(row[index].strip()) if 0 <= index < len(row) else ""


def check_site_rows(
    layout: CsvLayout,
    rows: tuple[int, list[tuple[int, list[str]]]],
    columns: dict[str, tuple[int, str]],
    source: str,
    problems: list[CsvProblem],
    *,
    model: Any,
    to_item: Callable[[Sequence[str], dict[str, tuple[int, str]]], dict[str, Any]],
    checks: Callable[[dict[str, Any], Callable[[tuple[str | int, ...], str], None]], None],
    section: str,
) -> list[Any]:
    """Check a CSV of a site-file section (segments, vendors) row by row as the settings file would be: each row
    turned into the section's item (``to_item``) and validated by its pydantic ``model``, then the whole section by
    ``checks`` (duplicates, overlaps). Every problem goes to ``problems`` with its row and column as the file names
    it; returns the valid items. ``rows``: the header's row number and the numbered records."""
    from pydantic import ValidationError

    from mamori.config.messages import pydantic_message

    header_row, records = rows
    raw: list[dict[str, Any]] = []
    numbers: list[int] = []
    valid: list[Any] = []
    for number, row in records:
        item = to_item(row, columns)
        raw.append(item)
        numbers.append(number)
        try:
            valid.append(model.model_validate(item))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            for error in errors:
                key = str(error["loc"][0]) if error["loc"] else ""
                if error["type"] == "too_short" and any(len(e["loc"]) > 1 and e["loc"][0] == key for e in errors):
                    continue  # a list emptied by its own invalid items: the items' errors say it better
                label = columns[key][1] if key in columns else layout.columns.get(key, (key, "", ()))[0]
                problems.append(CsvProblem(source, number, label, pydantic_message(error, key)))

    def problem(path: tuple[str | int, ...], message: str) -> None:
        index = path[1] if len(path) > 1 and isinstance(path[1], int) else 0
        key = str(path[2]) if len(path) > 2 else ""
        label = columns[key][1] if key in columns else ""
        problems.append(CsvProblem(source, numbers[index] if numbers else header_row, label, message))

    checks({section: raw}, problem)
    return valid


_LAYOUT = CsvLayout(_COLUMNS, ("system", "mac"), _LEDGER, "terminals")


def _label(columns: dict[str, tuple[int, str]], key: str) -> str:
    return columns[key][1] if key in columns else _COLUMNS[key][0]


_Problem = Callable[[str, str], None]  # (column key, message)


def _row(
    row: Sequence[str],
    number: int,
    columns: dict[str, tuple[int, str]],
    source: str,
    site: tuple[Collection[str], Mapping[str, str]],
    result: ParsedTerminals,
) -> LedgerEntry | None:
    """One data row as an entry; None if it is declined, known, or has problems (appended to ``result``)."""

    def cell(key: str) -> str:
        index = columns.get(key, (-1, ""))[0]
        return _unquoted(row[index].strip()) if 0 <= index < len(row) else ""

    def problem(key: str, message: str) -> None:
        result.problems.append(CsvProblem(source, number, _label(columns, key), message))

    decision = _DECISIONS.get(fold(cell("decision")))
    if decision is None:
        problem(
            "decision",
            f"{cell('decision')!r} is not a decision: leave it empty (or はい/yes) to register, "
            "いいえ/no/reject/× to skip / 判定は 空欄・はい（登録）または いいえ・×（登録しない）",
        )
        return None
    if decision != "accept":
        result.rejected += decision == "reject"
        result.known += decision == "known"
        return None
    before = len(result.problems)
    systems, gateways = site
    system, name, note = cell("system"), cell("name"), cell("note")
    if not system:
        problem("system", "required: the department system the terminal belongs to / システムは必須です")
    elif system not in systems:
        known = ", ".join(repr(s) for s in systems) or "(none)"
        problem(
            "system",
            f"{system!r} is not a system of the settings file (systems: {known}) / 設定ファイルにないシステムです",
        )
    for key, value in (("system", system), ("name", name)):
        if len(value) > _MAX_TEXT:
            problem(key, f"longer than {_MAX_TEXT} characters / {_MAX_TEXT} 文字を超えています")
    mac, ip = _addresses(cell("mac"), cell("ip"), gateways, problem)
    if len(result.problems) > before:
        return None
    return LedgerEntry(system=system, name=name or mac or ip or "", mac=mac, ip=ip, note=note)


def _addresses(raw_mac: str, raw_ip: str, gateways: Mapping[str, str], problem: _Problem) -> tuple[str, str | None]:
    """(MAC or "", IP or None), reporting what is wrong with them. Full-width digits (０２：１０…) are accepted."""
    mac, ip = "", None
    if raw_mac:
        try:
            mac = normalize_mac(unicodedata.normalize("NFKC", raw_mac))
        except ValueError as exc:
            problem("mac", str(exc))
        if mac in gateways:
            problem(
                "mac",
                f"{mac} is the MAC of router {gateways[mac]!r}: a terminal behind it is registered by its IP "
                "address alone (leave the MAC empty) / ルータの MAC です。ルータ経由の端末は IP のみで登録します",
            )
    if raw_ip:
        try:
            ip = normalize_ip(unicodedata.normalize("NFKC", raw_ip))
        except ValueError as exc:
            problem("ip", str(exc))
    if not raw_mac and not raw_ip:
        problem(
            "mac",
            "required (or, for a terminal behind a router, an IP address alone) / "
            "MAC アドレスは必須です（ルータ経由の端末は IP アドレスのみでも可）",
        )
    return mac, ip


def _unquoted(text: str) -> str:
    """A cell as written by :func:`_formula_safe` reads back as it was."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text


# -- writing -------------------------------------------------------------------------------------------------------


def _formula_safe(value: object) -> object:
    """Text Excel would take for a formula gets a leading quote (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _local(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S") if ts is not None else ""


def encode_rows(rows: Iterable[Sequence[object]], encoding: str) -> bytes:
    """Rows as CSV bytes for Excel (CRLF, formula-safe cells) in ``encoding`` (utf-8-sig or shift_jis)."""
    codec = _CODECS.get(encoding)
    if codec is None or encoding == "cp932":
        raise ValueError(f"unknown encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    lines: list[str] = []
    for row in rows:
        writer.writerow([_formula_safe(v) for v in row])
        lines.append(out.getvalue())
        out.seek(0)
        out.truncate()
    try:
        return "".join(lines).encode(codec)
    except UnicodeEncodeError:
        pass
    for number, line in enumerate(lines, start=1):  # which row cannot be written, for the message
        try:
            line.encode(codec)
        except UnicodeEncodeError as exc:
            char = line[exc.start]
            raise ValueError(
                f"row {number}: {char!r} cannot be written in {encoding} (cp932); use --encoding utf-8-sig / "
                "Shift_JIS で表せない文字があります"
            ) from None
    raise AssertionError("unreachable: some line failed to encode")


def write_terminals(entries: Iterable[LedgerEntry], *, encoding: str = "utf-8-sig") -> bytes:
    """The ledger as CSV (the import columns plus 登録元 and 最終更新), in ``encoding`` (utf-8-sig or shift_jis)."""
    rows: list[Sequence[object]] = [[_COLUMNS[key][0] for key in _EXPORT]]
    for e in entries:
        rows.append([e.system, e.name, e.mac, e.ip or "", e.note, e.source, _local(e.updated_at)])
    return encode_rows(rows, encoding)


@dataclass(frozen=True)
class ProposalRow:
    """One proposed (or, with ``decision`` 登録済み, already registered) terminal, as the operator reviews it."""

    system: str
    name: str
    mac: str
    ip: str | None
    note: str
    first_seen: float
    last_seen: float
    connections: int
    ports: tuple[int, ...]
    ips: tuple[tuple[str, int], ...]
    vendor: str = ""
    decision: str = ""


def write_proposal(rows: Iterable[ProposalRow], *, encoding: str = "utf-8-sig", preamble: Sequence[str] = ()) -> bytes:
    """A proposal CSV: ``preamble`` lines as ``#`` comment rows, then the header and one row per terminal."""
    out: list[Sequence[object]] = [[f"# {line}"] for line in preamble]
    out.append([_COLUMNS[key][0] for key in _PROPOSAL])
    for r in rows:
        out.append(
            [
                r.system,
                r.name,
                r.mac,
                r.ip or "",
                r.note,
                _local(r.first_seen),
                _local(r.last_seen),
                r.connections,
                " ".join(str(p) for p in r.ports),
                " ".join(f"{ip}×{n}" for ip, n in r.ips),
                r.vendor,
                r.decision,
            ]
        )
    return encode_rows(out, encoding)
