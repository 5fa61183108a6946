"""The README is executable: every command it shows is run the way a user runs it, or listed here with the
reason it is not.

The commands run in order, as a reader following the README would: in a fresh HOME (XDG folders, the
README's own `config.toml`), from a project folder holding the files the commands name, through `bash`
with the installed `kestra-copilot`, against the loopback Gemini and Kestra doubles. Nothing leaves the
machine: HTTP(S) goes through a proxy that refuses every connection, so the manifest's tarballs come from
a download cache filled beforehand with a few pages of ../shared, as they would after an earlier build.
Each command must end with the exit code the README promises and print no traceback; those that print to
stdout are run again into a `head` that has already gone, which must stay quiet. A command added to the
README fails `test_every_readme_command_is_covered` until it is added here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_path
from tests.fakes.archives import tarball
from tests.fakes.gemini import FakeGemini, Reply
from tests.fakes.hosted_schema import HostedSchema, full_flow_schema_bytes
from tests.fakes.kestra import FakeKestra

README = REPO / "README.md"


# --- what the README shows ----------------------------------------------------------------------------------
def fenced_blocks(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """(line number, language, lines) of every fenced block."""
    language: str | None = None
    start, lines = 0, []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if language is None:
                language, start, lines = line[3:].strip(), number, []
            else:
                yield start, language, lines
                language = None
        elif language is not None:
            lines.append(line)


def readme_commands(text: str) -> list[tuple[int, str]]:
    """(line number, command) of every command of the README's shell blocks (comments dropped) and of every
    `kestra-copilot …` it names inline, in reading order (a command shown twice is run twice: the second time,
    the reader may have a config file)."""
    found = [
        (start, re.sub(r"\s+#\s.*$", "", line).strip())
        for start, language, lines in fenced_blocks(text)
        if language in ("sh", "bash", "shell")
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for match in re.finditer(r"`(kestra-copilot [^`]+)`", text):
        found.append((text.count("\n", 0, match.start()) + 1, " ".join(match[1].split())))
    return sorted(found, key=lambda item: item[0])


def shown_output(text: str, after: str) -> str:
    """The plain block that follows the shell block holding `after`: the output the README shows for it."""
    blocks = list(fenced_blocks(text))
    for number, (_, language, lines) in enumerate(blocks):
        if language == "sh" and any(re.sub(r"\s+#\s.*$", "", line).strip() == after for line in lines):
            _, kind, shown = blocks[number + 1]
            assert kind == "", f"the block after `{after}` is not its output"
            return "\n".join(shown) + "\n"
    raise AssertionError(f"`{after}` is not in the README")


# --- how each command is run --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """Run as written, or as `shell` where a placeholder (`…`, a session id, `[optional]` parts) needs a
    value; `exit` is the code the README promises, `piped` marks a command whose stdout is worth a `head`."""

    shell: str | None = None
    exit: int = 0
    piped: bool = False
    says: str = ""  # a phrase the output must hold
    never_says: str = ""  # … and one it must not


@dataclass(frozen=True)
class Skip:
    reason: str


ASK = '"load the yellow taxi CSV for a month into Postgres, staging table, merge without duplicates"'
COMMANDS: dict[str, Run | Skip] = {
    # Quickstart and Development: make itself.
    "make run": Skip("opens the full-screen chat; each of its actions has a pilot test in tests/tui"),
    "make test": Skip("this test runs inside `make test`"),
    "make lint": Skip("a developer's check (ruff, mypy), run by `make check`, not a user command"),
    "make bench": Skip("runs the benchmarks for minutes; bench/ scripts print figures, not verdicts"),
    # Validate a flow.
    "kestra-copilot validate flows/etl.yml": Run(exit=1, piped=True),
    "kestra-copilot validate flows/*.yml --kestra-version 2": Run(exit=1, piped=True),
    "kestra-copilot validate flow.yml --schema http://localhost:8080/api/v1/plugins/schemas/flow": Run(
        "kestra-copilot validate flow.yml --schema $KESTRA_URL/api/v1/plugins/schemas/flow", piped=True
    ),
    "kestra-copilot validate - --format json < flow.yml": Run(piped=True, says='"valid": true'),
    "kestra-copilot validate flow.yml --server": Run(piped=True),
    # Validate in pre-commit and CI (tests/test_cli_validate_ci.py checks the hook and the CI files' YAML).
    "kestra-copilot validate flows/": Run(exit=1, piped=True),
    "kestra-copilot validate 'flows/**/*.yml' -v": Run(exit=1, piped=True, says="flows/taxi.yml: valid"),
    "kestra-copilot validate --flows-only": Skip(
        "the hook's entry named in prose; tests/test_cli_validate_ci.py runs it as pre-commit does"
    ),
    "kestra-copilot validate . --format junit > flows.junit.xml": Run(
        "kestra-copilot validate . --format junit > flows.junit.xml; status=$?; head -c 400 flows.junit.xml; "
        "exit $status",
        exit=1,
        says="<testsuites",
    ),
    # Compare two revisions.
    "kestra-copilot diff old.yml new.yml": Run(piped=True, says="message"),
    "kestra-copilot diff old.yml new.yml --format json": Run(piped=True),
    # Ask for a flow (the key is the loopback Gemini's).
    "export GEMINI_API_KEY=…": Run("export GEMINI_API_KEY=$FAKE_GEMINI_KEY"),
    f"kestra-copilot ask {ASK}": Run(piped=True, says="session "),
    'kestra-copilot ask "add a retry to the extract task" --flow flows/taxi.yml -o flows/taxi.yml': Run(),
    'kestra-copilot ask "…" --json': Run('kestra-copilot ask "log the month" --json'),
    'kestra-copilot ask "…" --recipe no-retrieval': Run('kestra-copilot ask "log the month" --recipe no-retrieval'),
    'kestra-copilot ask "now add a Slack alert on failure" --session 3f2a…': Run(
        'kestra-copilot ask "now add a Slack alert on failure" --session $SESSION'
    ),
    # (the loopback model always writes the flow: the question gets it, `--question` prints it as the answer)
    'kestra-copilot ask "Why a MERGE instead of a plain INSERT?" --session 3f2a…': Run(
        'kestra-copilot ask "Why a MERGE instead of a plain INSERT?" --session $SESSION'
    ),
    'kestra-copilot ask --question "Would a retry help here?" --session 3f2a…': Run(
        'kestra-copilot ask --question "Would a retry help here?" --session $SESSION', piped=True, says="Here it is"
    ),
    "kestra-copilot sessions": Run(piped=True),
    # Deploy and run (the loopback Kestra; without a terminal, deploy asks for --yes).
    # (set from the start: the validate examples before it ask the same server)
    "export KESTRA_URL=http://localhost:8080 KESTRA_USERNAME=admin@kestra.io KESTRA_PASSWORD=…": Run(
        "export KESTRA_URL=$FAKE_KESTRA_URL KESTRA_USERNAME=admin@kestra.io KESTRA_PASSWORD=$FAKE_KESTRA_PASSWORD"
    ),
    "kestra-copilot deploy flows/taxi.yml": Run(exit=2, says="--yes"),
    "kestra-copilot deploy flows/taxi.yml --yes --namespace sandbox.copilot": Run(says="revision"),
    "kestra-copilot run company.team/taxi --input month=2024-01 --file data=./taxi.csv --label env:test": Run(
        says="SUCCESS"
    ),
    # The retrieval index.
    "kestra-copilot index build": Run(says="chunks"),
    "kestra-copilot index build --source ./my-flows --source kestra --source docs=https://…/docs.tar.gz#src/contents/docs": Run(
        "kestra-copilot index build --source ./my-flows --source kestra --source docs=$DOCS_TARBALL#src/contents/docs",
        says="chunks",
    ),
    # The walk-through's Kestra serves a schema (the real sample): the assistant's catalog is that server's.
    "kestra-copilot index status": Run(piped=True, says="catalog:    the flow schema of Kestra 1.3.2 at "),
    'kestra-copilot search "merge a staging table into BigQuery" -k 8 --kind flow --json': Run(piped=True),
    # As written it embeds all of ../shared (8,434 chunks, a quarter of an hour here): the same command on a
    # folder of flows and the first cases.
    "kestra-copilot eval retrieval --cases ../shared/kestra-flows/dev.jsonl [-k 8] [--json]": Run(
        "kestra-copilot eval retrieval --cases $SHARED/kestra-flows/dev.jsonl --source my-flows --limit 10 -k 8 --json",
        piped=True,
    ),
    # Use it from a coding agent (MCP): tests/test_mcp.py drives the server with the SDK's client.
    "kestra-copilot mcp --http 8765": Skip("serves until stopped; tests/test_mcp.py runs it on a free port"),
    "claude mcp add kestra-copilot -- kestra-copilot mcp": Skip(
        "needs Claude Code; tests/test_mcp.py starts `kestra-copilot mcp` as an agent does, over stdio"
    ),
    "kestra-copilot mcp": Run("kestra-copilot mcp < /dev/null"),  # stdin closed: the agent went away, it ends
    "kestra-copilot schema": Run(piped=True, says='"definitions"'),  # offline (the proxy refuses): bundled, a note
    # Evaluate flow generation: capture, the regression workflow, the CI gate.
    "kestra-copilot eval capture 3f2a… [--turn N] [-o evals/captured.yaml] [--id NAME]": Run(
        "kestra-copilot eval capture $SESSION"
    ),
    "kestra-copilot eval run evals/core --recipe default -o evals/runs/base": Run(),
    "kestra-copilot eval run evals/core --recipe no-house-rules -o evals/runs/candidate": Run(),
    "kestra-copilot eval compare evals/runs/base evals/runs/candidate --report evals/runs/report": Run(piped=True),
    "kestra-copilot eval score evals/runs/candidate [--suite evals/core]": Run(
        "kestra-copilot eval score evals/runs/candidate"
    ),
    "kestra-copilot eval run evals/core --recipe default --cache-dir evals/cache -o evals/baselines/core-default": Run(),
    "git add evals/cache evals/baselines/core-default": Skip("commits the recording to the user's repository"),
    'kestra-copilot eval run evals/core --recipe "$CANDIDATE" --cache-dir evals/cache --replay-only -o runs/candidate': Run(),
    "kestra-copilot eval compare evals/baselines/core-default runs/candidate --report runs/report": Run(piped=True),
    # Named inline.
    "kestra-copilot chat": Skip("the full-screen chat; each of its actions has a pilot test in tests/tui"),
    "kestra-copilot chat --keys": Run(piped=True, says="undo", never_says="warning:"),  # the README's [keys] work
    "kestra-copilot schema | head": Run(says='"definitions"'),
    "kestra-copilot deploy": Skip("names the command in prose; its invocations are above"),
    "kestra-copilot eval": Skip("names the command group in prose; its invocations are above"),
    "kestra-copilot config path": Run(piped=True, says="config.toml"),
    "kestra-copilot config show": Run(piped=True, says="kestra_url"),
    "kestra-copilot schema --source bundled --kestra-version 2 -o flow-schema.json": Run(),
    "kestra-copilot schema --source bundled": Run(piped=True, says='"definitions"'),
    "kestra-copilot schema --source live --refresh -o live-schema.json": Run(),  # the walk-through's mirror
    # As written it scores 239 blueprints and ~1,400 corrupted copies (a minute here): the first 20.
    "kestra-copilot eval sanity --cases ../shared/kestra-flows/dev.jsonl": Run(
        "kestra-copilot eval sanity --cases $SHARED/kestra-flows/dev.jsonl --limit 20"
    ),
}


def test_every_readme_command_is_covered() -> None:
    commands = [command for _, command in readme_commands(README.read_text(encoding="utf-8"))]
    missing = [command for command in commands if command not in COMMANDS]
    assert not missing, "README commands this test neither runs nor skips with a reason:\n" + "\n".join(missing)
    gone = [command for command in COMMANDS if command not in commands]
    assert not gone, "commands listed here that the README no longer shows:\n" + "\n".join(gone)


# --- the project folder the commands run in -----------------------------------------------------------------
FLOW = """\
id: taxi
namespace: company.team

