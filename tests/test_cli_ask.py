"""`kestra-copilot ask`: one turn from the command line, against the loopback Gemini and a local server."""

import json
import os
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.engine.sessions import SessionStore
from tests.engine.test_turn import ANSWER, EDITED, INVALID, VALID, flow_of
from tests.fakes.gemini import FakeGemini, Fault, Reply
from tests.fakes.kestra import FakeKestra
from tests.fakes.openai_server import Chat, FakeOpenAI


def test_no_model_configured_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "log hello"]) == 2
    err = capsys.readouterr().err
    assert "no Gemini API key" in err and "GEMINI_API_KEY" in err and "KESTRA_COPILOT_MODEL_URL" in err


def test_ask_prints_the_repaired_flow(gemini: FakeGemini, capsys: pytest.CaptureFixture[str]) -> None:
    gemini.script(Reply(INVALID), Reply(VALID))
    assert main(["ask", "log hi then wait a second"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("id: taxi\n") and "duration: PT1S" in out and "```" not in out
    assert "attempt 1: 2 errors" in err and "repairing (attempt 2)" in err and "attempt 2: valid" in err
    assert "No retrieval index yet" in err
    assert gemini.requests[0].headers.get("x-goog-api-key") == "test-key"


def test_ask_json_and_output_file(gemini: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gemini.script(Reply(VALID))
    target = tmp_path / "flow.yml"
    assert main(["ask", "log hi", "--json", "-o", str(target), "--recipe", "no-retrieval"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] and report["attempts"] == 1 and report["recipe"] == "no-retrieval"
    assert report["yaml"] == target.read_text() and report["usage"]["prompt_tokens"] == 120
    assert report["diff"] is None and report["sources"] == [] and len(report["prompt_hashes"]) == 1
    # a script continues the conversation with the session the report names
    gemini.script(Reply(VALID.replace("hi", "hello")))
    assert main(["ask", "say hello", "--json", "--session", report["session"], "--recipe", "no-retrieval"]) == 0
    assert json.loads(capsys.readouterr().out)["session"] == report["session"]


def test_ask_exits_1_when_the_flow_stays_invalid(gemini: FakeGemini, capsys: pytest.CaptureFixture[str]) -> None:
    gemini.script(Reply(INVALID))
    assert main(["ask", "log hi"]) == 1
    out, err = capsys.readouterr()
    assert "colour" in out and "error[unknown-property]" in err


def test_a_literal_credential_is_repaired_as_a_policy_finding(
    gemini: FakeGemini, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kestra accepts a flow with a password written into it; the assistant does not: it repairs it, and says
    it was the policy, not an error."""
    literal = VALID.replace("tasks:", "variables:\n  db_password: hunter2x\ntasks:")
    gemini.script(Reply(literal), Reply(VALID.replace("tasks:", "variables:\n  db: \"{{ secret('DB') }}\"\ntasks:")))
    assert main(["ask", "log hi"]) == 0
    err = capsys.readouterr().err
    assert "attempt 1: 0 errors, 1 policy finding" in err and "attempt 2: valid" in err
    assert "policy[hardcoded-secret]" in json.dumps(gemini.requests[-1].body)

    gemini.script(*[Reply(literal)] * 3)
    assert main(["ask", "log hi"]) == 1
    assert "policy[hardcoded-secret]" in capsys.readouterr().err


def test_ask_edits_a_flow_file(gemini: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "taxi.yml"
    source.write_text(flow_of(VALID))
    gemini.script(Reply(VALID.replace("message: hi", "message: hello")))
    assert main(["ask", "say hello instead", "--flow", str(source), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["diff"]["changed"] and "message: hello" in report["diff"]["unified"]
    assert "message: hi" in gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]


def test_an_outage_is_a_clear_error(gemini: FakeGemini, capsys: pytest.CaptureFixture[str]) -> None:
    gemini.script(Fault(404))
    assert main(["ask", "log hi", "--model", "gemini-0-nope"]) == 2
    err = capsys.readouterr().err
    assert "gemini-0-nope" in err and "--model" in err


def test_ask_a_local_openai_compatible_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAI() as local:
        monkeypatch.setenv("KESTRA_COPILOT_MODEL_URL", local.url)
        monkeypatch.setenv("KESTRA_COPILOT_MODEL", "qwen2.5-coder:7b")
        local.script(Chat("<think>easy</think>" + VALID))
        assert main(["ask", "log hi", "--recipe", "no-retrieval"]) == 0
    assert capsys.readouterr().out.startswith("id: taxi\n")


def test_ask_records_a_session_that_a_later_ask_continues(
    gemini: FakeGemini, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sessions"]) == 0
    assert "No sessions yet" in capsys.readouterr().out
    gemini.script(Reply(VALID))
    assert main(["ask", "log hi then wait", "--recipe", "no-retrieval"]) == 0
    err = capsys.readouterr().err
    session = err.split("continue with --session ")[1].split(")")[0]
    gemini.script(Reply(VALID.replace("message: hi", "message: hello")))
    assert main(["ask", "say hello", "--session", session, "--json", "--recipe", "no-retrieval"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["diff"]["changed"]  # edited the session's flow, not a new one
    assert "message: hi" in gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]
    assert main(["sessions"]) == 0
    assert f"{session}" in (listing := capsys.readouterr().out) and "2 turns, 2 revisions" in listing
    assert main(["ask", "x", "--session", "nope"]) == 2
    assert "No session 'nope'" in capsys.readouterr().err


def test_a_question_is_answered_on_stdout_and_the_flow_stays(
    gemini: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.script(Reply(VALID))
    assert main(["ask", "log hi then wait", "--recipe", "no-retrieval"]) == 0
    session = capsys.readouterr().err.split("continue with --session ")[1].split(")")[0]
    gemini.script(Reply(ANSWER), Reply(EDITED))  # a repair would take the flow
    target = tmp_path / "flow.yml"
    asked = ["ask", "Why a MERGE instead of a plain INSERT?", "--session", session, "--recipe", "no-retrieval"]
    assert main([*asked, "-o", str(target)]) == 1  # -o asked for a flow: a script must not take it as written
    out, err = capsys.readouterr()
    assert out == ANSWER + "\n" and "repairing" not in err and "attempt" not in err
    assert f"note: the model answered without a flow: {target} was not written." in err and not target.exists()
    assert len(gemini.requests) == 2
    assert main(["sessions"]) == 0
    assert "2 turns, 1 revision" in capsys.readouterr().out  # the answer is recorded, no revision

    # --question asks outright: an answer even when it quotes a flow; --json says so
    gemini.script(Reply("It could retry:\n" + EDITED))
    assert main(["ask", "Would a retry help?", "--question", "--session", session, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["answer"].startswith("It could retry") and report["yaml"] is None and report["valid"]
    assert report["usage"]["prompt_tokens"] == 120 and report["session"] == session
    assert "Question: Would a retry help?" in gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]
    assert main(["ask", "why?", "--question", "-o", str(target)]) == 2
    assert "--question is answered without a flow" in capsys.readouterr().err and len(gemini.requests) == 3


def test_a_first_question_without_a_flow_is_answered(gemini: FakeGemini, capsys: pytest.CaptureFixture[str]) -> None:
    gemini.script(Reply("A Flow trigger starts a flow when another one ends."))
    assert main(["ask", "What does a Flow trigger do?"]) == 0
    out, err = capsys.readouterr()
    assert out == "A Flow trigger starts a flow when another one ends.\n" and "error" not in err


def test_ask_test_run_repairs_from_the_run_and_passes(
    gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.engine.test_testrun import BROKEN, FIXED, divides_by_zero
    from tests.fakes.kestra import FakeKestra

    logs = {"compute": [("ERROR", "ArithmeticException: / by zero")]}
    with FakeKestra(outcome_rule=divides_by_zero, task_logs=logs) as kestra:
        monkeypatch.setenv("KESTRA_URL", kestra.url)
        monkeypatch.setenv("KESTRA_USERNAME", kestra.username)
        monkeypatch.setenv("KESTRA_PASSWORD", kestra.password)
        gemini.script(Reply(BROKEN), Reply(FIXED))
        assert main(["ask", "compute a value", "--test-run", "--yes", "--recipe", "no-retrieval"]) == 0
    out, err = capsys.readouterr()
    assert "test run: FAILED at task compute" in err and "/ by zero" in err and "test run: SUCCESS" in err
    assert '"{{ 1 / 1 }}"' in out and "namespace: company.team\n" in out
    (session,) = SessionStore.open(Path(os.environ["KESTRA_COPILOT_DATA_DIR"]) / "sessions.db").sessions()
    assert session.revisions == 2  # the repair made during the test run is in the session
    store = SessionStore.open(Path(os.environ["KESTRA_COPILOT_DATA_DIR"]) / "sessions.db")
    turns = store.turns(session.id)
    assert [t["status"] for t in turns] == ["done", "done"] and "/ by zero" in turns[1]["request"]
    assert "1 / 1" in turns[1]["reply"] and json.loads(turns[1]["usage"])  # the repair turn in full
    assert [r["turn"] for r in store.revisions(session.id)] == [1, 2]
    store.close()


def test_ask_test_run_prints_the_advice_when_the_cause_is_outside_the_flow(
    gemini: FakeGemini, kestra: FakeKestra, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.engine.test_testrun import BROKEN, OUTSIDE

    kestra.outcome_rule = lambda task: "FAILED"
    kestra.task_logs = {"compute": [("ERROR", "Not found: Table company.trips")]}
    gemini.script(Reply(BROKEN), Reply(OUTSIDE))
    assert main(["ask", "compute a value", "--test-run", "--yes", "--recipe", "no-retrieval"]) == 1
    out, err = capsys.readouterr()
    assert "test run: stopped: the cause is outside the flow" in err
    assert "  advice: The table `company.trips` does not exist" in err and "```" not in err
    assert len(kestra.executions) == 1 and err.count("test run: FAILED at task compute") == 1
    assert out.startswith("id: report\n")  # the flow that ran, the only revision
    (session,) = SessionStore.open(Path(os.environ["KESTRA_COPILOT_DATA_DIR"]) / "sessions.db").sessions()
    assert session.revisions == 1


def test_ask_test_run_says_what_the_server_lacks_and_deploys_nothing(
    gemini: FakeGemini, kestra: FakeKestra, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.engine.test_testrun import NEEDS

    gemini.script(Reply(f"```yaml\n{NEEDS}```"))
    assert main(["ask", "query the trips", "--test-run", "--yes", "--recipe", "no-retrieval"]) == 2
    out, err = capsys.readouterr()
    assert "test run: checked the server: 2 KV keys, 2 plugin types — 2 missing" in err
    assert "  note: The flow reads the secret GCP_SERVICE_ACCOUNT" in err
    assert "error: the test run did not finish: Revision 1 needs what the server does not have" in err
    assert "- plugin type io.kestra.plugin.gcp.bigquery.Query is not installed" in err
    assert out.startswith("id: report\n") and not kestra.flows and not kestra.executions


def test_ask_test_run_against_a_server_that_is_down_still_prints_the_flow(
    gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KESTRA_URL", f"http://127.0.0.1:{port}")
    gemini.script(Reply(VALID))
    assert main(["ask", "log hi", "--test-run", "--yes", "--recipe", "no-retrieval"]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("id: taxi\n")  # the flow is not lost
    assert "the test run did not finish" in err and "hint:" in err
