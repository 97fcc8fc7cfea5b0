"""The migrations match the models: several branches add tables, and a model change without its migration would
only show on a user's first start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from pathlib import Path
from mamori.storage.setup import configure_django
configure_django(Path(sys.argv[1]))
from django.core.management import call_command
call_command("makemigrations", "storage", "--check", "--dry-run", verbosity=1)
call_command("migrate", verbosity=0)
"""


def test_the_models_need_no_new_migration_and_the_chain_applies(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "m.db")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
