"""Following an execution to its end, once for every front end: `kestra-copilot run`, test-runs (engine/
testrun.py) and the chat all see the same events and the same verdict.

    finished = await follow_to_end(client, started, emit, timeout=600)
    finished.execution.state, finished.failing_task, finished.error_logs

Each change of the execution (Kestra's SSE stream) and each live log line is handed to `emit` as it comes;
a stream cut short (a proxy's idle timeout, a restart) is followed again from where the execution is.
Once the execution has ended, the failing task's own log lines are read with the plain logs request —
waiting a moment for Kestra to index them when the live stream was refused or cut short — so the verdict
never depends on the live stream. After `timeout` seconds StillRunning is raised with the last state seen:
the execution is left as it is, and the caller decides whether to kill it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ..asyncutil import end_live_stream
from .client import KestraClient
from .errors import KestraError, KestraUnavailable
from .models import TERMINAL_STATES, Execution, LogEntry, TaskRun, error_lines

__all__ = ["LOG_GRACE", "Finished", "LiveLogsStopped", "StillRunning", "follow_to_end"]

LOG_GRACE = 2.5  # seconds for the last log lines after the execution ends (Kestra indexes them afterwards)
RESUME_PAUSE = 0.5  # seconds between a cut execution stream and following it again


@dataclass(frozen=True)
class Finished:
    execution: Execution  # its final state
    error_logs: tuple[LogEntry, ...] = ()  # the failing task run's lines that say why

    @property
    def failing_run(self) -> TaskRun | None:
        return self.execution.failing_run


@dataclass(frozen=True)
class LiveLogsStopped:
    """The live log stream was refused or cut: the verdict still comes (its lines are read again)."""

    reason: str


class StillRunning(Exception):
    def __init__(self, execution: Execution, timeout: float) -> None:
        super().__init__(f"Execution {execution.id} was still {execution.state or 'running'} after {timeout:g} s.")
        self.execution = execution
        self.timeout = timeout


Event = Execution | LogEntry | LiveLogsStopped


async def follow_to_end(
    client: KestraClient,
    started: Execution,
    emit: Callable[[Event], None],
    *,
    timeout: float,
    grace: float = LOG_GRACE,
) -> Finished:
    """The execution once ended, with the failing task's error lines (see the module docstring)."""
    logs = asyncio.create_task(_live_logs(client, started.id, emit))
    seen = [started]

    def see(execution: Execution) -> None:
        if execution != seen[-1]:
            seen.append(execution)
            emit(execution)

    async def follow() -> Execution:
        while True:
            try:
                async for execution in client.follow(started.id):
                    see(execution)
                return seen[-1]
            except KestraUnavailable:  # the stream was cut, not the execution: where is it now? then follow on
                current = await client.execution(started.id)  # Kestra itself down: this raises, and ends it
                see(current)
                if current.state in TERMINAL_STATES:
                    return current
                await asyncio.sleep(RESUME_PAUSE)

    try:
        final = await asyncio.wait_for(follow(), timeout)
    except BaseException as exc:  # the timeout, a cancellation, Kestra failing: no more live logs
        logs.cancel()
        if isinstance(exc, TimeoutError):
            raise StillRunning(seen[-1], timeout) from None
        raise
    live = await end_live_stream(logs, grace)
    failed = final.failing_run
    if failed is None:
        return Finished(final)
    lines = await client.task_run_logs(final.id, failed.id, wait=0 if live else grace)
    return Finished(final, tuple(error_lines(lines)))


async def _live_logs(client: KestraClient, execution_id: str, emit: Callable[[Event], None]) -> bool:
    """Log entries as Kestra writes them; False when the stream was refused or cut."""
    try:
        async for entry in client.follow_logs(execution_id):
            emit(entry)
    except KestraError as exc:
        emit(LiveLogsStopped(str(exc)))
        return False
    return True
