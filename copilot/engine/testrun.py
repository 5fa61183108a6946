"""Test-run: prove the current revision on a real Kestra, and repair it from the failure when it fails.

    result = await test_run(engine, client, consent=ask_the_user, inputs={"month": "2024-01"}, on_event=print)

First, what the flow needs from the server and the server can tell is checked (kestra/needs.py): a KV key it
reads or a plugin type the server lacks stops the run before anything is deployed; the secrets it reads are
named (they cannot be listed). The revision is deployed as a test copy (kestra/sandbox.py): in a test
namespace (`<namespace>.copilot_test` by default, so nothing the team runs is touched, and within the
`deploy_namespaces` allow-list), with its triggers removed and a label that marks it as the tool's — and
only after `consent` said yes to what it can do (engine/consent.py). It is executed with the test inputs,
followed to its end, and deleted after the run unless `keep`. On a failure, the failing task's error logs —
fenced as data, never instructions — and the flow go back to the model (the recipe's `repair_run_logs`
template) through a normal engine turn: validated, repaired from diagnostics if need be, a new revision with
its diff. The new revision is run again, up to `max_repairs` times, after consent is asked again if it can
do more than what was approved; a repair that is refused ends the run there, with the engine back on the
revision that last ran. A repair that gives the flow back unchanged says the cause is outside the flow (a
permission, a secret, a table to create): the loop stops with the model's advice (`TestRunResult.advice`),
no revision added, nothing run again.
An execution still going after `follow_timeout` seconds (paused, never started, hung) is killed and
RunTimedOut raised; the engine keeps every revision.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

from ..config import Settings
from ..errors import CopilotError
from ..flows import diff_flows, flow_capabilities, has_errors, reply_prose
from ..kestra import (
    GOOD_STATES,
    DeployedFlow,
    Execution,
    KestraClient,
    KestraError,
    ServerNeeds,
    check_deployed,
    check_needs,
    ensure_allowed,
    ensure_calls_allowed,
    execution_link,
    flow_key,
)
from ..kestra.sandbox import TEST_LABEL, TestCopy, is_test_deploy, test_copy, test_namespace
from ..kestra.watch import Event as WatchEvent
from ..kestra.watch import StillRunning, follow_to_end
from .consent import Approvals, Consent, ConsentRefused, ConsentRequest
from .prompt import as_data
from .turn import Engine, Revision, TurnEvent, TurnResult

__all__ = [
    "GOOD_STATES",
    "TEST_SUFFIX",
    "CleanedUp",
    "Deployed",
    "OutsideTheFlow",
    "RepairStarted",
    "RunFinished",
    "RunTimedOut",
    "ServerChecked",
    "TestRunEvent",
    "TestRunResult",
    "recording_repairs",
    "repair_request",
    "test_run",
]

TEST_SUFFIX = ".copilot_test"
MAX_LOG_LINES = 30
MAX_LOG_CHARS = 4000  # of the failing task's log lines sent to the model (the last ones)
FOLLOW_TIMEOUT = Settings.test_run_timeout  # seconds a test execution may take before it is killed
MAX_ADVICE_CHARS = 1500  # of the model's explanation when the cause is outside the flow
NO_ADVICE = (
    "The repair gave the flow back unchanged without saying why: the cause is likely outside the flow "
    "(a permission, a secret, a missing table). Read the failing task's logs in the Run tab."
)


class RunTimedOut(KestraError):
    """A test execution did not finish within the follow timeout (it was killed)."""

    def __init__(self, message: str, *, execution: Execution, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.execution = execution


@dataclass(frozen=True)
class ServerChecked:
    """Before the deploy: what the flow needs from the server (KV keys, plugins, secrets) and what is missing."""

    needs: ServerNeeds
    local_revision: int


@dataclass(frozen=True)
class Deployed:
    namespace: str
    flow_id: str
    revision: int  # the server's revision
    local_revision: int  # the engine's
    changes: tuple[str, ...] = ()  # what the test copy changed (namespace, triggers removed, label)


@dataclass(frozen=True)
class CleanedUp:
    """After the run: the test flow deleted (or kept, on request, or left because deleting failed)."""

    namespace: str
    flow_id: str
    deleted: bool
    problem: str | None = None  # why it is still there, when it should not be


@dataclass(frozen=True)
class RunFinished:
    execution: Execution
    failing_task: str | None
    error_logs: tuple[str, ...]
    revision: int = 0  # the engine's revision that ran


@dataclass(frozen=True)
class RepairStarted:
    """A repair turn begins: the turn's events follow (a front end records them as a turn of its own)."""

    request: str
    number: int  # 1 = the first repair


