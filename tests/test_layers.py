"""The layers, as the imports show them: the front ends reach Kestra and the models only through the
application layer (copilot.workspace, copilot.conversation, copilot.events), and the low layers (the flow
toolkit, the Kestra client, the model adapters, retrieval) know nothing of the settings or the front ends."""

from __future__ import annotations

import ast
from pathlib import Path

import copilot

PACKAGE = Path(copilot.__file__).parent
ROOT = PACKAGE.parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every copilot module `path` imports, at the top, inside a function or for type checking, absolute."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import kestra`
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "copilot" or name.startswith("copilot.")}


def modules(*patterns: str) -> list[Path]:
    return sorted({path for pattern in patterns for path in PACKAGE.glob(pattern)})


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def crossings(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module_name(path)} imports {name}"
        for path in paths
        for name in sorted(imports(path))
        if any(within(name, package) for package in forbidden)
    ]


FRONT_ENDS = modules("tui/*.py", "cli*.py", "evaluation/runner.py", "mcp_server.py")


def test_the_walk_sees_the_imports_it_judges() -> None:
    """The check below cannot pass by finding nothing: the chat imports the application layer."""
    app = PACKAGE / "tui" / "app.py"
    assert {"copilot.workspace", "copilot.conversation", "copilot.events"} <= imports(app)
    assert "copilot.kestra.models" in imports(PACKAGE / "events.py")
    assert len(FRONT_ENDS) >= 12
    assert PACKAGE / "mcp_server.py" in FRONT_ENDS


def test_front_ends_reach_kestra_and_the_models_through_the_application_layer() -> None:
    assert crossings(FRONT_ENDS, ("copilot.kestra", "copilot.llm")) == []


def test_the_low_layers_know_nothing_of_the_settings_or_the_front_ends() -> None:
    low = modules("flows/**/*.py", "kestra/*.py", "llm/*.py", "retrieval/*.py")
    above = ("copilot.config", "copilot.workspace", "copilot.conversation", "copilot.tui", "copilot.cli")
    assert crossings(low, (*above, "copilot.engine", "copilot.evaluation")) == []


def test_the_flow_toolkit_stands_alone() -> None:
    """`copilot.flows` is a library of its own: no Kestra client, model, retrieval or engine."""
    assert (
        crossings(modules("flows/**/*.py"), ("copilot.kestra", "copilot.llm", "copilot.retrieval", "copilot.engine"))
        == []
    )
