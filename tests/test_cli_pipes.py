"""A reader that goes away (`kestra-copilot schema | head`): every command ends quietly with 141, as a
process SIGPIPE ended, and without a traceback. The commands run as a user runs them: a real process whose
output pipe has no reader any more (closed before the command writes, so the outcome is not a race)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

FLOW = REPO / "corpus" / "flows" / "api_to_duckdb.yaml"
CLOSED = 141


def closed_output(*arguments: str, stderr_too: bool = False) -> subprocess.CompletedProcess[bytes]:
    """The command with stdout (and stderr, as `2>&1 | head` has it) on a pipe whose reader has gone."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [sys.executable, "-m", "copilot", *arguments],
            stdout=writer,
            stderr=writer if stderr_too else subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=REPO,
            timeout=120,
        )
    finally:
        os.close(writer)


@pytest.mark.parametrize(
    "arguments",
    [
        ["schema"],
        ["schema", "--source", "bundled"],
        ["validate", str(FLOW), "--format", "json"],
        ["validate", str(FLOW)],
        ["diff", str(FLOW), str(FLOW), "--format", "json"],
        ["sessions"],
        ["config"],
    ],
    ids=lambda arguments: " ".join(a for a in arguments if "/" not in a),
)
def test_a_closed_output_ends_the_command_quietly(arguments: list[str]) -> None:
    done = closed_output(*arguments)
    assert done.stderr == b""
    assert done.returncode == CLOSED


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_to_a_closed_output_is_quiet(option: str) -> None:
    """argparse writes these itself and ignores a failed write (exit 0); nothing fails later at exit."""
    assert closed_output(option).stderr == b""


def test_a_closed_output_and_error_stream_end_it_quietly_too(tmp_path: Path) -> None:
    """`kestra-copilot validate missing.yml 2>&1 | head`: the message cannot be shown either, and nothing
    else (the traceback of a failed flush at exit) tries to be."""
    done = closed_output("validate", str(tmp_path / "missing.yml"), stderr_too=True)
    assert done.returncode == CLOSED


def test_the_error_stream_keeps_its_message_when_only_stdout_is_closed(tmp_path: Path) -> None:
    done = closed_output("validate", str(FLOW), str(tmp_path / "missing.yml"), "--format", "json")
    assert b"Cannot read" in done.stderr and b"Traceback" not in done.stderr
    assert done.returncode == CLOSED