@dataclass(frozen=True)
class OutsideTheFlow:
    """The repair gave the flow back unchanged: the cause is outside it, and the loop stops with the model's
    advice (what the user must do: grant a permission, set a secret, create a table)."""

    advice: str
    revision: int  # the engine's revision that ran, and stays current


# What `test_run` emits: the server check, the deploy, the execution with its live logs, the verdict, each
# repair turn's events (after its RepairStarted), the advice when the cause is outside the flow, the clean-up.
TestRunEvent = (
    ServerChecked | Deployed | WatchEvent | RunFinished | RepairStarted | TurnEvent | OutsideTheFlow | CleanedUp
)


def recording_repairs(
    open_turn: Callable[[str], Callable[[TurnEvent], None] | None],
) -> Callable[[object], None]:
    """An event handler for `test_run` that records each repair as a turn of its own: `open_turn(request)`
    (e.g. a session store's recorder) is called at each RepairStarted and gets that turn's events."""
    record: Callable[[TurnEvent], None] | None = None

    def on_event(event: object) -> None:
        nonlocal record
        if isinstance(event, RepairStarted):
            record = open_turn(event.request)
        elif record is not None and isinstance(event, TurnEvent):
            record(event)

    return on_event


@dataclass
class TestRunResult:
    state: str
    runs: list[RunFinished] = field(default_factory=list)
    repairs: list[TurnResult] = field(default_factory=list)
    # A repair the user (or the opt-in) did not approve: the run stopped there, and the engine is back on the
    # revision that last ran (the refused one stays in the engine's redo and in the session).
    refused: ConsentRefused | None = None
    refused_revision: int | None = None
    # The repair found the cause outside the flow (it gave the flow back unchanged): the model's advice.
    advice: str | None = None

    @property
    def passed(self) -> bool:
        return self.state in GOOD_STATES


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
    consent: Consent,
    approvals: Approvals | None = None,
    inputs: dict[str, str] | None = None,
    namespace_suffix: str = TEST_SUFFIX,
    allow: str | None = None,
    keep: bool = False,
    max_repairs: int = 2,
    follow_timeout: float = FOLLOW_TIMEOUT,
    on_event: Callable[[TestRunEvent], None] | None = None,
) -> TestRunResult:
    """Deploy the current revision as a test copy (after consent), run it, repair it; see the module doc.
    `approvals` carries what the user already said yes to (a chat keeps one for the conversation)."""
    emit = on_event or (lambda event: None)
    approvals = approvals if approvals is not None else Approvals()
    result = TestRunResult(state="NOT_RUN")
    deployed: set[tuple[str, str]] = set()  # what to clean up, whatever happens
    async with _one_run_per_flow(client, engine.current):
        try:
            for attempt in range(max_repairs + 1):
                revision = _runnable(engine.current)
                copy, needs = await _checked_copy(client, revision, namespace_suffix, allow, keep)
                emit(ServerChecked(needs, revision.number))
                needs.refuse(f"Revision {revision.number}")
                try:
                    await _approve(client, copy, consent, approvals, revision.number, allow)
                except ConsentRefused as refusal:
                    if not result.runs:
                        raise  # nothing ran: the refusal is the outcome
                    result.refused, result.refused_revision = refusal, revision.number
                    engine.goto(result.runs[-1].revision)
                    return result
                await _deploy(client, copy, revision.number, deployed, emit)
                finished = await _execute(client, copy, revision.number, inputs or {}, follow_timeout, emit)
                result.runs.append(finished)
                result.state = finished.execution.state
                emit(finished)
                if result.state in GOOD_STATES or attempt == max_repairs:
                    return result
                request = repair_request(engine, finished)
                emit(RepairStarted(request, attempt + 1))
                repair = await engine.turn(request, on_event=emit)
                result.repairs.append(repair)
                # The flow back unchanged, or an answer in prose with no flow: the cause is outside the flow, and
                # the same flow would fail the same way. What the model said is the advice, not a repair.
                if repair.unchanged or repair.answer is not None:
                    result.advice = _advice(engine, repair)
                    emit(OutsideTheFlow(result.advice, revision.number))
                    return result
                if repair.revision is None or not repair.valid:
                    return result  # the model could not produce a valid fix: stop, keep everything
            return result
        finally:
            for namespace, flow_id in sorted(deployed):
                emit(await _clean_up(client, namespace, flow_id, keep))


