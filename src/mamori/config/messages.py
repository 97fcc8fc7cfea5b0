"""The settings file's problems in Japanese and English.

mamori's own validators raise their messages in both languages ("日本語 / English"). Pydantic's built-in checks
(types, ranges, required fields, unknown keys) speak English only: each error type gets its Japanese here, with the
values pydantic reports (the bound, the choices).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["bilingual", "pydantic_message"]


def bilingual(ja: str, en: str) -> str:
    return f"{ja} / {en}"


# error type -> (Japanese template, English template); templates take pydantic's ctx values
_BY_TYPE: dict[str, tuple[str, str]] = {
    "missing": ("必須の項目です（書かれていません）", "required (missing)"),
    "int_type": ("整数を書いてください", "expected a whole number"),
    "int_parsing": ("整数を書いてください", "expected a whole number"),
    "int_from_float": ("整数を書いてください（小数は使えません）", "expected a whole number, not a fraction"),
    "float_type": ("数値を書いてください", "expected a number"),
    "float_parsing": ("数値を書いてください", "expected a number"),
    "bool_type": ("true か false を書いてください", "expected true or false"),
    "bool_parsing": ("true か false を書いてください", "expected true or false"),
    "string_type": ("文字列を書いてください", "expected text"),
    "string_too_short": ("空にはできません", "cannot be empty"),
    "string_too_long": ("{max_length} 文字までです", "at most {max_length} characters"),
    "string_pattern_mismatch": ("書式が違います（{pattern}）", "does not match the expected form {pattern}"),
    "greater_than": ("{gt} より大きい値にしてください", "must be greater than {gt}"),
    "greater_than_equal": ("{ge} 以上にしてください", "must be at least {ge}"),
    "less_than": ("{lt} より小さい値にしてください", "must be less than {lt}"),
    "less_than_equal": ("{le} 以下にしてください", "must be at most {le}"),
    "too_short": ("少なくとも {min_length} 個必要です", "needs at least {min_length} item(s)"),
    "too_long": ("{max_length} 個までです", "at most {max_length} item(s)"),
    "literal_error": ("次のどれかを書いてください: {expected}", "expected one of {expected}"),
    "enum": ("次のどれかを書いてください: {expected}", "expected one of {expected}"),
    "dict_type": ("「名前: 値」の組（マッピング）を書いてください", "expected a mapping of names to values"),
    "model_type": ("「名前: 値」の組（マッピング）を書いてください", "expected a mapping of names to values"),
    "model_attributes_type": (
        "「名前: 値」の組（マッピング）を書いてください",
        "expected a mapping of names to values",
    ),
    "list_type": ("リスト（[a, b] か「- 」の行）を書いてください", "expected a list ([a, b] or lines starting '- ')"),
    "tuple_type": ("リスト（[a, b] か「- 」の行）を書いてください", "expected a list ([a, b] or lines starting '- ')"),
    "union_tag_invalid": (
        "type {tag!r} はありません。次のどれかです: {expected_tags}",
        "unknown type {tag!r}; expected one of {expected_tags}",
    ),
    "union_tag_not_found": ("type を書いてください", "the type is missing"),
    "path_type": ("ファイルのパスを書いてください", "expected a file path"),
}


def pydantic_message(error: Mapping[str, Any], key: str | int | None) -> str:
    """One pydantic error as "日本語 / English". ``key``: the last step of its location (an unknown key's name)."""
    kind = str(error.get("type", ""))
    message = str(error.get("msg", ""))
    if kind == "extra_forbidden":
        return bilingual(f"{key!r} という設定はありません", f"unknown setting {key!r}")
    if kind == "value_error":
        text = message.removeprefix("Value error, ")
        return text if " / " in text else bilingual("値が正しくありません", text)
    if kind == "assertion_error":
        return bilingual("値が正しくありません", message.removeprefix("Assertion failed, "))
    templates = _BY_TYPE.get(kind)
    if templates is None:
        return bilingual("値が正しくありません", message)
    ctx = {k: v for k, v in dict(error.get("ctx") or {}).items() if isinstance(v, str | int | float)}
    try:
        return bilingual(templates[0].format(**ctx), templates[1].format(**ctx))
    except (KeyError, IndexError, ValueError):
        return bilingual("値が正しくありません", message)
