"""The layers written down in pyproject.toml ([tool.importlinter]) hold, and the engine stays
free of frameworks at run time too (README, "Layout")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_importing_the_engine_loads_no_framework() -> None:
    probe = (
        "import sys\n"
        "import handlers.engine.engine, handlers.engine.dates, handlers.engine.forms\n"
        "import handlers.engine.render, handlers.engine.vocab\n"
        "loaded = sorted(m for m in ('aiogram', 'aiohttp', 'sqlalchemy', 'bot', 'storage')"
        " if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == ""