async def check_before_test_run(
    engine: Engine, client: KestraClient, *, namespace_suffix: str = TEST_SUFFIX, allow: str | None = None
) -> ServerNeeds:
    """What a test-run of the current revision would check first — the allow-list, then what the flow needs
    from the server — without deploying anything: a front end asks it before a form for the flow's inputs,
    so what is missing is said before the user fills it in. Raises what the test-run would refuse with."""
    revision = _runnable(engine.current)
    _, needs = await _checked_copy(client, revision, namespace_suffix, allow, keep=False)
    needs.refuse(f"Revision {revision.number}")
    return needs


async def _checked_copy(
    client: KestraClient, revision: Revision, namespace_suffix: str, allow: str | None, keep: bool
) -> tuple[TestCopy, ServerNeeds]:
    """The revision's test copy, in an allowed test namespace, and what it needs from the server."""
    namespace, _ = flow_key(revision.yaml)
    target = test_namespace(namespace, namespace_suffix)
    ensure_allowed(target, allow)
    copy = test_copy(revision.yaml, target, keep=keep)
    return copy, await check_needs(client, copy.yaml, copy.namespace, home=namespace)


_RUNS: weakref.WeakValueDictionary[tuple[str, str, str], asyncio.Lock] = weakref.WeakValueDictionary()


@contextlib.asynccontextmanager
async def _one_run_per_flow(client: KestraClient, revision: Revision | None) -> AsyncIterator[None]:
    """Two test-runs of one flow at once (an eval's repeats) would share its test copy: one at a time."""
    try:
        key = (client.url, *flow_key(revision.yaml)) if revision is not None else (client.url, "", "")
    except CopilotError:  # no namespace or id: refused by the run, with the reason
        key = (client.url, "", "")
    lock = _RUNS.setdefault(key, asyncio.Lock())
    async with lock:
        yield


def _runnable(revision: Revision | None) -> Revision:
    if revision is None:
        raise CopilotError("There is no flow to test-run yet.")
    if not revision.valid:
        invalid = has_errors(revision.diagnostics)
        raise CopilotError(
            f"Revision {revision.number} is "
            + ("invalid" if invalid else "refused by policy (a credential written into it)")
            + "; it is not deployed.",
            hint="Fix the validation errors first (ask the assistant to fix them).",
        )
    return revision


async def _deploy(
    client: KestraClient,
    copy: TestCopy,
    number: int,
    deployed: set[tuple[str, str]],
    emit: Callable[[TestRunEvent], None],
) -> None:
    """Deploy the approved copy. The place is checked again after the yes (a person may take minutes): only a
    test copy is ever replaced, and where there was none only a creation is sent, so a flow made meanwhile is
    not overwritten. What the server stored is checked to be where it was meant to go."""
    existing = await _test_copy_or_none(client, copy)
    server = await client.deploy(copy.yaml, copy.namespace, copy.flow_id, update=existing is not None)
    deployed.add((copy.namespace, copy.flow_id))
    check_deployed(server, copy.namespace, copy.flow_id)
    emit(Deployed(copy.namespace, copy.flow_id, server.revision, number, copy.changes))


async def _test_copy_or_none(client: KestraClient, copy: TestCopy) -> DeployedFlow | None:
    """What the server has at the copy's place: nothing, or an earlier test copy. Anything else — a flow
    that is not this tool's test copy — is never overwritten: an error."""
    existing = await client.get_flow(copy.namespace, copy.flow_id)
    if existing is not None and not is_test_deploy(existing):
        raise KestraError(
            f"{copy.namespace}.{copy.flow_id} already exists on the server and is not a kestra-copilot test copy "
            f"(it has no `{TEST_LABEL[0]}: {TEST_LABEL[1]}` label); nothing was deployed.",
            hint="Rename the flow (its id), or set another test_namespace_suffix.",
        )
    return existing


