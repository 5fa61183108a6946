"""What a command loads in a fresh process: `validate`, `diff` and `schema` — run by pre-commit hooks and
editors, once per file — load none of the model SDKs, the index, the HTTP client or the TUI; a valid flow
does not even load python-jsonschema (it explains an invalid one). bench/validate_cold.py times them; this
fails when an import creeps back in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.test_turn import INVALID, VALID, flow_of

NEVER = ("google.genai", "chromadb", "onnxruntime", "httpx", "textual", "numpy", "asyncio", "sqlite3")
RUN = """
import sys
from copilot.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("LOADED", *sorted(sys.modules))
"""


def loaded(argv: list[str], cwd: Path) -> set[str]:
    env = {
        "KESTRA_COPILOT_CACHE_DIR": str(cwd / "cache"),
        "KESTRA_COPILOT_DATA_DIR": str(cwd / "data"),
        "KESTRA_COPILOT_LIVE_SCHEMA": "false",  # the bundled catalog, with no network
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN.format(argv=argv)],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env={**_environment(), **env},
    )
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("LOADED ")
    return set(last.split()[1:])


def _environment() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("KESTRA_", "GEMINI_", "GOOGLE_"))}


def heavy(modules: set[str], extra: tuple[str, ...] = ()) -> list[str]:
    return sorted(m for m in modules for name in (*NEVER, *extra) if m == name or m.startswith(name + "."))


@pytest.mark.parametrize("runs", ["first", "cached"])
def test_validate_loads_no_model_index_http_or_tui_module(tmp_path: Path, runs: str) -> None:
    flow = tmp_path / "flow.yml"
    flow.write_text(flow_of(VALID))
    if runs == "cached":
        loaded(["validate", str(flow)], tmp_path)  # builds the catalog's cache
    assert heavy(loaded(["validate", str(flow)], tmp_path), extra=("jsonschema",)) == []


def test_validate_of_an_invalid_flow_loads_the_reference_validator_and_nothing_heavier(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yml"
    flow.write_text(flow_of(INVALID))  # a list where a duration belongs: the JSON schema refuses it
    modules = loaded(["validate", str(flow)], tmp_path)
    assert "jsonschema" in modules and heavy(modules) == []  # python-jsonschema explains what is wrong


def test_diff_and_schema_load_no_model_index_http_or_tui_module(tmp_path: Path) -> None:
    old, new = tmp_path / "old.yml", tmp_path / "new.yml"
    old.write_text(flow_of(VALID))
    new.write_text(flow_of(VALID).replace("message: hi", "message: hello"))
    assert heavy(loaded(["diff", str(old), str(new)], tmp_path)) == []
    assert heavy(loaded(["schema", "-o", str(tmp_path / "schema.json")], tmp_path), extra=("jsonschema",)) == []