inputs:
  - id: month
    type: STRING
    defaults: "2024-01"
  - id: data
    type: FILE

tasks:
  - id: extract
    type: io.kestra.plugin.core.log.Log
    message: "extracting {{ inputs.month }}"
  - id: load
    type: io.kestra.plugin.core.log.Log
    message: "loading {{ inputs.data }}"
"""
ETL = """\
id: etl
namespace: company.team

tasks:
  - id: extract
    type: io.kestra.plugin.core.http.Download
    uri: https://example.com/trips.csv

  - id: load
    type: io.kestra.plugin.jdbc.postgresql.Queries
    url: jdbc:postgresql://db:5432/warehouse
    username: "{{ secret('PG_USER') }}"
    password: "{{ secret('PG_PASSWORD') }}"
    sqll: INSERT INTO trips SELECT * FROM staging
"""


def _project(root: Path) -> Path:
    project = root / "project"
    (project / "flows").mkdir(parents=True)
    (project / "flows" / "etl.yml").write_text(ETL)
    (project / "flows" / "taxi.yml").write_text(FLOW)
    (project / "flow.yml").write_text(FLOW)
    (project / "old.yml").write_text(FLOW)
    (project / "new.yml").write_text(FLOW.replace("extracting", "downloading"))
    (project / "taxi.csv").write_text("vendor,fare\n1,12.5\n")
    (project / "my-flows").mkdir()
    (project / "my-flows" / "hello.yml").write_text(FLOW.replace("id: taxi", "id: hello"))
    for folder in ("evals/core", "evals/references", "corpus"):  # the clone the README's eval commands run in
        shutil.copytree(REPO / folder, project / folder)
    return project


def _downloaded_before(cache_dir: Path) -> str:
    """The manifest's tarballs as an earlier, online build left them in the download cache — a few pages of
    Kestra's docs and a few blueprints from ../shared — and the docs tarball's URL."""
    from copilot.retrieval.sources import cached_archive, default_sources

    docs_url, blueprints_url = (s.target for s in default_sources(kestra=False) if s.kind == "tarball")
    pages = sorted(shared_path("kestra-docs").rglob("*.md"))[:6]
    docs = {f"docs-main/src/contents/docs/{page.name}": page.read_bytes() for page in pages}
    with shared_path("kestra-flows", "dev.jsonl").open(encoding="utf-8") as lines:
        flows = [json.loads(line) for _, line in zip(range(4), lines, strict=False)]
    blueprints = {f"blueprints-main/flows/{n}.yaml": flow["yaml"].encode() for n, flow in enumerate(flows)}
    folder = cache_dir / "sources"
    folder.mkdir(parents=True, mode=0o700)
    for url, members in ((docs_url, docs), (blueprints_url, blueprints)):
        cached_archive(url, folder).write_bytes(tarball(members))
    return docs_url


def _refusing_port() -> int:
    """A loopback port nothing listens on: the proxy every outside connection is sent to, and refused by."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Walkthrough:
    project: Path
    env: dict[str, str]
    home: Path

    def configure(self, toml: list[str]) -> None:
        """The README's config.toml, as written, where a reader who got that far would have put it."""
        config = self.home / ".config" / "kestra-copilot" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("\n".join(toml) + "\n")

    def run(self, shell: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", shell],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # no controlling terminal, as in CI: no question reaches a developer's tty
        )


