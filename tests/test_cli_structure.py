"""How the command line is put together: each command registers its parser with its handler, the command
modules do not import each other, the exit codes are defined once, and `--help` stays light."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

import copilot
from copilot import cli

PACKAGE = Path(copilot.__file__).parent


def _adds_commands(path: Path) -> bool:
    """A command module: it adds parsers (`commands.add_parser(…)`)."""
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_parser"
        for node in ast.walk(ast.parse(path.read_text()))
    )


COMMAND_MODULES = sorted(p.stem for p in PACKAGE.glob("cli_*.py") if _adds_commands(p))


def _leaves(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """Every command a user can type (`eval run`, `index build`, `validate`), with the parser it ends in."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        return [(words, parser)]
    return [leaf for name, sub in groups[0].choices.items() for leaf in _leaves(sub, (*words, name))]


def _imports(path: Path) -> set[str]:
    """The copilot modules `path` imports, at the top or inside a function (`from .x import y` is `x`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.add(node.module or "")
            if node.module is None:
                names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("copilot."):
            names.add(node.module.removeprefix("copilot."))
    return {name.partition(".")[0] for name in names}


def test_every_command_a_user_can_type_has_its_handler_registered_with_its_parser() -> None:
    leaves = _leaves(cli._parser())
    assert len(leaves) >= 18  # validate … eval sanity: the walk found them all
    missing = [" ".join(words) for words, parser in leaves if not callable(parser.get_default("handler"))]
    assert missing == []


def test_the_command_modules_do_not_import_each_other() -> None:
    assert {"cli_ask", "cli_eval", "cli_kestra", "cli_retrieval"} <= set(COMMAND_MODULES)
    crossed = {
        f"{module} imports {other}"
        for module in COMMAND_MODULES
        for other in _imports(PACKAGE / f"{module}.py") & ({"cli", *COMMAND_MODULES} - {module})
    }
    assert crossed == set()


def test_exit_codes_are_defined_in_one_module() -> None:
    defined = sorted(
        f"{path.relative_to(PACKAGE)}: {target.id}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "exitcodes.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in ast.walk(node)
        if isinstance(target, ast.Name) and isinstance(target.ctx, ast.Store) and target.id.startswith("EXIT_")
    )
    assert defined == []


def test_help_loads_no_engine_model_server_client_or_event_loop() -> None:
    """`kestra-copilot validate --help` builds every parser; the handlers' modules load only when one runs."""
    probe = (
        "import sys\n"
        "from copilot.cli import main\n"
        "try:\n"
        "    main(['validate', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('asyncio', 'httpx', 'yaml', 'copilot.engine', 'copilot.kestra', 'copilot.workspace',\n"
        "         'copilot.flows', 'copilot.evaluation', 'copilot.retrieval.index', 'copilot.tui')\n"
        "print(sorted(h for h in heavy if h in sys.modules or any(m.startswith(h + '.') for m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