async def _approve(
    client: KestraClient, copy: TestCopy, consent: Consent, approvals: Approvals, number: int, allow: str | None
) -> None:
    """Ask for consent unless what the copy can do is already approved; raises when refused."""
    capabilities = flow_capabilities(copy.yaml)
    ensure_calls_allowed(capabilities, allow)
    missing = approvals.missing(copy.namespace, copy.flow_id, capabilities)
    existing = await _test_copy_or_none(client, copy)
    if not missing:
        return
    old = existing.source if existing is not None else None
    request = ConsentRequest(
        action="test-run",
        server=client.url,
        namespace=copy.namespace,
        flow_id=copy.flow_id,
        flow_yaml=copy.yaml,
        capabilities=capabilities,
        new=missing,
        diff=diff_flows(old, copy.yaml, old_label="on the server", new_label=f"revision {number}") if old else None,
        changes=copy.changes,
        first=approvals.first(copy.namespace, copy.flow_id),
    )
    if not await consent(request):
        raise ConsentRefused(
            f"Not approved: revision {number} was not deployed or run.",
            hint="Change the flow or ask for what you want, then test-run it again.",
        )
    approvals.grant(copy.namespace, copy.flow_id, capabilities)


async def _execute(
    client: KestraClient,
    copy: TestCopy,
    number: int,
    inputs: dict[str, str],
    timeout: float,
    emit: Callable[[TestRunEvent], None],
) -> RunFinished:
    started = await client.execute(copy.namespace, copy.flow_id, inputs=inputs, labels=dict([TEST_LABEL]))
    started = replace(started, url=execution_link(client, started))  # where to watch it in Kestra's UI
    emit(started)
    try:
        finished = await follow_to_end(client, started, emit, timeout=timeout)
    except asyncio.CancelledError:  # Ctrl+C, the chat closed or a new flow started: the run stops too
        with contextlib.suppress(KestraError):
            await client.kill(started.id)
        raise
    except StillRunning as still:  # a test execution is not left running: it is killed
        raise await _timed_out(client, still.execution, timeout) from None
    failed = finished.failing_run
    lines = tuple(f"{e.level} {e.message}" for e in finished.error_logs[-MAX_LOG_LINES:])
    return RunFinished(finished.execution, failed.task_id if failed else None, lines, number)


async def _clean_up(client: KestraClient, namespace: str, flow_id: str, keep: bool) -> CleanedUp:
    """Delete the test copy, unless it is to be kept; a failure to delete is reported, never raised (the
    run's own outcome matters more), and a flow that is not a test copy is never deleted."""
    if keep:
        return CleanedUp(namespace, flow_id, deleted=False)
    try:
        current = await client.get_flow(namespace, flow_id)
        if current is None:
            return CleanedUp(namespace, flow_id, deleted=True)
        if not is_test_deploy(current):
            return CleanedUp(namespace, flow_id, False, "it is no longer a test copy, so it was left alone")
        await client.delete_flow(namespace, flow_id)
    except KestraError as exc:
        return CleanedUp(namespace, flow_id, False, f"deleting it failed: {exc}")
    return CleanedUp(namespace, flow_id, deleted=True)


def _advice(engine: Engine, repair: TurnResult) -> str:
    """What the model said when it gave the flow back unchanged, or answered without one: its reply without
    the flow, trimmed."""
    text = reply_prose(engine.vault.restore(repair.reply)) or NO_ADVICE
    return text if len(text) <= MAX_ADVICE_CHARS else text[: MAX_ADVICE_CHARS - 1].rstrip() + "…"


def repair_request(engine: Engine, finished: RunFinished) -> str:
    """The request that sends a failed run's state, failing task and error logs to the model for a fix."""
    return engine.recipe.render(
        "repair_run_logs",
        state=finished.execution.state,
        task_id=finished.failing_task or "(none)",
        logs=as_data(
            "\n".join(finished.error_logs) or "(no log lines)",
            "Kestra logs",
            budget=MAX_LOG_CHARS,
            keep="tail",
            redact=engine.vault.redact,  # one numbering with the request and the flow
        ),
    )


# Not pytest tests, whatever their names say.
test_run.__test__ = False  # type: ignore[attr-defined]
TestRunResult.__test__ = False  # type: ignore[attr-defined]
