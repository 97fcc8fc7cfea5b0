"""The Japanese catalogue of the dashboard is complete and compiled: every message the templates and views use
has a Japanese translation in django.po, and django.mo (what Django reads) says exactly what django.po says.

After editing django.po: ``msgfmt --check -o django.mo django.po`` (Debian's gettext) in its folder.
"""

from __future__ import annotations

import ast
import gettext
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import mamori.web

WEB = Path(mamori.web.__file__).resolve().parent
MESSAGES = WEB / "locale" / "ja" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]")


@dataclass
class Entry:
    msgid: str
    msgstr: list[str] = field(default_factory=list)
    msgctxt: str | None = None
    plural: str | None = None
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False
    line: int = 0


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unquote(text: str, line: int) -> str:
    text = text.strip()
    assert text.startswith('"') and text.endswith('"') and len(text) >= 2, f"django.po:{line}: not a string: {text}"
    return re.sub(r"\\(.)", lambda m: _ESCAPES[m.group(1)], text[1:-1])


def _append(entry: Entry, target: tuple[str, int], value: str) -> None:
    """Add a string to the field it continues (or starts)."""
    name, index = target
    if name == "msgstr":
        if index == len(entry.msgstr):
            entry.msgstr.append("")
        assert index == len(entry.msgstr) - 1, f"django.po:{entry.line}: msgstr[{index}] out of order"
        entry.msgstr[index] += value
    elif name == "msgid":
        entry.msgid += value
    elif name == "msgid_plural":
        entry.plural = (entry.plural or "") + value
    elif name == "msgctxt":
        entry.msgctxt = (entry.msgctxt or "") + value
    else:
        raise AssertionError(f"django.po:{entry.line}: unknown keyword {name!r}")


def parse_po(path: Path) -> list[Entry]:
    """A small PO parser: msgctxt, msgid, msgid_plural, msgstr, msgstr[n], continued strings, flags, obsolete."""
    entries: list[Entry] = []
    current: Entry | None = None
    flags: set[str] = set()
    target: tuple[str, int] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        obsolete = line.startswith("#~")
        line = line[2:].strip() if obsolete else line
        if line.startswith("#,"):
            flags |= {f.strip() for f in line[2:].split(",")}
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):  # a continued string
            assert current is not None and target is not None, f"django.po:{number}: a string with no keyword"
            _append(current, target, _unquote(line, number))
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and (current is None or current.msgstr):
            current = Entry(msgid="", flags=flags, obsolete=obsolete, line=number)
            entries.append(current)
            flags = set()
        assert current is not None, f"django.po:{number}: {keyword} before msgid"
        match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
        target = (
            ("msgstr", int(match.group(1))) if match else (keyword, len(current.msgstr) if keyword == "msgstr" else 0)
        )
        _append(current, target, _unquote(rest, number))
    return entries


def _catalogue() -> tuple[Entry, list[Entry]]:
    entries = parse_po(MESSAGES / "django.po")
    header = [e for e in entries if e.msgid == "" and e.msgctxt is None]
    assert len(header) == 1, "django.po needs exactly one header entry"
    return header[0], [e for e in entries if e is not header[0]]


# -- what the code asks to translate ------------------------------------------------------------------------------

_TRANSLATE = re.compile(r"""\{%\s*(?:translate|trans)\s+(?P<q>["'])(?P<text>.*?)(?P=q)(?P<rest>[^%]*)%\}""", re.S)
_UNDERSCORE = re.compile(r"""_\((?P<q>["'])(?P<text>.*?)(?P=q)\)""")
_BLOCK = re.compile(
    r"\{%\s*(?:blocktranslate|blocktrans)(?P<options>[^%]*)%\}(?P<body>.*?)"
    r"\{%\s*(?:endblocktranslate|endblocktrans)\s*%\}",
    re.S,
)
_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_CONTEXT = re.compile(r"""context\s+(?P<q>["'])(?P<text>.*?)(?P=q)""")


def _block_message(body: str, trimmed: bool) -> str:
    if trimmed:
        body = " ".join(line.strip() for line in body.strip().splitlines() if line.strip())
    return _VARIABLE.sub(r"%(\1)s", body.replace("%", "%%"))


def template_messages(text: str) -> set[tuple[str | None, str]]:
    found: set[tuple[str | None, str]] = set()
    for m in _TRANSLATE.finditer(text):
        if "noop" in m.group("rest").split():
            continue
        context = _CONTEXT.search(m.group("rest"))
        found.add((context.group("text") if context else None, m.group("text")))
    for m in _UNDERSCORE.finditer(text):
        found.add((None, m.group("text")))
    for m in _BLOCK.finditer(text):
        options = m.group("options")
        context = _CONTEXT.search(options)
        singular, _, plural = m.group("body").partition("{% plural %}")
        trimmed = "trimmed" in options.split()
        found.add((context.group("text") if context else None, _block_message(singular, trimmed)))
        if plural:
            found.add((context.group("text") if context else None, _block_message(plural, trimmed)))
    return found


_GETTEXT = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy"}
_PGETTEXT = {"pgettext", "pgettext_lazy", "npgettext", "npgettext_lazy"}


def python_messages(source: str) -> set[tuple[str | None, str]]:
    found: set[tuple[str | None, str]] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        strings = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in node.args]
        if name in _GETTEXT and strings[0] is not None:
            found.add((None, strings[0]))
            if name.startswith("ngettext") and len(strings) > 1 and strings[1] is not None:
                found.add((None, strings[1]))
        elif name in _PGETTEXT and len(strings) > 1 and strings[0] is not None and strings[1] is not None:
            found.add((strings[0], strings[1]))
    return found


