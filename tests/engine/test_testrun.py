"""Test-run: deploy to a test namespace, execute, follow, and repair from the failing task's logs."""

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from copilot.engine.consent import sandbox
from copilot.engine.testrun import CleanedUp, Deployed, RunFinished, test_run
from copilot.kestra import KestraClient
from tests.engine.test_turn import engine
from tests.fakes.gemini import FakeGemini, Reply
from tests.fakes.kestra import FakeKestra

BROKEN = """```yaml
id: report
namespace: company.team
tasks:
  - id: compute
    type: io.kestra.plugin.core.debug.Return
    format: "{{ 1 / 0 }}"
```
"""
FIXED = BROKEN.replace('"{{ 1 / 0 }}"', '"{{ 1 / 1 }}"')


def divides_by_zero(task: dict[str, Any]) -> str:
    return "FAILED" if "/ 0" in str(task.get("format", "")) else "SUCCESS"


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


def run(kestra: FakeKestra, chat: Any, **options: Any) -> tuple[Any, list[Any]]:
    """A test-run approved as a sandbox would (tests/security/test_consent.py asks the user)."""
    events: list[Any] = []
    options.setdefault("consent", sandbox())

    async def scenario() -> Any:
        async with KestraClient(kestra.url, username=kestra.username, password=kestra.password) as client:
            return await test_run(chat, client, on_event=events.append, **options)

    return asyncio.run(scenario()), events


def test_a_failing_run_is_repaired_from_its_logs_and_passes(gemini: FakeGemini) -> None:
    chat = engine(gemini)
    gemini.script(Reply(BROKEN))
    asyncio.run(chat.turn("return a computed value"))
    gemini.script(Reply(FIXED))
    logs = {"compute": [("INFO", "rendering"), ("ERROR", "ArithmeticException: / by zero")]}
    with FakeKestra(outcome_rule=divides_by_zero, task_logs=logs) as kestra:
        result, events = run(kestra, chat, inputs={})
        left_on_the_server = dict(kestra.flows)
    deployed_in = {(e.namespace, e.flow_id) for e in events if isinstance(e, Deployed)}
    assert result.passed and [r.execution.state for r in result.runs] == ["FAILED", "SUCCESS"]
    assert result.runs[0].failing_task == "compute" and result.runs[0].error_logs == (
        "ERROR ArithmeticException: / by zero",
    )
    # The repair request carried the state, the failing task and its error log; the fix is revision 2.
    repair_request = gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]
    assert "ended FAILED" in repair_request and "`compute`" in repair_request and "/ by zero" in repair_request
    assert chat.current.number == 2 and chat.current.diff.changed
    assert "namespace: company.team\n" in chat.current.yaml  # the flow itself keeps its namespace
    assert deployed_in == {("company.team.copilot_test", "report")}  # only the test namespace was touched
    server_revisions = [e.revision for e in events if isinstance(e, Deployed)]
    assert server_revisions == [1, 2]
    # the test copy is deleted after the run
    assert not left_on_the_server and [e.deleted for e in events if isinstance(e, CleanedUp)] == [True]


def test_the_repair_gets_the_error_lines_when_the_live_log_stream_fails(gemini: FakeGemini) -> None:
    """The log stream refused and the indexer behind: the failing task's lines are read once the run ended."""
    chat = engine(gemini)
    gemini.script(Reply(BROKEN))
    asyncio.run(chat.turn("return a computed value"))
    gemini.script(Reply(FIXED))
    logs = {"compute": [("INFO", "rendering"), ("ERROR", "ArithmeticException: / by zero")]}
    with FakeKestra(outcome_rule=divides_by_zero, task_logs=logs, log_follow_status=503) as kestra:
        kestra.unindexed_log_reads = 1
        result, _ = run(kestra, chat, inputs={})
    assert result.passed and result.runs[0].error_logs == ("ERROR ArithmeticException: / by zero",)
    assert "/ by zero" in gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]


