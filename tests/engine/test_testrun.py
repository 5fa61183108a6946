"""Test-run: deploy to a test namespace, execute, follow, and repair from the failing task's logs."""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from copilot.engine.testrun import Deployed, RunFinished, test_run
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
    events: list[Any] = []

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
        deployed_in = set(kestra.flows)
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


def test_repairs_are_bounded(gemini: FakeGemini) -> None:
    chat = engine(gemini)
    gemini.script(Reply(BROKEN))
    asyncio.run(chat.turn("return a computed value"))
    with FakeKestra(outcome_rule=lambda task: "FAILED") as kestra:
        result, events = run(kestra, chat, max_repairs=1)
    assert not result.passed and len(result.runs) == 2 and len(result.repairs) == 1
    assert sum(isinstance(e, RunFinished) for e in events) == 2


def test_an_invalid_revision_is_never_deployed(gemini: FakeGemini) -> None:
    from copilot.errors import CopilotError

    chat = engine(gemini)
    chat.start_from("id: x\nnamespace: company.team\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n")
    with FakeKestra() as kestra, pytest.raises(CopilotError, match="invalid"):
        run(kestra, chat)
    assert not kestra.flows
