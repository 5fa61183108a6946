"""Test-run: prove the current revision on a real Kestra, and repair it from the failure when it fails.

    result = await test_run(engine, client, inputs={"month": "2024-01"}, on_event=print)

The revision is deployed to a test namespace (`<namespace>.copilot_test` by default, so nothing the
team runs is touched), executed with the test inputs and followed to its end. On a failure, the failing
task's error logs and the flow go back to the model (the recipe's `repair_run_logs` template) through a
normal engine turn — validated, repaired from diagnostics if need be, a new revision with its diff —
and the new revision is run again, up to `max_repairs` times. An execution still going after
`follow_timeout` seconds (paused, never started, hung) is killed and RunTimedOut raised; the engine
keeps every revision.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

from ..asyncutil import stop_after
from ..config import Settings
from ..errors import CopilotError
from ..kestra import Execution, KestraClient, KestraError, LogEntry, flow_key, with_namespace
from .turn import Engine, TurnEvent, TurnResult

__all__ = [
    "GOOD_STATES",
    "TEST_SUFFIX",
    "Deployed",
    "RepairStarted",
    "RunFinished",
    "RunTimedOut",
    "TestRunResult",
    "recording_repairs",
    "repair_request",
    "test_run",
]

TEST_SUFFIX = ".copilot_test"
GOOD_STATES = frozenset({"SUCCESS", "WARNING"})
MAX_LOG_LINES = 30
LOG_GRACE = 2.5  # seconds for the last log lines after the execution ends
FOLLOW_TIMEOUT = Settings.test_run_timeout  # seconds a test execution may take before it is killed


class RunTimedOut(KestraError):
    """A test execution did not finish within the follow timeout (it was killed)."""

    def __init__(self, message: str, *, execution: Execution, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.execution = execution


@dataclass(frozen=True)
class Deployed:
    namespace: str
    flow_id: str
    revision: int  # the server's revision
    local_revision: int  # the engine's


@dataclass(frozen=True)
class RunFinished:
    execution: Execution
    failing_task: str | None
    error_logs: tuple[str, ...]


@dataclass(frozen=True)
class RepairStarted:
    """A repair turn begins: the turn's events follow (a front end records them as a turn of its own)."""

    request: str
    number: int  # 1 = the first repair


def recording_repairs(open_turn: Callable[[str], Callable[[Any], None] | None]) -> Callable[[Any], None]:
    """An event handler for `test_run` that records each repair as a turn of its own: `open_turn(request)`
    (e.g. a session store's recorder) is called at each RepairStarted and gets that turn's events."""
    record: Callable[[Any], None] | None = None
    turn_events = get_args(TurnEvent)

    def on_event(event: Any) -> None:
        nonlocal record
        if isinstance(event, RepairStarted):
            record = open_turn(event.request)
        elif record is not None and isinstance(event, turn_events):
            record(event)

    return on_event