def used_messages() -> dict[tuple[str | None, str], str]:
    used: dict[tuple[str | None, str], str] = {}
    for path in sorted(WEB.rglob("*.html")):
        for key in template_messages(path.read_text(encoding="utf-8")):
            used.setdefault(key, str(path.relative_to(WEB)))
    for path in sorted(WEB.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for key in python_messages(path.read_text(encoding="utf-8")):
            used.setdefault(key, str(path.relative_to(WEB)))
    return used


# -- the tests ----------------------------------------------------------------------------------------------------


def test_the_parser_reads_plurals_contexts_and_continued_lines(tmp_path: Path) -> None:
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#, python-format\nmsgid ""\n"%(n)s alert"\nmsgid_plural "%(n)s alerts"\nmsgstr[0] "アラート %(n)s 件"\n\n'
        'msgctxt "date"\nmsgid "From"\nmsgstr "開始"\n\n#~ msgid "Old"\n#~ msgstr "古い"\n',
        encoding="utf-8",
    )
    header, plural, context, old = parse_po(po)
    assert header.msgstr == ["Content-Type: text/plain; charset=UTF-8\n"]
    assert (plural.msgid, plural.plural, plural.msgstr, plural.flags) == (
        "%(n)s alert",
        "%(n)s alerts",
        ["アラート %(n)s 件"],
        {"python-format"},
    )
    assert (context.msgctxt, context.msgid, context.msgstr) == ("date", "From", ["開始"])
    assert old.obsolete


def test_the_extractor_reads_templates_like_makemessages() -> None:
    text = (
        '{% translate "Log in" %} {% trans \'Alerts\' %} {% translate "x" noop %} {{ r.ip|default:_("any") }}'
        '{% translate "From" context "date" %}'
        "{% blocktranslate count n=page.count %}{{ n }} alert{% plural %}{{ n }} alerts{% endblocktranslate %}"
        "{% blocktranslate trimmed with s=system %}\n  Register in\n  {{ s }}.\n{% endblocktranslate %}"
    )
    assert template_messages(text) == {
        (None, "Log in"),
        (None, "Alerts"),
        (None, "any"),
        ("date", "From"),
        (None, "%(n)s alert"),
        (None, "%(n)s alerts"),
        (None, "Register in %(s)s."),
    }


def test_header() -> None:
    header, _entries = _catalogue()
    text = header.msgstr[0]
    assert "Language: ja\n" in text
    assert "charset=UTF-8" in text
    assert "nplurals=1; plural=0;" in text  # Japanese has one form


def test_every_message_has_a_japanese_translation() -> None:
    _header, entries = _catalogue()
    problems = []
    for e in entries:
        where = f"django.po:{e.line}: {e.msgid!r}"
        if e.obsolete:
            problems.append(f"{where}: obsolete (#~): remove it")
        if "fuzzy" in e.flags:
            problems.append(f"{where}: fuzzy (msgfmt leaves it out of the .mo): check it and remove the flag")
        if not e.msgstr or not all(s.strip() for s in e.msgstr):
            problems.append(f"{where}: no Japanese translation")
        for s in e.msgstr:
            if set(PLACEHOLDER.findall(s)) != set(PLACEHOLDER.findall(e.msgid + (e.plural or ""))):
                problems.append(f"{where}: the placeholders differ in {s!r}")
    keys = [(e.msgctxt, e.msgid) for e in entries]
    problems += [f"{k!r} is in django.po twice" for k in {k for k in keys if keys.count(k) > 1}]
    assert not problems, "\n".join(problems)


def test_every_message_the_dashboard_uses_is_in_the_catalogue() -> None:
    _header, entries = _catalogue()
    known = {(e.msgctxt, e.msgid) for e in entries} | {(e.msgctxt, e.plural) for e in entries if e.plural}
    used = used_messages()
    assert len(used) > 100  # the extractor found the dashboard's messages
    missing = [
        f"{where}: {message!r}"
        for (ctx, message), where in sorted(used.items(), key=str)
        if (ctx, message) not in known
    ]
    assert not missing, "untranslated (shown in English to Japanese users):\n" + "\n".join(missing)


def test_the_mo_file_is_compiled_from_the_po_file() -> None:
    _header, entries = _catalogue()
    data = (MESSAGES / "django.mo").read_bytes()
    magic, _revision, count = struct.unpack_from("<III", data)
    assert magic == 0x950412DE
    assert count == len(entries) + 1, "django.mo has other messages than django.po: run msgfmt again"
    with (MESSAGES / "django.mo").open("rb") as f:
        mo = gettext.GNUTranslations(f)
    assert mo.info().get("language") == "ja"
    stale = []
    for e in entries:
        if e.plural is not None:
            got = [
                mo.npgettext(e.msgctxt, e.msgid, e.plural, n) if e.msgctxt else mo.ngettext(e.msgid, e.plural, n)
                for n in (1, 2)
            ]
            expected = [e.msgstr[0], e.msgstr[0]]
        else:
            got = [mo.pgettext(e.msgctxt, e.msgid) if e.msgctxt else mo.gettext(e.msgid)]
            expected = [e.msgstr[0]]
        if got != expected:
            stale.append(f"django.po:{e.line}: {e.msgid!r}: the .mo says {got!r}, the .po {expected!r}")
    assert not stale, "django.mo is older than django.po: run `msgfmt --check -o django.mo django.po`\n" + "\n".join(
        stale
    )
