"""Escaping at the edge: text that came from packets and logs made safe for each output's own format.

Every value an output writes may be hostile (a computer named ``<img src=/etc/passwd>``, a user named
``=cmd|'/c calc'!A1``, a service path with CR/LF). Each output escapes what it writes with the function for its
format; HTML is left to Django's autoescape. Imports nothing from mamori.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "CONTROL",
    "markdown",
    "one_line",
    "pdf_markup",
    "sd_param",
    "slack",
    "spreadsheet",
    "xlsx",
    "zabbix_field",
]

# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators: anything that could end a line.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NOT_IN_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # what the XML of a workbook cannot carry
_XLSX_CELL = 32767  # Excel's limit of characters in a cell (a longer one makes it "repair" the file)
_MARKUP = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SD_SPECIAL = re.compile(r'(["\\\]])')
_SLACK = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# CommonMark's inline syntax (emphasis, code, links, autolinks) anywhere, and what starts a block at the start.
_MARKDOWN_INLINE = re.compile(r"([\\`*_~\[\]()<>|!&])")
_MARKDOWN_BLOCK_MARK = re.compile(r"^(\s*)([#+-])(?=#{0,5}(\s|$))")  # a heading or a bullet (a marker and a space)
_MARKDOWN_ORDERED = re.compile(r"^(\s*\d{1,9})\.(?=\s|$)")  # "1. " starts a numbered list
_ZABBIX_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(value: object, limit: int | None = None) -> str:
    """``value`` as text on one line: every control character becomes U+FFFD; at most ``limit`` characters."""
    text = CONTROL.sub("\ufffd", str(value))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def spreadsheet(value: Any) -> Any:
    """A CSV cell: text Excel would run as a formula (= + - @, tab, CR at the start) gets a leading quote;
    None is an empty cell; other values stay as they are (CSV quoting itself is the csv module's)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def xlsx(value: Any) -> Any:
    """An XLSX cell: formula-escaped like a CSV cell, without the control characters a workbook cannot hold,
    and no longer than Excel takes."""
    if isinstance(value, str):
        text = _NOT_IN_XLSX.sub("\ufffd", value)
        return spreadsheet(text if len(text) <= _XLSX_CELL else text[: _XLSX_CELL - 2] + "…")  # room for the quote
    return spreadsheet(value)


def pdf_markup(value: object, limit: int | None = 500) -> str:
    """Text for a reportlab Paragraph, which reads its text as markup (``<img src=...>`` would make it open a
    file; ``<admin>`` would vanish): ``&``, ``<``, ``>`` escaped, control characters replaced, long text cut (a
    cell taller than a page cannot be laid out)."""
    return "".join(_MARKUP.get(c, c) for c in one_line(value, limit))


def sd_param(value: object, limit: int = 512) -> str:
    """An RFC 5424 PARAM-VALUE: one line, then '"', '\\' and ']' escaped with a backslash (RFC 5424 §6.3.3)."""
    return _SD_SPECIAL.sub(r"\\\1", one_line(value, limit))


def slack(value: object, limit: int) -> str:
    """One line for a Slack text object: ``&``, ``<``, ``>`` escaped (no mention, link or channel can be made);
    at most ``limit`` characters as sent, an escape never cut in half."""
    out: list[str] = []
    size = 0
    for c in one_line(value, limit):
        piece = _SLACK.get(c, c)
        if size + len(piece) > limit - 1:
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def markdown(value: object, limit: int = 1000) -> str:
    """One line for Markdown (Teams): every character that could start emphasis, code, a link or an autolink is
    escaped with a backslash, and so is what would start a heading, quote or list."""
    text = _MARKDOWN_INLINE.sub(r"\\\1", one_line(value, limit))
    text = _MARKDOWN_BLOCK_MARK.sub(r"\1\\\2", text, count=1)
    return _MARKDOWN_ORDERED.sub(r"\1\\.", text, count=1)


def zabbix_field(value: object, separator: str = "|") -> str:
    """One field of a Zabbix trapper line: control characters become spaces, the separator becomes '¦'."""
    return _ZABBIX_UNSAFE.sub(" ", str(value)).replace(separator, "¦").strip()