@dataclass
class TestRunResult:
    state: str
    runs: list[RunFinished] = field(default_factory=list)
    repairs: list[TurnResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.state in GOOD_STATES


def _failure(execution: Execution, logs: list[LogEntry]) -> tuple[str | None, tuple[str, ...]]:
    failed = next((run for run in execution.task_runs if run.state not in GOOD_STATES), None)
    if failed is None:
        return None, ()
    mine = [entry for entry in logs if entry.task_run_id == failed.id]
    errors = [entry for entry in mine if entry.level in ("ERROR", "WARN")] or mine
    return failed.task_id, tuple(f"{e.level} {e.message}" for e in errors[-MAX_LOG_LINES:])


async def _emit_logs(client: KestraClient, execution_id: str, emit: Callable[[Any], None]) -> None:
    """Log entries as Kestra writes them, as events (a front end shows them live)."""
    with contextlib.suppress(KestraError):  # live logs are a nicety: the verdict fetches them again
        async for entry in client.follow_logs(execution_id):
            emit(entry)


async def _follow(client: KestraClient, started: Execution, emit: Callable[[Any], None], timeout: float) -> Execution:
    """The execution once finished, each change emitted; killed and RunTimedOut after `timeout` seconds."""
    seen = [started]

    async def follow() -> Execution:
        async for execution in client.follow(started.id):
            seen.append(execution)
            emit(execution)
        return seen[-1]

    try:
        return await asyncio.wait_for(follow(), timeout)
    except TimeoutError:
        raise await _timed_out(client, seen[-1], timeout) from None


async def _timed_out(client: KestraClient, execution: Execution, timeout: float) -> RunTimedOut:
    try:
        await client.kill(execution.id)
        outcome = "it was killed"
    except KestraError as exc:
        outcome = f"killing it failed too ({exc})"
    where = f"{execution.namespace}.{execution.flow_id}".strip(".")
    return RunTimedOut(
        f"Test execution {execution.id} of {where} was still {execution.state or 'running'} "
        f"after {timeout:g} s; {outcome}.",
        execution=execution,
        hint=_WHY_STILL.get(execution.state, _WHY_STILL["RUNNING"]),
    )


_WHY_STILL = {
    "PAUSED": "A Pause task waits to be resumed: drop it from the flow for test-runs, or give it a pauseDuration.",
    "CREATED": "Kestra never started it: check that its executor and a worker are running (and the flow's "
    "concurrency limit), or allow the test-run a longer timeout.",
    "QUEUED": "It waited in the queue (the flow's concurrency limit): let the other executions end, or allow "
    "the test-run a longer timeout.",
    "RUNNING": "A long Sleep or a task that hangs keeps it running: change the flow, or allow the test-run a "
    "longer timeout.",
}


async def test_run(
    engine: Engine,
    client: KestraClient,
    *,
    inputs: dict[str, str] | None = None,
    namespace_suffix: str = TEST_SUFFIX,
    max_repairs: int = 2,
    follow_timeout: float = FOLLOW_TIMEOUT,
    on_event: Callable[[Any], None] | None = None,
) -> TestRunResult:
    emit = on_event or (lambda event: None)
    result = TestRunResult(state="NOT_RUN")
    for attempt in range(max_repairs + 1):
        revision = engine.current
        if revision is None:
            raise CopilotError("There is no flow to test-run yet.")
        if not revision.valid:
            raise CopilotError(
                f"Revision {revision.number} is invalid; it is not deployed.",
                hint="Fix the validation errors first (ask the assistant to fix them).",
            )
        namespace, flow_id = flow_key(revision.yaml)
        test_namespace = namespace if namespace.endswith(namespace_suffix) else namespace + namespace_suffix
        deployed = await client.deploy(with_namespace(revision.yaml, test_namespace), test_namespace, flow_id)
        emit(Deployed(test_namespace, flow_id, deployed.revision, revision.number))
        started = await client.execute(test_namespace, flow_id, inputs=inputs or {})
        emit(started)
        logs = asyncio.create_task(_emit_logs(client, started.id, emit))
        try:
            final = await _follow(client, started, emit, follow_timeout)
        finally:
            await stop_after(logs, LOG_GRACE)
        task, error_logs = _failure(final, await client.logs(started.id))
        finished = RunFinished(final, task, error_logs)
        result.runs.append(finished)
        result.state = final.state
        emit(finished)
        if final.state in GOOD_STATES or attempt == max_repairs:
            return result
        request = repair_request(engine, finished)
        emit(RepairStarted(request, attempt + 1))
        repair = await engine.turn(request, on_event=emit)
        result.repairs.append(repair)
        if repair.revision is None or not repair.valid:
            return result  # the model could not produce a valid fix: stop, keep everything
    return result


def repair_request(engine: Engine, finished: RunFinished) -> str:
    """The request that sends a failed run's state, failing task and error logs to the model for a fix."""
    return engine.recipe.render(
        "repair_run_logs",
        state=finished.execution.state,
        task_id=finished.failing_task or "(none)",
        logs="\n".join(finished.error_logs) or "(no log lines)",
    )


# Not pytest tests, whatever their names say.
test_run.__test__ = False  # type: ignore[attr-defined]
TestRunResult.__test__ = False  # type: ignore[attr-defined]
