"""Question cases: a question must be answered, never turned into a revision; `eval run` records the answer and
the `answer` check scores it (and `eval score` again from the run directory)."""

import json
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.evaluation.cases import Case, CaseError, Check, load_suite
from copilot.evaluation.scorers import Output, score_case
from tests.evaluation.prompted_gemini import PromptedGemini
from tests.evaluation.test_eval_e2e import _use, flow, results
from tests.fakes.gemini import Reply

ROOT = Path(__file__).resolve().parents[2]
ANSWER = "A MERGE updates the rows already there, so a re-run adds no duplicates."


def test_the_answer_check_wants_an_answer_and_what_it_should_mention(tmp_path: Path) -> None:
    case = Case("why", ("Why a MERGE?",), (Check("answer", {"matches": "(?i)duplicat"}),))
    flow_made = score_case(case, Output("id: x\nnamespace: y\ntasks: []\n", answer=None))
    assert not flow_made.passed and flow_made.scores[0].detail == "no answer: the last turn wrote a flow (or failed)"
    assert score_case(case, Output(None, answer=ANSWER)).passed
    off_topic = score_case(case, Output(None, answer="Because it is nicer."))
    assert not off_topic.passed and "does not match '(?i)duplicat'" in off_topic.scores[0].detail
    path = tmp_path / "bad.yaml"
    path.write_text("- id: x\n  turns: [why]\n  checks: [{answer: {matches: '(unclosed'}}]\n")
    with pytest.raises(CaseError, match="`matches` is not a regular expression"):
        load_suite(path)


def test_every_core_question_case_fails_when_the_question_makes_a_revision() -> None:
    core = load_suite(ROOT / "evals" / "core", tags={"question"})
    questions = [c for c in core if any(check.kind == "answer" for check in c.checks)]
    assert len(questions) >= 4
    for case in questions:
        made_a_flow = Output(case.flow or "id: x\nnamespace: y\ntasks: []\n", answer=None)
        assert not score_case(case, made_a_flow).passed, case.id


def answering(system: str, user: str) -> Reply:
    """A model that answers a question in prose and writes a flow for anything else."""
    return Reply(ANSWER if user.rstrip().endswith("?") else flow("hello 1"))


def flows_only(system: str, user: str) -> Reply:
    """A model that writes a flow whatever it is asked."""
    return Reply(flow("hello 1"))


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    path = tmp_path / "questions.yaml"
    start = "id: greet\nnamespace: company.team\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    cases = [
        {"id": "why", "flow": start, "turns": ["Why a MERGE?"], "checks": [{"answer": {"matches": "duplicat"}}]},
        {"id": "first", "turns": ["What is a Flow trigger?"], "checks": ["answer"]},
        {"id": "change", "flow": start, "turns": ["Log hello 1 instead"], "checks": ["valid"]},
    ]
    path.write_text(json.dumps(cases))
    return path


@pytest.mark.parametrize(("model", "passing"), [(answering, ["change", "first", "why"]), (flows_only, ["change"])])
def test_eval_run_scores_question_cases_by_their_answers(
    model: object, passing: list[str], suite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PromptedGemini(model) as fake:  # type: ignore[arg-type]
        _use(fake, tmp_path, monkeypatch)
        run = tmp_path / "run"
        assert main(["eval", "run", str(suite), "--concurrency", "1", "-o", str(run)]) == 0
        assert len(fake.requests) == 3  # no repair: an answer is not a failed flow
    records = {r["case"]: r for r in results(run)}
    assert sorted(case for case, r in records.items() if r["passed"]) == passing
    if model is answering:
        assert records["why"]["answer"] == ANSWER and records["why"]["output"] is None
    else:
        assert records["why"]["answer"] is None and "no answer" in records["why"]["scores"][0]["detail"]
    assert main(["eval", "score", str(run)]) == 0  # re-scored from the run directory: the answer was kept
    assert sorted(r["case"] for r in results(run) if r["passed"]) == passing
