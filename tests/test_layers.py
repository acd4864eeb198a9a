"""The layers written down in pyproject.toml ([tool.importlinter]) hold, and the engine stays
free of frameworks at run time too (README, "Layout")."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
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


def _printed(probe: str) -> str:
    """What a fresh interpreter prints running `probe` (nothing imported beforehand)."""
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_importing_the_engine_loads_no_framework() -> None:
    probe = (
        "import sys\n"
        "import handlers.engine.engine, handlers.engine.dates, handlers.engine.forms\n"
        "import handlers.engine.render, handlers.engine.vocab\n"
        "loaded = sorted(m for m in ('aiogram', 'aiohttp', 'sqlalchemy', 'bot', 'storage')"
        " if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    assert _printed(probe) == ""


def test_the_layers_contract_has_no_exceptions() -> None:
    """No import is let through the layers contract: the services render no channel's cards and
    name no channel's module (README, "Layout")."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    assert contracts and all(not contract.get("ignore_imports") for contract in contracts)


def test_importing_the_services_loads_no_channel() -> None:
    """Every service module imported together, at run time: no channel package is loaded."""
    modules = sorted(
        f"bot.services.{path.stem}"
        for path in (ROOT / "bot" / "services").glob("*.py")
        if path.stem != "__init__"
    )
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "channels = ('handlers.telegram', 'handlers.messenger', 'handlers.web', 'bot.outbox')\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(channels))))\n"
    )
    assert "bot.services.moderation" in modules and "bot.services.reach" in modules
    assert _printed(probe) == ""


def test_the_services_and_the_messenger_channel_spell_its_name_alike() -> None:
    from bot.services.reach import MESSENGER  # noqa: PLC0415
    from handlers.messenger import CHANNEL  # noqa: PLC0415

    assert MESSENGER == CHANNEL


def test_the_outbox_worker_imports_no_platform_library() -> None:
    """The worker claims, orders, paces and records; each transport sorts its platform's
    errors (bot/outbox/transports.py), so the worker names none of them. The contract in
    pyproject.toml says so for lint-imports; this reads the module's own imports too."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert any(
        contract["type"] == "forbidden"
        and "bot.outbox.worker" in contract["source_modules"]
        and "aiogram" in contract["forbidden_modules"]
        for contract in contracts["contracts"]
    )
    tree = ast.parse((ROOT / "bot" / "outbox" / "worker.py").read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "bot.outbox.transports" in imported  # the platforms are reached through it
    assert sorted(name for name in imported if name.split(".")[0] in ("aiogram", "aiohttp")) == []