def test_repairs_are_bounded(gemini: FakeGemini) -> None:
    chat = engine(gemini)
    gemini.script(Reply(BROKEN))
    asyncio.run(chat.turn("return a computed value"))
    gemini.script(Reply(FIXED))  # a change, that fails too
    with FakeKestra(outcome_rule=lambda task: "FAILED") as kestra:
        result, events = run(kestra, chat, max_repairs=1)
    assert not result.passed and len(result.runs) == 2 and len(result.repairs) == 1
    assert sum(isinstance(e, RunFinished) for e in events) == 2


OUTSIDE = """The table `company.trips` does not exist: the cause is outside the flow. Create the table in
BigQuery (or give the service account bigquery.tables.create), then run the flow again.

```yaml
id: report
namespace: company.team
tasks:
  - id: compute   # unchanged
    type: io.kestra.plugin.core.debug.Return
    format: "{{ 1 / 0 }}"
```
"""


def test_a_repair_that_gives_the_flow_back_unchanged_stops_the_loop_with_its_advice(gemini: FakeGemini) -> None:
    """The cause is outside the flow: the same flow is neither recorded again nor deployed and run again."""
    from copilot.engine.testrun import OutsideTheFlow

    chat = engine(gemini)
    gemini.script(Reply(BROKEN))
    asyncio.run(chat.turn("return a computed value"))
    gemini.script(Reply(OUTSIDE))
    logs = {"compute": [("ERROR", "Not found: Table company.trips")]}
    with FakeKestra(outcome_rule=lambda task: "FAILED", task_logs=logs) as kestra:
        result, events = run(kestra, chat)
        executions = len(kestra.executions)
    assert executions == 1 and len(result.runs) == 1 and sum(isinstance(e, Deployed) for e in events) == 1
    assert [r.number for r in chat.revisions] == [1] and result.repairs[0].unchanged
    assert result.state == "FAILED" and not result.passed
    assert result.advice is not None and result.advice.startswith("The table `company.trips` does not exist")
    assert "```" not in result.advice and "id: report" not in result.advice
    assert [e for e in events if isinstance(e, OutsideTheFlow)] == [OutsideTheFlow(result.advice, 1)]
    # the repair prompt told the model to say so and give the flow back unchanged
    assert "outside the flow" in gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]


NEEDS = """id: report
namespace: company.team
tasks:
  - id: remember
    type: io.kestra.plugin.core.kv.Set
    key: LAST_RUN
    value: "{{ execution.id }}"
  - id: query
    type: io.kestra.plugin.gcp.bigquery.Query
    sql: "SELECT * FROM `{{ kv('DATASET') }}.trips` -- {{ kv('LAST_RUN') }} {{ kv('LIMIT', errorOnMissing=false) }}"
    serviceAccount: "{{ secret('GCP_SERVICE_ACCOUNT') }}"
"""


def test_what_the_flow_needs_from_the_server_is_checked_before_anything_is_deployed(gemini: FakeGemini) -> None:
    """A KV key it reads and a plugin the server lacks stop the run; the secrets it reads are named."""
    from copilot.kestra import MissingOnServer

    chat = engine(gemini)
    chat.start_from(NEEDS)
    with FakeKestra(kv={("company.team", "DATASET"): "analytics"}) as kestra:
        with pytest.raises(MissingOnServer) as caught:
            run(kestra, chat)
        assert not kestra.flows and not kestra.executions
    message = str(caught.value)
    assert message.startswith("Revision 1 needs what the server does not have, so it was not deployed or run:")
    assert "KV key DATASET is not set in company.team.copilot_test" in message
    assert "It is set in company.team, but kv('DATASET') reads the namespace the flow runs in" in message
    assert "plugin type io.kestra.plugin.gcp.bigquery.Query is not installed" in message
    assert "LAST_RUN" not in message  # the flow sets it itself
    assert "test-run again" in (caught.value.hint or "")


