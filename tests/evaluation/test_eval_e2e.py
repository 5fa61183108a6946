"""`eval run` → `eval compare` → re-run from the replay cache → `eval score`, through the CLI, with the
real engine and google-genai SDK against the loopback Gemini server, which answers each prompt by its
content: two recipes whose prompts differ get different flows."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from copilot.cli import main
from copilot.evaluation.runner import figure
from tests.evaluation.prompted_gemini import PromptedGemini, system_text
from tests.fakes.gemini import FakeGemini, Reply

CASES = 8


def flow(message: str) -> str:
    return f"```yaml\nid: greet\nnamespace: company.team\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: {message}\n```\n"


def _use(fake: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
    monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
    monkeypatch.setenv("KESTRA_COPILOT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("KESTRA_COPILOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KESTRA_COPILOT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def gemini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        _use(fake, tmp_path, monkeypatch)
        yield fake


MODEL_SECONDS = 0.3  # each fresh reply takes this long: a replay must report it, not its own ~0 s
HOUSE_RULES = "Rules that make a flow right"  # in the default system prompt, not in no-house-rules'


def answer(system: str, user: str) -> Reply:
    """A model that writes the asked message when the system prompt has the house rules, and, without
    them, gets cases 0-6 wrong: a valid flow with another message (so no repair)."""
    number = int(re.search(r"hello (\d+)", user)[1])  # type: ignore[index]
    right = HOUSE_RULES in system or number >= 7
    return Reply(flow(f"hello {number}" if right else "hi there"), delay=MODEL_SECONDS)


@pytest.fixture
def prompted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PromptedGemini]:
    with PromptedGemini(answer) as fake:
        _use(fake, tmp_path, monkeypatch)
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


def results(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]


def test_two_recipes_whose_prompts_differ_flip_cases_and_gate_ci(
    prompted: PromptedGemini, suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, candidate = tmp_path / "runs" / "base", tmp_path / "runs" / "candidate"
    assert main(["eval", "run", str(suite), "--recipe", "default", "--concurrency", "1", "-o", str(base)]) == 0
    out = capsys.readouterr()
    assert f"{CASES} cases, {CASES} samples: pass 100.0%" in out.out and f"{CASES} fresh calls" in out.out
    assert "[1/8] pass 1.00 greet-0#0 (fresh)" in out.err

    # the experiment's system prompt differs, so nothing is replayed: the fake answers what it is sent
    # (two cases in flight at once: each reply still matches its own request)
    command = ["eval", "run", str(suite), "--recipe", "no-house-rules", "--concurrency", "2"]
    assert main([*command, "-o", str(candidate)]) == 0
    assert f"{CASES} fresh calls" in capsys.readouterr().out
    hashes = [json.loads((run / "manifest.json").read_text())["prompt_hashes"] for run in (base, candidate)]
    assert hashes[0]["system"] != hashes[1]["system"] and hashes[0]["edit"] == hashes[1]["edit"]
    assert len({system_text(r.body) for r in prompted.requests}) == 2 and len(prompted.requests) == 2 * CASES

    manifest = json.loads((base / "manifest.json").read_text())
    assert manifest["recipe"] == "default" and manifest["model"] == "gemini-3.8-flash" and manifest["cache"]
    assert set(manifest["prompt_hashes"]) >= {"system", "repair_validation"} and manifest["commit"]
    record = results(candidate)[0]
    assert not record["passed"] and record["score"] == pytest.approx(0.6)  # 3 of 5 weighted points
    assert record["fresh_tokens"] > 0 and record["fresh_cost"] > 0 and record["replayed_tokens"] == 0
    assert "recorded_tokens" not in record and "calls" not in record  # added up when summed, not stored
    assert figure(record, "recorded_tokens") == record["fresh_tokens"] and record["latency"] >= MODEL_SECONDS
    assert (base / "outputs" / "greet-0--0.yaml").read_text().endswith("message: hello 0\n")

    report = tmp_path / "report"
    assert main(["eval", "compare", str(base), str(candidate), "--report", str(report)]) == 1  # gates CI
    text = capsys.readouterr().out
    assert "7 pass→fail, 0 fail→pass; exact McNemar p = 0.01562" in text and "**significant regression**" in text
    assert "| pass@1 | 100.0% | 12.5% | -87.5 pt |" in text
    html = (report / "compare.html").read_text()
    assert html.count('<div class="pair">') == 7 and "message: hi there" in html and "message: hello 0" in html


def test_a_replay_reports_what_its_replies_cost_and_took_when_recorded(
    prompted: PromptedGemini, suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, replay = tmp_path / "runs" / "base", tmp_path / "runs" / "replay"
    assert main(["eval", "run", str(suite), "--concurrency", "2", "-o", str(base)]) == 0
    sent = len(prompted.requests)
    assert main(["eval", "run", str(suite), "--concurrency", "2", "-o", str(replay)]) == 0
    out = capsys.readouterr()
    assert len(prompted.requests) == sent and "(cached)" in out.err
    assert f"{CASES} cached replies" in out.out and "0 fresh calls: 0 tokens, $0.0000" in out.out

    fresh, replayed = (json.loads((run / "summary.json").read_text()) for run in (base, replay))
    assert fresh["fresh_tokens"] > 0 and fresh["replayed_tokens"] == 0 and fresh["cache_hits"] == 0
    assert replayed["fresh_tokens"] == 0 and replayed["fresh_cost"] == 0 and replayed["fresh_calls"] == 0
    assert replayed["replayed_tokens"] == fresh["fresh_tokens"] == replayed["recorded_tokens"]
    assert replayed["replayed_cost"] == pytest.approx(fresh["fresh_cost"])
    assert replayed["latency_p50"] < MODEL_SECONDS <= replayed["recorded_latency_p50"]
    assert replayed["recorded_latency_p50"] == pytest.approx(fresh["recorded_latency_p50"], abs=0.25)

    # so compare's deltas are not skewed by the cache: same tokens, same cost, about the same latency
    assert main(["eval", "compare", str(base), str(replay), "--report", str(tmp_path / "report")]) == 0
    text = capsys.readouterr().out
    assert "0 pass→fail, 0 fail→pass" in text and "| cost (USD) |" in text
    data = json.loads((tmp_path / "report" / "compare.json").read_text())
    assert data["candidate"]["recorded_tokens"] == data["base"]["recorded_tokens"] > 0
    assert data["candidate"]["recorded_cost"] == pytest.approx(data["base"]["recorded_cost"])
    assert abs(data["candidate"]["recorded_latency_p50"] - data["base"]["recorded_latency_p50"]) < 0.25
    assert data["candidate"]["fresh_tokens"] == 0 and data["candidate"]["cache_hits"] == CASES

    # scorer changes need no model: re-score the saved outputs with an edited suite
    edited = suite.read_text().replace('"equals": "hello', '"matches": "^h", "was": "hello')
    suite.write_text(edited)
    assert main(["eval", "score", str(replay), "--suite", str(suite)]) == 0
    assert "pass 100.0%" in capsys.readouterr().out and len(prompted.requests) == sent


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


LIVE_CHECKS = ["valid", {"test_run": {}}, {"rubric": {"rubric": "It computes a value."}}]


def live_suite(tmp_path: Path, count: int) -> Path:
    suite = tmp_path / "live.yaml"
    cases = [
        {"id": f"compute-{n}", "turns": [f"compute value {n}"], "checks": LIVE_CHECKS} for n in range(1, count + 1)
    ]
    suite.write_text(json.dumps(cases))
    return suite


def test_live_checks_test_run_on_kestra_and_a_rubric_grade(
    gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.engine.test_testrun import BROKEN, FIXED, divides_by_zero
    from tests.fakes.kestra import FakeKestra

    suite = live_suite(tmp_path, 3)
    invalid = FIXED.replace("    format:", "    colour: red\n    format:")  # an invented property, kept
    with FakeKestra(outcome_rule=divides_by_zero) as kestra:
        monkeypatch.setenv("KESTRA_URL", kestra.url)
        monkeypatch.setenv("KESTRA_USERNAME", kestra.username)
        monkeypatch.setenv("KESTRA_PASSWORD", kestra.password)
        monkeypatch.setenv("KESTRA_COPILOT_SANDBOX_TEST_RUNS", "1")  # model flows run unreviewed: a sandbox only
        grade = Reply("GRADE: 4\nREASON: computes it")
        # the third case: an invalid flow, and a repair that gives it back (no third attempt), then the grade
        gemini.script(Reply(FIXED), grade, Reply(BROKEN), grade, Reply(invalid), Reply(invalid), grade)
        assert main(["eval", "run", str(suite), "--live", "--concurrency", "1", "-o", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    first, second, third = results(tmp_path / "run")
    assert first["live"]["test_run"]["state"] == "SUCCESS" and first["passed"]
    assert second["live"]["test_run"]["state"] == "FAILED" and not second["passed"]
    rubric = next(s for s in first["scores"] if s["check"] == "rubric")
    assert rubric["apart"] and rubric["value"] == 0.75 and rubric["detail"] == "computes it"
    assert second["score"] == 0.5  # valid, but the run failed; the rubric is not counted
    assert not kestra.flows  # each test copy was deleted after its run
    # still invalid after the repairs: it cannot run, so it is not sent to Kestra and its test_run fails
    # (it is not skipped), saying why as an offline run would
    assert "test_run" not in third["live"] and len(kestra.executions) == 2
    test_run = next(s for s in third["scores"] if s["check"] == "test_run")
    assert test_run["detail"].startswith("cannot run: the flow is invalid (1 error, first: ")
    assert not test_run["passed"] and not test_run["skipped"] and third["score"] == 0.0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["rubric"] == {"graded": 3, "mean_grade": 4.0, "pass_rate": 1.0} and summary["skipped"] == {}
    assert summary["pass_rate"] == pytest.approx(1 / 3, abs=1e-4)  # the rubric's 4/5 everywhere changes nothing
    assert "rubric (apart, not in the score): mean grade 4.00/5 over 3" in out


def test_a_live_run_talks_to_kestra_through_one_client_with_the_test_run_timeout(
    gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.engine.test_testrun import FIXED
    from tests.fakes.kestra import FakeKestra

    suite = tmp_path / "slow.yaml"
    cases = [{"id": f"slow-{n}", "turns": [f"compute value {n}"], "checks": LIVE_CHECKS[:2]} for n in (1, 2)]
    suite.write_text(json.dumps(cases))
    monkeypatch.setenv("KESTRA_COPILOT_TEST_RUN_TIMEOUT", "0.3")
    monkeypatch.setenv("KESTRA_COPILOT_SANDBOX_TEST_RUNS", "1")
    with FakeKestra(step_seconds=1.0) as kestra:  # each task runs longer than the test-run may take
        monkeypatch.setenv("KESTRA_URL", kestra.url)
        monkeypatch.setenv("KESTRA_USERNAME", kestra.username)
        monkeypatch.setenv("KESTRA_PASSWORD", kestra.password)
        gemini.script(Reply(FIXED))
        assert main(["eval", "run", str(suite), "--live", "--repeat", "2", "-o", str(tmp_path / "run")]) == 0
    runs = results(tmp_path / "run")
    assert len(runs) == 4 and all("after 0.3 s; it was killed" in r["live"]["test_run"]["error"] for r in runs)
    assert kestra.requests.count(("GET", "/api/v1/configs")) == 1  # one version check for the whole run


def test_a_live_rubric_grade_is_not_counted_in_the_generation_figures(gemini: FakeGemini, tmp_path: Path) -> None:
    from tests.engine.test_testrun import FIXED

    suite = tmp_path / "graded.yaml"
    suite.write_text(json.dumps([{"id": "compute", "turns": ["compute a value"], "checks": LIVE_CHECKS[::2]}]))
    command = ["eval", "run", str(suite), "--no-cache"]
    gemini.script(Reply(FIXED))
    assert main([*command, "-o", str(tmp_path / "offline")]) == 0
    gemini.script(Reply(FIXED), Reply("GRADE: 5\nREASON: right", prompt_tokens=50_000))
    assert main([*command, "--live", "-o", str(tmp_path / "live")]) == 0
    (offline,), (live,) = results(tmp_path / "offline"), results(tmp_path / "live")
    assert len(gemini.requests) == 3 and live["live"]["rubric"]["grade"] == 5  # the grading call was made
    assert live["cache_misses"] == offline["cache_misses"] == 1 and live["cache_hits"] == 0
    assert live["fresh_tokens"] == offline["fresh_tokens"] < 50_000
    assert live["fresh_cost"] == pytest.approx(offline["fresh_cost"])


def test_offline_live_checks_are_counted_as_skipped_and_live_needs_a_server(
    gemini: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.engine.test_testrun import FIXED

    suite = live_suite(tmp_path, 2)
    gemini.script(Reply(FIXED))
    assert main(["eval", "run", str(suite), "--concurrency", "1", "-o", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["skipped"] == {"rubric": 2, "test_run": 2} and summary["rubric"] is None
    assert "skipped (live only, run with --live): rubric ×2, test_run ×2" in out
    assert summary["pass_rate"] == 1.0  # on `valid` alone: a skipped check neither passes nor fails a case
    first = results(tmp_path / "run")[0]
    assert all(not s["passed"] for s in first["scores"] if s["skipped"])

    sent = len(gemini.requests)
    assert main(["eval", "run", str(suite), "--live", "-o", str(tmp_path / "live")]) == 2
    err = capsys.readouterr().err
    assert "no server is configured" in err and "KESTRA_URL" in err and len(gemini.requests) == sent


def test_ci_replays_a_committed_cache_without_a_model_key(
    prompted: PromptedGemini,
    suite: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    replies = tmp_path / "repo" / "evals" / "cache"  # a folder the repository (or a CI artefact) keeps
    record = ["eval", "run", str(suite), "--cache-dir", str(replies), "-o", str(tmp_path / "baseline")]
    assert main(record) == 0 and any(replies.rglob("*.json"))
    assert not (tmp_path / "cache" / "eval-replies").exists()  # nothing in the user cache dir
    sent = len(prompted.requests)

    monkeypatch.delenv("GEMINI_API_KEY")  # a CI job on a fork has no key
    replay = ["eval", "run", str(suite), "--cache-dir", str(replies), "--replay-only"]
    assert main([*replay, "-o", str(tmp_path / "candidate")]) == 0
    assert f"{CASES} cached replies" in capsys.readouterr().out and len(prompted.requests) == sent
    assert main(["eval", "compare", str(tmp_path / "baseline"), str(tmp_path / "candidate")]) == 0
    capsys.readouterr()

    # a changed prompt has no recorded reply: its cases fail, saying so, the model is not called, and the
    # step fails (exit 1) while still writing a run the compare reads
    assert main([*replay, "--recipe", "no-house-rules", "-o", str(tmp_path / "changed")]) == 1
    assert f"pass 0.0%, mean score 0.000; {CASES} not produced: No cached reply" in capsys.readouterr().out
    first = results(tmp_path / "changed")[0]
    assert "No cached reply for this prompt" in first["error"] and len(prompted.requests) == sent
    assert main(["eval", "compare", str(tmp_path / "baseline"), str(tmp_path / "changed")]) == 1
    assert main([*replay, "--no-cache", "-o", str(tmp_path / "nonsense")]) == 2
