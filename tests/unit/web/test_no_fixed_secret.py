"""No signing key ships with mamori: no module of the installed package (what the wheel holds) assigns Django's
SECRET_KEY, or passes it to ``settings.configure``, as a fixed string. The dashboard's key is generated on first
use (mamori.web.setup.secret_key)."""

from __future__ import annotations

import ast
from pathlib import Path

import mamori

PACKAGE = Path(mamori.__file__).resolve().parent


def _fixed_keys(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if "SECRET_KEY" in names and isinstance(node.value, ast.Constant):
                lines.append(node.lineno)
        elif isinstance(node, ast.keyword) and node.arg == "SECRET_KEY" and isinstance(node.value, ast.Constant):
            lines.append(node.value.lineno)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "SECRET_KEY" and isinstance(value, ast.Constant):
                    lines.append(key.lineno)
    return sorted(lines)


def test_the_scan_finds_a_fixed_key() -> None:
    assert _fixed_keys(ast.parse('SECRET_KEY = "x"\nconfigure(SECRET_KEY="y")\nd = {"SECRET_KEY": "z"}\n')) == [1, 2, 3]
    assert _fixed_keys(ast.parse('SECRET_KEY = make()\nd = {"SECRET_KEY": secret_key(s)}\n')) == []


def test_no_module_of_the_package_holds_a_fixed_secret_key() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 100
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in modules
        if (lines := _fixed_keys(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}
