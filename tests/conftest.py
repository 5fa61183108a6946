"""Shared fixtures: a clean environment and the location of the real Kestra material in ../shared."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KESTRA_COPILOT_SHARED", REPO.parent / "shared")).resolve()


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not there (set KESTRA_COPILOT_SHARED to the shared folder)")
    return path


def real_flows() -> Iterator[dict]:
    """Every flow of ../shared/kestra-flows (dev.jsonl, then unlabeled.jsonl)."""
    for name in ("dev.jsonl", "unlabeled.jsonl"):
        with shared_path("kestra-flows", name).open(encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's keys, servers or config file."""
    for variable in list(os.environ):
        if variable.startswith(("GEMINI_", "GOOGLE_", "KESTRA_")) and variable != "KESTRA_COPILOT_SHARED":
            monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KESTRA_COPILOT_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("KESTRA_COPILOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KESTRA_COPILOT_CACHE_DIR", str(tmp_path / "cache"))
