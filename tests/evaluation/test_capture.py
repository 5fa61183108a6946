"""Capturing a turn as a regression case: the proposed checks pass on the accepted flow, fail on worse ones."""

from pathlib import Path

import pytest

from copilot.evaluation.capture import add_case, propose_case
from copilot.evaluation.cases import CaseError, load_suite
from copilot.evaluation.scorers import Output, score_case
from copilot.retrieval.sources import corpus_dir

TAXI = (corpus_dir() / "flows" / "postgres_etl_staging_merge.yaml").read_text()


def captured(tmp_path: Path, case: dict) -> object:
    suite = tmp_path / "mine.yaml"
    case_id = add_case(suite, case)
    (loaded,) = [c for c in load_suite(suite) if c.id == case_id]
    return loaded


def test_a_new_flow_case_passes_on_the_accepted_flow_and_fails_on_a_worse_one(tmp_path: Path) -> None:
    case = captured(tmp_path, propose_case(["Load the yellow taxi CSV into Postgres, staging + merge"], TAXI))
    assert case.id == "load-the-yellow-taxi-csv-into-postgres-staging"  # whole words, 48 characters at most
    kinds = [c.kind for c in case.checks]
    assert kinds[:3] == ["parses", "valid", "secrets"] and "types" in kinds and kinds[-1] == "similar"
    assert score_case(case, Output(TAXI)).passed
    no_merge = TAXI.replace("io.kestra.plugin.jdbc.postgresql.Queries", "io.kestra.plugin.jdbc.postgresql.Query")
    worse = score_case(case, Output(no_merge))
    assert not worse.passed and worse.value < 1.0


def test_schedules_and_inputs_become_property_checks(tmp_path: Path) -> None:
    flow = """id: monthly
namespace: company.team
inputs:
  - id: month
    type: STRING
    defaults: "2024-01"
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.month }}"
triggers:
  - id: monthly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 1 * *"
"""
    case = captured(tmp_path, propose_case(["log the month, monthly"], flow))
    paths = {c.options.get("path"): c.options.get("equals") for c in case.checks if c.kind == "property"}
    assert paths == {"triggers[id=monthly].cron": "0 9 1 * *", "inputs[id=month].type": "STRING"}
    assert score_case(case, Output(flow)).passed
    assert not score_case(case, Output(flow.replace("0 9 1 * *", "0 9 * * *"))).passed


def test_an_edit_case_allows_only_what_the_edit_touched(tmp_path: Path) -> None:
    edited = TAXI.replace("namespace: company.team", "namespace: company.analytics")
    case = captured(tmp_path, propose_case(["move it to company.analytics"], edited, prior_flow=TAXI))
    (preserves,) = [c for c in case.checks if c.kind == "preserves"]
    assert preserves.options["except"] == ["namespace"] and case.flow == TAXI
    paths = [c.options["path"] for c in case.checks if c.kind == "property"]
    assert paths == ["inputs[id=month].type", "namespace"]  # the namespace set, and nothing about tasks
    assert score_case(case, Output(edited)).passed
    tampered = edited.replace("id: extract", "id: download")
    assert not score_case(case, Output(tampered)).passed


SWITCH = """id: route
namespace: company.team
tasks:
  - id: route
    type: io.kestra.plugin.core.flow.Switch
    value: "{{ execution.id }}"
    cases:
      a:
        - {id: say_a, type: io.kestra.plugin.core.log.Log, message: this is a}
      b:
        - {id: say_b, type: io.kestra.plugin.core.log.Log, message: this is b}
  - id: graph
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task: {id: first, type: io.kestra.plugin.core.log.Log, message: one}
      - task: {id: second, type: io.kestra.plugin.core.log.Log, message: two}
        dependsOn: [first]
"""


def test_an_edit_nested_in_a_switch_case_or_a_dag_touches_the_child_not_the_flowable(tmp_path: Path) -> None:
    edited = SWITCH.replace("this is b", "this is B").replace("message: two", "message: 2")
    case = captured(tmp_path, propose_case(["say B in capitals, and 2 as a digit"], edited, prior_flow=SWITCH))
    (preserves,) = [c for c in case.checks if c.kind == "preserves"]
    assert preserves.options["except"] == ["say_b", "second"]
    assert score_case(case, Output(edited)).passed  # the Switch and the Dag are kept: only children changed
    assert not score_case(case, Output(edited.replace("dependsOn: [first]", "dependsOn: []"))).passed


