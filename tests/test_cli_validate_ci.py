"""`validate` where nobody watches: the pre-commit hook this repository provides (.pre-commit-hooks.yaml), run
the way pre-commit runs it, and the README's pre-commit and CI examples (their YAML parses, they name this
hook, and the command they run is one tests/test_readme.py runs as a user would)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from copilot.cli import main
from tests.conftest import REPO
from tests.test_readme import COMMANDS, README, Run, fenced_blocks

GOOD = "id: hello\nnamespace: company.team\ntasks:\n  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
BAD = GOOD.replace("id: hello", "id: bad").replace("message: hi", "message: hi\n    colour: red")  # 7:5


def the_hook() -> dict[str, Any]:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    return hook


def pre_commit_runs(filenames: list[str]) -> list[str]:
    """The command pre-commit runs for a commit: the hook's entry split as by a shell, its args, then the names
    of the commit's files that its `files` pattern selects."""
    hook = the_hook()
    selected = [name for name in filenames if re.search(hook["files"], name)]
    return [*shlex.split(hook["entry"]), *hook.get("args", []), *selected]


# --- the hook's manifest ----------------------------------------------------------------------------------
def test_the_hook_manifest_is_what_pre_commit_reads() -> None:
    hook = the_hook()
    assert {"id", "name", "entry", "language"} <= set(hook)  # pre-commit's required keys
    assert (hook["id"], hook["language"]) == ("kestra-copilot-validate", "python")
    assert hook.get("pass_filenames", True) is True
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert shlex.split(hook["entry"])[0] in scripts  # `language: python` installs the package: its console script
    names = ["flows/a.yml", "b.yaml", ".pre-commit-config.yaml", "a.yml.bak", "flow.json", "README.md", "x.yamll"]
    assert [name for name in names if re.search(hook["files"], name)] == [
        "flows/a.yml",
        "b.yaml",
        ".pre-commit-config.yaml",
    ]


# --- the hook, run as pre-commit runs it ------------------------------------------------------------------
@pytest.fixture
def flows_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository of flows, the current folder as for pre-commit, with the other YAML such a repository has."""
    files = {
        ".pre-commit-config.yaml": "repos:\n  - repo: https://example.com/kestra-copilot\n    rev: v1\n"
        "    hooks:\n      - id: kestra-copilot-validate\n",
        ".github/workflows/ci.yml": "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n",
        "docker-compose.yml": "services:\n  kestra:\n    image: kestra/kestra\n",
        "flows/hello.yml": GOOD,
        "flows/team/bad.yaml": BAD,
        "README.md": "# flows\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


OTHERS = [".pre-commit-config.yaml", ".github/workflows/ci.yml", "docker-compose.yml", "README.md"]


def test_the_hook_passes_a_commit_of_valid_flows_and_other_yaml(
    flows_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = pre_commit_runs([*OTHERS, "flows/hello.yml"])
    assert command[0] == "kestra-copilot" and "README.md" not in command
    assert main(command[1:]) == 0
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .startswith("1 file checked: 1 valid, 0 with errors, 0 with policy findings, 3 skipped (not flows)")
    )


def test_the_hook_fails_a_commit_with_an_invalid_flow_at_its_line(
    flows_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(pre_commit_runs([*OTHERS, "flows/hello.yml", "flows/team/bad.yaml"])[1:]) == 1
    out = capsys.readouterr().out
    assert out.startswith("flows/team/bad.yaml:7:5: error[unknown-property] Unknown property `colour`")
    assert "flows/hello.yml" not in out and out.splitlines()[-1].startswith("2 files checked: 1 valid, 1 with errors")


def test_the_hook_passes_a_commit_without_a_flow(flows_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(pre_commit_runs([".pre-commit-config.yaml"])[1:]) == 0
    assert capsys.readouterr().out == ".pre-commit-config.yaml: skipped, not a Kestra flow\n"


def test_the_installed_entry_point_runs_the_hook(flows_repo: Path) -> None:
    """As pre-commit runs it: the console script of the installed package, in a process of its own."""
    command = pre_commit_runs([*OTHERS, "flows/hello.yml", "flows/team/bad.yaml"])
    script = Path(sys.executable).parent / command[0]
    done = subprocess.run(
        [str(script), *command[1:]],
        cwd=flows_repo,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},  # this checkout's code
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("flows/team/bad.yaml:7:5: error[unknown-property]") and not done.stderr


# --- the README's examples --------------------------------------------------------------------------------
def readme_yaml() -> list[Any]:
    return [
        yaml.safe_load("\n".join(lines))
        for _, language, lines in fenced_blocks(README.read_text())
        if language == "yaml"
    ]


def test_the_readme_pre_commit_config_uses_this_hook() -> None:
    [config] = [block for block in readme_yaml() if isinstance(block, dict) and "repos" in block]
    [repo] = config["repos"]
    assert [hook["id"] for hook in repo["hooks"]] == [the_hook()["id"]]


def test_the_readme_ci_examples_run_the_command_the_readme_test_runs() -> None:
    """The GitHub Actions steps and the GitLab job run the README's CI command (which tests/test_readme.py
    runs) and publish the file it writes."""
    [steps] = [block for block in readme_yaml() if isinstance(block, list)]
    [job] = [
        block["validate-flows"] for block in readme_yaml() if isinstance(block, dict) and "validate-flows" in block
    ]
    commands = [step["run"] for step in steps if "kestra-copilot validate" in step.get("run", "")]
    commands += [line for line in job["script"] if line.startswith("kestra-copilot")]
    assert len(commands) == 2 and len(set(commands)) == 1
    [command] = set(commands)
    assert isinstance(COMMANDS[command], Run)
    report = command.rsplit("> ", 1)[1]
    [publish] = [step for step in steps if "junit-report" in step.get("uses", "")]
    assert publish["with"]["report_paths"] == report and "failure()" in publish["if"]
    assert job["artifacts"]["reports"]["junit"] == report and job["artifacts"]["when"] == "always"
