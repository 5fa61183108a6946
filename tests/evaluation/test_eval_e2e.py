"""`eval run` → `eval compare` → re-run from the replay cache → `eval score`, through the CLI, with the
real engine and google-genai SDK against the loopback Gemini server."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from copilot.cli import main
from tests.fakes.gemini import FakeGemini, Reply

CASES = 8


def flow(message: str) -> str:
    return f"```yaml\nid: greet\nnamespace: company.team\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: {message}\n```\n"


@pytest.fixture
def gemini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
        monkeypatch.setenv("KESTRA_COPILOT_CONFIG", str(tmp_path / "none.toml"))
        monkeypatch.setenv("KESTRA_COPILOT_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("KESTRA_COPILOT_CACHE_DIR", str(tmp_path / "cache"))
        yield fake


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    cases = [
        {
            "id": f"greet-{n}",
            "tags": ["greeting"],
            "turns": [f"A flow that logs 'hello {n}'."],
            "checks": ["valid", {"property": {"path": "tasks[0].message", "equals": f"hello {n}", "weight": 2}}],
        }
        for n in range(CASES)
    ]
    path.write_text(json.dumps({"defaults": {"checks": ["parses", "secrets"]}, "cases": cases}))
    return path


def test_run_compare_replay_and_rescore(
    gemini: FakeGemini, suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, candidate = tmp_path / "runs" / "base", tmp_path / "runs" / "candidate"
    gemini.script(*(Reply(flow(f"hello {n}")) for n in range(CASES)))
    assert main(["eval", "run", str(suite), "--recipe", "default", "--concurrency", "1", "-o", str(base)]) == 0
    out = capsys.readouterr()
    assert f"{CASES} case(s), {CASES} sample(s): pass 100.0%" in out.out and f"{CASES} fresh call(s)" in out.out
    assert "[1/8] pass 1.00 greet-0#0 (fresh)" in out.err

    # the candidate recipe answers most cases wrongly (valid flows, wrong message: no repair). Without an
    # index both recipes send the same prompt, so the cache would replay the base's replies: --no-cache
    gemini.script(*(Reply(flow("hi there" if n < 7 else f"hello {n}")) for n in range(CASES)))
    command = ["eval", "run", str(suite), "--recipe", "no-retrieval", "--no-cache", "--concurrency", "1"]
    assert main([*command, "-o", str(candidate)]) == 0
    capsys.readouterr()

    manifest = json.loads((base / "manifest.json").read_text())
    assert manifest["recipe"] == "default" and manifest["model"] == "gemini-3.8-flash" and manifest["cache"]
    assert set(manifest["prompt_hashes"]) >= {"system", "repair_validation"} and manifest["commit"]
    record = json.loads((candidate / "results.jsonl").read_text().splitlines()[0])
    assert not record["passed"] and record["score"] == pytest.approx(0.6)  # 3 of 5 weighted points
    assert record["tokens"] > 0 and record["latency"] > 0 and record["cost"] > 0
    assert (base / "outputs" / "greet-0--0.yaml").read_text().endswith("message: hello 0\n")

    report = tmp_path / "report"
    assert main(["eval", "compare", str(base), str(candidate), "--report", str(report)]) == 1  # gates CI
    text = capsys.readouterr().out
    assert "7 pass→fail, 0 fail→pass; exact McNemar p = 0.01562" in text and "**significant regression**" in text
    assert "| pass@1 | 100.0% | 12.5% | -87.5 pt |" in text
    html = (report / "compare.html").read_text()
    assert html.count('<div class="pair">') == 7 and "message: hi there" in html and "message: hello 0" in html

    # the same run again replays from the cache: no request reaches the model
    sent = len(gemini.requests)
    replay = tmp_path / "runs" / "replay"
    assert main(["eval", "run", str(suite), "--concurrency", "2", "-o", str(replay)]) == 0
    out = capsys.readouterr()
    assert len(gemini.requests) == sent
    assert f"{CASES} cached repl(ies), 0 fresh call(s)" in out.out and "(cached)" in out.err
    assert main(["eval", "compare", str(base), str(replay)]) == 0
    assert "0 pass→fail, 0 fail→pass" in capsys.readouterr().out

    # scorer changes need no model: re-score the saved outputs with an edited suite
    edited = suite.read_text().replace('"equals": "hello', '"matches": "^h", "was": "hello')
    suite.write_text(edited)
    assert main(["eval", "score", str(candidate), "--suite", str(suite)]) == 0
    assert "pass 100.0%" in capsys.readouterr().out and len(gemini.requests) == sent


def test_no_cache_repeats_ask_the_model_every_time(gemini: FakeGemini, suite: Path, tmp_path: Path) -> None:
    gemini.script(*(Reply(flow("hello 0")) for _ in range(4)))
    args = ["eval", "run", str(suite), "--tag", "greeting", "--repeat", "2", "--concurrency", "1"]
    one_case = tmp_path / "one.yaml"
    one_case.write_text(json.dumps([json.loads(suite.read_text())["cases"][0]]))
    args[2] = str(one_case)
    assert main([*args, "--no-cache", "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "--no-cache", "-o", str(tmp_path / "b")]) == 0
    assert len(gemini.requests) == 4  # 2 samples × 2 runs, none from a cache
    results = [json.loads(line) for line in (tmp_path / "b" / "results.jsonl").read_text().splitlines()]
    assert [r["sample"] for r in results] == [0, 1] and all(r["cache_misses"] == 1 for r in results)
    assert not (tmp_path / "cache" / "eval-replies").exists()


def test_live_checks_test_run_on_kestra_and_a_rubric_grade(
    gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.engine.test_testrun import BROKEN, FIXED, divides_by_zero
    from tests.fakes.kestra import FakeKestra

    suite = tmp_path / "live.yaml"
    checks = ["valid", {"test_run": {}}, {"rubric": {"rubric": "It computes a value."}}]
    suite.write_text(
        json.dumps([{"id": f"compute-{n}", "turns": [f"compute value {n}"], "checks": checks} for n in (1, 2)])
    )
    with FakeKestra(outcome_rule=divides_by_zero) as kestra:
        monkeypatch.setenv("KESTRA_URL", kestra.url)
        monkeypatch.setenv("KESTRA_USERNAME", kestra.username)
        monkeypatch.setenv("KESTRA_PASSWORD", kestra.password)
        grade = Reply("GRADE: 4\nREASON: computes it")
        gemini.script(Reply(FIXED), grade, Reply(BROKEN), grade)
        assert main(["eval", "run", str(suite), "--live", "--concurrency", "1", "-o", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    first, second = (json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines())
    assert first["live"]["test_run"]["state"] == "SUCCESS" and first["passed"]
    assert second["live"]["test_run"]["state"] == "FAILED" and not second["passed"]
    rubric = next(s for s in first["scores"] if s["check"] == "rubric")
    assert rubric["apart"] and rubric["value"] == 0.75 and rubric["detail"] == "computes it"
    assert second["score"] == 0.5  # valid, but the run failed; the rubric is not counted
    assert ("company.team.copilot_test", "report") in kestra.flows