def test_secrets_and_optional_keys_are_notes_and_the_run_goes_on(gemini: FakeGemini) -> None:
    from copilot.engine.testrun import ServerChecked

    chat = engine(gemini)
    chat.start_from(NEEDS.replace("io.kestra.plugin.gcp.bigquery.Query", "io.kestra.plugin.core.debug.Return")
                    .replace("sql:", "format:").replace("    serviceAccount:", "    description:"))  # fmt: skip
    with FakeKestra(kv={("company.team.copilot_test", "DATASET"): "analytics"}) as kestra:
        result, events = run(kestra, chat)
    assert result.passed
    (checked,) = [e for e in events if isinstance(e, ServerChecked)]
    assert not checked.needs.missing and checked.needs.secrets == ("GCP_SERVICE_ACCOUNT",)
    lines = checked.needs.lines()
    assert lines[0] == "checked the server: 2 KV keys, 2 plugin types — all there"
    assert any("KV key LIMIT is not set in company.team.copilot_test" in line for line in lines)
    assert any("secret GCP_SERVICE_ACCOUNT" in line and "SECRET_<NAME>" in line for line in lines)


def test_an_invalid_revision_is_never_deployed(gemini: FakeGemini) -> None:
    from copilot.errors import CopilotError

    chat = engine(gemini)
    chat.start_from("id: x\nnamespace: company.team\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n")
    with FakeKestra() as kestra, pytest.raises(CopilotError, match="invalid"):
        run(kestra, chat)
    assert not kestra.flows


PAUSED = """id: waits
namespace: company.team
tasks:
  - id: approve
    type: io.kestra.plugin.core.flow.Pause
"""


# Paused by a Pause task, or never started (no worker takes it up)
@pytest.mark.parametrize(("flow", "step_seconds", "state"), [(PAUSED, 0.02, "PAUSED"), (FIXED, 30.0, "CREATED")])
def test_an_execution_that_does_not_finish_is_killed_at_the_timeout(
    gemini: FakeGemini, flow: str, step_seconds: float, state: str
) -> None:
    from copilot.engine.testrun import RunTimedOut

    chat = engine(gemini)
    chat.start_from(flow.strip("`\n").removeprefix("yaml\n"))
    with FakeKestra(step_seconds=step_seconds) as kestra:
        started = time.monotonic()
        with pytest.raises(RunTimedOut) as caught:
            run(kestra, chat, follow_timeout=0.5)
        waited = time.monotonic() - started
        [execution] = kestra.executions.values()
        killed = [p for m, p in kestra.requests if m == "DELETE"]
    assert waited < 0.5 + 2.5 + 2  # the timeout, then at most the log grace
    assert execution["state"]["current"] == "KILLED"  # killed, then the test copy deleted
    assert killed == [
        f"/api/v1/main/executions/{execution['id']}/kill",
        f"/api/v1/main/flows/company.team.copilot_test/{execution['flowId']}",
    ]
    message = str(caught.value)
    assert f"Test execution {execution['id']} of company.team.copilot_test." in message
    assert f"was still {state} after 0.5 s; it was killed." in message
    assert ("Pause task" if state == "PAUSED" else "never started") in (caught.value.hint or "")
    assert caught.value.execution.state == state
    assert chat.current.number == 1  # the flow being worked on is kept


def test_a_repair_answered_in_prose_is_advice_too(gemini: FakeGemini) -> None:
    """Models often answer a failed run without a flow ("create the table first"): that is the advice, shown
    as such, not a repair that failed; nothing is run again."""
    chat = engine(gemini)
    gemini.script(Reply(BROKEN))
    asyncio.run(chat.turn("return a computed value"))
    gemini.script(Reply("The flow itself is fine. The cause is outside the flow: create the table `company.trips`."))
    with FakeKestra(outcome_rule=lambda task: "FAILED") as kestra:
        result, _ = run(kestra, chat)
        executions = len(kestra.executions)
    assert executions == 1 and [r.number for r in chat.revisions] == [1]
    assert result.advice is not None and "create the table `company.trips`" in result.advice