def test_cases_are_appended_with_unique_ids_and_comments_kept(tmp_path: Path) -> None:
    suite = tmp_path / "mine.yaml"
    assert add_case(suite, propose_case(["hello"], TAXI)) == "hello"
    first = suite.read_text()
    assert first.startswith("# Cases captured") and "reference: |" in first  # flows stay readable blocks
    assert add_case(suite, propose_case(["hello"], TAXI)) == "hello-2"
    assert [c.id for c in load_suite(suite)] == ["hello", "hello-2"]
    assert suite.read_text().startswith("# Cases captured")


def test_bad_input_is_refused_and_the_suite_is_untouched(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="does not parse"):
        propose_case(["x"], "id: [broken")
    with pytest.raises(CaseError, match="request"):
        propose_case([], TAXI)
    suite = tmp_path / "odd.yaml"
    suite.write_text("just a string\n")
    with pytest.raises(CaseError, match="not a suite"):
        add_case(suite, propose_case(["x"], TAXI))
    assert suite.read_text() == "just a string\n" and list(tmp_path.iterdir()) == [suite]


def test_eval_capture_turns_a_recorded_edit_into_a_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import os

    from copilot.cli import main
    from copilot.engine.sessions import SessionStore
    from tests.engine.test_turn import EDITED, VALID, engine
    from tests.fakes.gemini import FakeGemini, Reply

    store = SessionStore.open(Path(os.environ["KESTRA_COPILOT_DATA_DIR"]) / "sessions.db")
    session = store.create()
    with FakeGemini() as gemini:
        chat = engine(gemini)
        for reply, text in ((VALID, "log hi then wait a second"), (EDITED, "add a retry to the hello task")):
            gemini.script(Reply(reply))
            asyncio.run(chat.turn(text, on_event=store.recorder(session, text)))
    store.close()

    suite = tmp_path / "captured.yaml"
    assert main(["eval", "capture", session, "-o", str(suite)]) == 0
    assert "case add-a-retry-to-the-hello-task added" in capsys.readouterr().out
    (case,) = load_suite(suite)
    assert case.turns == ("add a retry to the hello task",) and case.flow and "retry" not in case.flow
    assert next(c for c in case.checks if c.kind == "preserves").options["except"] == ["hello"]
    edited = EDITED.split("```yaml\n")[1].split("```")[0]
    assert score_case(case, Output(edited)).passed
    assert not score_case(case, Output(case.flow)).passed  # the edit not made: similarity falls short

    assert main(["eval", "capture", session, "--turn", "1", "-o", str(suite), "--id", "hello"]) == 0
    assert [c.id for c in load_suite(suite)] == ["add-a-retry-to-the-hello-task", "hello"]
    assert main(["eval", "capture", session, "--turn", "7", "-o", str(suite)]) == 2
    assert f"Session {session} has no turn 7: its turns are 1 to 2." in capsys.readouterr().err


def test_capture_of_a_session_that_does_not_exist_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from copilot.cli import main

    suite = tmp_path / "captured.yaml"
    assert main(["eval", "capture", "0123456789ab", "-o", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "There is no session '0123456789ab'." in err and "`kestra-copilot sessions` lists them" in err
    assert "No flow was made" not in err and not suite.exists()


def test_capture_takes_the_last_valid_flow_and_refuses_an_invalid_turn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import os

    from copilot.cli import main
    from copilot.engine.sessions import SessionStore
    from tests.engine.test_turn import INVALID, VALID, engine
    from tests.fakes.gemini import FakeGemini, Reply

    store = SessionStore.open(Path(os.environ["KESTRA_COPILOT_DATA_DIR"]) / "sessions.db")
    session = store.create()
    with FakeGemini() as gemini:
        chat = engine(gemini)
        for reply, text in ((VALID, "log hi then wait a second"), (INVALID, "make the wait a list")):
            gemini.script(Reply(reply))  # the invalid one stays invalid through the repairs
            asyncio.run(chat.turn(text, on_event=store.recorder(session, text)))
    assert [r["valid"] for r in store.revisions(session)] == [True, False]
    store.close()

    suite = tmp_path / "captured.yaml"
    assert main(["eval", "capture", session, "-o", str(suite)]) == 0  # the last turn's flow is invalid
    (case,) = load_suite(suite)
    assert case.turns == ("log hi then wait a second",) and case.flow is None
    assert score_case(case, Output(case.reference)).passed

    assert main(["eval", "capture", session, "--turn", "2", "-o", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "The flow made by turn 2" in err and "(revision 2) is invalid" in err
    assert len(load_suite(suite)) == 1
