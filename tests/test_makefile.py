"""The Makefile: `make run PYTHON=…` with a .venv made by another interpreter makes it again, instead of
silently keeping the old one (a venv cannot change its Python)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    return tmp_path


def dry_run(clone: Path, *args: str) -> str:
    done = subprocess.run(["make", "-n", "run", *args], cwd=clone, capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def fake_python(clone: Path, version: str) -> None:
    python = clone / ".venv" / "bin" / "python"
    python.write_text(f"#!/bin/sh\necho '{version}'\n")
    python.chmod(0o755)


def test_a_venv_of_another_python_is_made_again_with_the_one_asked_for(clone: Path) -> None:
    fake_python(clone, "3.11.0 (an older build)")
    out = dry_run(clone, f"PYTHON={sys.executable}")
    assert ".venv was made with another Python" in out and f"{sys.executable} -m venv .venv" in out
    assert not (clone / ".venv").exists()


def test_a_venv_of_the_same_python_or_no_python_asked_for_is_kept(clone: Path) -> None:
    (clone / ".venv" / "bin" / "python").symlink_to(sys.executable)
    assert "another Python" not in dry_run(clone, f"PYTHON={sys.executable}")
    fake_python_kept = clone / ".venv" / "bin" / "python"
    fake_python_kept.unlink()
    fake_python(clone, "3.11.0 (an older build)")
    assert "another Python" not in dry_run(clone)  # PYTHON not given: the venv is the user's choice
    assert (clone / ".venv" / "bin" / "python").exists()
