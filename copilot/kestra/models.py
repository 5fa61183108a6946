"""Kestra's flow and execution answers, as small typed views over the JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["TERMINAL_STATES", "DeployedFlow", "Execution", "LogEntry", "TaskRun"]

# State.Type values that end an execution or a task run (core/…/models/flows/State.java).
TERMINAL_STATES = frozenset(
    {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED", "RESUBMITTED"}
)


@dataclass(frozen=True)
class DeployedFlow:
    namespace: str
    id: str
    revision: int
    source: str
    disabled: bool = False

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> DeployedFlow:
        return cls(
            namespace=str(body.get("namespace") or ""),
            id=str(body.get("id") or ""),
            revision=int(body.get("revision") or 0),
            source=str(body.get("source") or ""),
            disabled=bool(body.get("disabled")),
        )


@dataclass(frozen=True)
class TaskRun:
    id: str
    task_id: str
    state: str
    value: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class Execution:
    id: str
    namespace: str
    flow_id: str
    state: str
    task_runs: tuple[TaskRun, ...] = ()
    duration: str | None = None
    url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def terminal(self) -> bool:
        """Finished, as `/follow` judges it: the execution and every task run are terminal."""
        return self.state in TERMINAL_STATES and all(run.terminal for run in self.task_runs)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Execution:
        state = body.get("state") or {}
        runs = tuple(
            TaskRun(
                id=str(run.get("id") or ""),
                task_id=str(run.get("taskId") or ""),
                state=str((run.get("state") or {}).get("current") or ""),
                value=run.get("value"),
            )
            for run in body.get("taskRunList") or []
            if isinstance(run, dict)
        )
        return cls(
            id=str(body.get("id") or ""),
            namespace=str(body.get("namespace") or ""),
            flow_id=str(body.get("flowId") or ""),
            state=str(state.get("current") or ""),
            task_runs=runs,
            duration=state.get("duration"),
            url=body.get("url"),
            raw=body,
        )


@dataclass(frozen=True)
class LogEntry:
    timestamp: str
    level: str
    message: str
    task_id: str | None = None
    task_run_id: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> LogEntry:
        return cls(
            timestamp=str(body.get("timestamp") or ""),
            level=str(body.get("level") or "INFO"),
            message=str(body.get("message") or ""),
            task_id=body.get("taskId"),
            task_run_id=body.get("taskRunId"),
        )