@pytest.fixture
def walkthrough(tmp_path: Path) -> Iterator[Walkthrough]:
    home = tmp_path / "home"
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "SHARED": str(shared_path()),
        "PYTHONPATH": str(REPO),  # this checkout's code, also where the installed package is another's (a worktree)
        "CANDIDATE": "default",
    }
    proxy = f"http://127.0.0.1:{_refusing_port()}"
    env |= {"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "ALL_PROXY": proxy, "NO_PROXY": "127.0.0.1,localhost"}
    env["DOCS_TARBALL"] = _downloaded_before(home / ".cache" / "kestra-copilot")
    schema = json.loads(shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json").read_text())
    # Kestra's hosted schema from a mirror (as an air-gapped team sets it): every documented plugin, full format.
    with (
        FakeGemini() as gemini,
        FakeKestra(flow_schema=schema) as kestra,
        HostedSchema(full_flow_schema_bytes()) as hosted,
    ):
        env["KESTRA_COPILOT_LIVE_SCHEMA_URL"] = hosted.url
        gemini.script(Reply(f"Here it is:\n```yaml\n{FLOW}```\n"))
        kestra.flows[("company.team", "taxi")] = FLOW.replace("loading", "reading")  # the team's, a revision behind
        kestra.revisions[("company.team", "taxi")] = 1
        env |= {
            "GOOGLE_GEMINI_BASE_URL": gemini.url,
            "FAKE_GEMINI_KEY": gemini.api_key,
            "FAKE_KESTRA_URL": kestra.url,
            "FAKE_KESTRA_PASSWORD": kestra.password,
            "KESTRA_URL": kestra.url,
            "KESTRA_USERNAME": kestra.username,
            "KESTRA_PASSWORD": kestra.password,
        }
        yield Walkthrough(_project(tmp_path), env, home)


def _as_shown(output: str) -> str:
    """The output as the README shows it: judged by Kestra's live schema at its default URL on the day the README
    was written (here, the walk-through's loopback mirror, today)."""
    return re.sub(
        r"Kestra's live schema \(http://127\.0\.0\.1:\d+/v1/plugins/schemas/flow, fetched \d{4}-\d{2}-\d{2}\)",
        "Kestra's live schema (https://api.kestra.io/v1/plugins/schemas/flow, fetched 2026-12-05)",
        output,
    )


# --- the walk-through ---------------------------------------------------------------------------------------
QUIET = ("Traceback", "Exception ignored", "BrokenPipeError")
SHOWN = ("kestra-copilot validate flows/etl.yml", "kestra-copilot validate flows/")  # output shown in the README


@pytest.mark.timeout(1200)
def test_the_readme_runs_as_written(walkthrough: Walkthrough) -> None:
    problems: list[str] = []
    text = README.read_text(encoding="utf-8")
    (config_line, _, toml), *_ = [block for block in fenced_blocks(text) if block[1] == "toml"]
    for line, command in readme_commands(text):
        if config_line and line > config_line:
            walkthrough.configure(toml)
            config_line = 0
        how = COMMANDS.get(command)
        if not isinstance(how, Run):
            continue
        shell = how.shell or command
        if shell.startswith("export "):  # the environment the next commands see
            for name, value in re.findall(r"(\w+)=(\S+)", shell):
                walkthrough.env[name] = re.sub(r"\$(\w+)", lambda m: walkthrough.env[m[1]], value)
            continue
        shell = re.sub(r"\$(SESSION)\b", lambda m: walkthrough.env.get(m[1], "no-session-yet"), shell)
        started = time.monotonic()
        done = walkthrough.run(shell)
        print(f"{time.monotonic() - started:6.1f} s  exit {done.returncode}  {shell}")  # shown when it fails
        output = done.stdout + done.stderr
        if done.returncode != how.exit:
            problems.append(f"`{command}` exited {done.returncode}, the README promises {how.exit}:\n{output[-2000:]}")
        if any(word in output for word in QUIET):
            problems.append(f"`{command}` printed a traceback:\n{output[-3000:]}")
        if how.says and how.says not in output:
            problems.append(f"`{command}` does not say {how.says!r}:\n{output[-2000:]}")
        if how.never_says and how.never_says in output:
            problems.append(f"`{command}` says {how.never_says!r}:\n{output[-2000:]}")
        session = re.search(r"\bsession ([0-9a-f]{8,})", done.stderr)
        if session and "SESSION" not in walkthrough.env:
            walkthrough.env["SESSION"] = session[1]
        if command in SHOWN and _as_shown(done.stdout) != shown_output(text, command):
            problems.append(f"`{command}` prints\n{done.stdout}\nthe README shows\n{shown_output(text, command)}")
        if how.piped:  # into a reader that has gone before the first write, as `head` has once it has enough
            piped = walkthrough.run(f"{shell} | head -c 0")
            if any(word in piped.stderr for word in QUIET):
                problems.append(f"`{command} | head` is not quiet:\n{piped.stderr[-2000:]}")
    assert not problems, "\n\n".join(problems)
