"""``mamori rules``: the detection rules of this installation, from the rule catalogue."""

from __future__ import annotations

import json

import click

from mamori.rules import catalogue
from mamori.rules.docs import rules_markdown

__all__ = ["rules"]


@click.command("rules")
@click.option("--json", "as_json", is_flag=True, help="1 行 1 ルールの JSON / one JSON object per rule per line.")
@click.option(
    "--markdown", is_flag=True, help="docs/rules.md の形の説明 / the explanations, as docs/rules.md has them."
)
@click.option("--lang", type=click.Choice(["ja", "en"]), default="ja", show_default=True, help="表示の言語 / language.")
def rules(as_json: bool, markdown: bool, lang: str) -> None:
    """検知ルールの一覧（意味と対応） / List the detection rules (what each means and what to do)."""
    known = catalogue()
    if markdown:
        click.echo(rules_markdown(known), nl=False)
        return
    for rule in known.values():
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": rule.id,
                        "category": rule.category,
                        "severity": rule.severity.label,
                        "title_ja": rule.title.ja,
                        "title_en": rule.title.en,
                        "meaning_ja": rule.meaning.ja,
                        "meaning_en": rule.meaning.en,
                        "response_ja": rule.response.ja,
                        "response_en": rule.response.en,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            click.echo(f"{rule.id:<24} {rule.severity.label:<9} {rule.title(lang)}: {rule.short(lang)}")
