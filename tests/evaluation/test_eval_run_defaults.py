"""`eval run` as a user runs it: a retrieval index built with `index build`, the default concurrency (two
cases at once, each searching the index in a worker thread), and cases that cannot be produced."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from copilot.cli import main
from copilot.retrieval.sources import corpus_dir
from tests.fakes.gemini import FakeGemini, Reply

CORE = Path(__file__).resolve().parents[2] / "evals" / "core"
FLOW = (
    "```yaml\nid: greet\nnamespace: company.team\ntasks:\n  - id: log\n"
    "    type: io.kestra.plugin.core.log.Log\n    message: hello\n```\n"
)


@pytest.fixture(scope="module")
def user_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A user's data and cache folders holding an index of the project's corpus, built once by the CLI in
    its own process, as a user builds it before running evals (this process has never opened it)."""
    data, cache = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("cache")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_", "KESTRA_"))},
        "KESTRA_COPILOT_CONFIG": str(data / "none.toml"),
        "KESTRA_COPILOT_DATA_DIR": str(data),
        "KESTRA_COPILOT_CACHE_DIR": str(cache),
    }
    command = [sys.executable, "-m", "copilot", "index", "build", "--source", str(corpus_dir())]
    built = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    return data, cache


@pytest.fixture
def indexed(user_dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    data, cache = user_dirs
    monkeypatch.setenv("KESTRA_COPILOT_DATA_DIR", str(data))
    monkeypatch.setenv("KESTRA_COPILOT_CACHE_DIR", str(cache))


def results(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]


def suite(tmp_path: Path, count: int = 4) -> Path:
    path = tmp_path / "suite.yaml"
    cases = [
        {"id": f"greet-{n}", "turns": [f"A flow that logs 'hello {n}'."], "checks": ["valid"]} for n in range(count)
    ]
    path.write_text(json.dumps(cases))
    return path


@pytest.fixture
def replies(tmp_path: Path) -> Path:
    return tmp_path / "replies"  # each test's own replies cache: the user cache dir is shared by the module


def test_the_core_suite_at_the_defaults_searches_the_index_in_every_case(
    indexed: None, gemini: FakeGemini, replies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.script(Reply(FLOW))
    run = tmp_path / "run"
    assert main(["eval", "run", str(CORE), "--cache-dir", str(replies), "-o", str(run)]) == 0
    out, err = capsys.readouterr()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["concurrency"] == 2 and manifest["index"]["sources"]  # the defaults, with the index
    records = results(run)
    assert len(records) == manifest["cases"] == 56 and not any(r["error"] for r in records)
    # two cases opening the embedded Chroma store at once made dense search fail ("Could not connect to
    # tenant default_tenant", "'RustBindingsAPI' object has no attribute 'bindings'"), unseen
    assert [r["case"] for r in records if r["notices"]] == [] and "note:" not in err
    assert "every sample produced" in out and "Traceback" not in err


def test_cases_that_cannot_be_produced_say_why_and_the_run_exits_1(
    indexed: None, gemini: FakeGemini, replies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = suite(tmp_path)
    gemini.script(Reply(FLOW))
    assert main(["eval", "run", str(cases), "--cache-dir", str(replies), "-o", str(tmp_path / "base")]) == 0
    capsys.readouterr()

    # a changed prompt has no recorded reply: nothing is produced, the CI step must not read green
    command = ["eval", "run", str(cases), "--cache-dir", str(replies), "--replay-only", "--recipe", "no-house-rules"]
    assert main([*command, "-o", str(tmp_path / "changed")]) == 1
    out, err = capsys.readouterr()
    reason = f"No cached reply for this prompt in {replies} (--replay-only)."
    assert f"ERROR greet-0#0 not produced: {reason}" in err and "(fresh)" not in err
    assert f"pass 0.0%, mean score 0.000; 4 not produced: {reason} (×4)" in out
    assert "hint: The prompt changed since the cache was recorded: run without --replay-only" in out
    summary = json.loads((tmp_path / "changed" / "summary.json").read_text())
    assert summary["errors"] == 4 and summary["unproduced"] == [
        {"reason": reason, "samples": 4, "hint": results(tmp_path / "changed")[0]["error_hint"]}
    ]
    # the run directory is complete: it compares (a regression) and re-scores
    assert main(["eval", "compare", str(tmp_path / "base"), str(tmp_path / "changed")]) == 1
    assert "4 pass→fail" in capsys.readouterr().out
    assert main(["eval", "score", str(tmp_path / "changed")]) == 0
    assert "4 not produced: No cached reply" in capsys.readouterr().out

    # a cache folder that is not there is a typo, not a changed prompt
    missing = tmp_path / "evals" / "cahce"
    assert main([*command, "--cache-dir", str(missing), "-o", str(tmp_path / "typo")]) == 2
    assert f"There is no replies cache at {missing}" in capsys.readouterr().err

    # a run never writes over another (a baseline is a record): the folder and its results stay
    before = (tmp_path / "base" / "results.jsonl").read_bytes()
    assert main(["eval", "run", str(cases), "--cache-dir", str(replies), "-o", str(tmp_path / "base")]) == 2
    assert "already exists and is not an empty folder: nothing was run or written" in capsys.readouterr().err
    assert (tmp_path / "base" / "results.jsonl").read_bytes() == before


def test_a_case_that_fails_unexpectedly_is_recorded_and_the_others_run(
    indexed: None,
    gemini: FakeGemini,
    replies: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from copilot.retrieval.index import Index

    search = Index.dense_search

    def chroma_breaks_once(index: Index, query: str, *args: Any, **kwargs: Any) -> Any:
        if "hello 1" in query:  # Chroma's own error, as the concurrent opening raised it, outside any guard
            raise AttributeError("'RustBindingsAPI' object has no attribute 'bindings'")
        return search(index, query, *args, **kwargs)

    monkeypatch.setattr(Index, "dense_search", chroma_breaks_once)
    gemini.script(Reply(FLOW))
    run = tmp_path / "run"
    assert main(["eval", "run", str(suite(tmp_path)), "--cache-dir", str(replies), "-o", str(run)]) == 1
    out, err = capsys.readouterr()
    records = {r["case"]: r for r in results(run)}
    broken = records.pop("greet-1")
    assert broken["error"] == "unexpected AttributeError: 'RustBindingsAPI' object has no attribute 'bindings'"
    assert "chroma_breaks_once" in broken["traceback"] and "please report it" in broken["error_hint"]
    assert all(r["passed"] and not r["error"] for r in records.values())
    assert "ERROR greet-1#0 not produced: unexpected AttributeError" in err and "Traceback" not in err
    assert "1 not produced: unexpected AttributeError" in out and (run / "summary.json").is_file()
