"""Kestra's flow and execution answers, as small typed views over the JSON."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GOOD_STATES",
    "TERMINAL_STATES",
    "DeployedFlow",
    "Execution",
    "LogEntry",
    "TaskRun",
    "error_lines",
    "flow_ref",
]

# State.Type values that end an execution or a task run (core/…/models/flows/State.java).
TERMINAL_STATES = frozenset(
    {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED", "RESUBMITTED"}
)
GOOD_STATES = frozenset({"SUCCESS", "WARNING"})  # the ends that count as a run that worked
_ISO_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")


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

    @property
    def failing_run(self) -> TaskRun | None:
        """The first task run that did not end well (None when every one did)."""
        return next((run for run in self.task_runs if run.state not in GOOD_STATES), None)

    @property
    def seconds(self) -> float | None:
        """How long it ran: the state's ISO-8601 `duration` (`PT1M2.5S`), else its end date less its start
        date; None when the answer says neither (`duration` is nullable in Kestra's spec)."""
        state = self.raw.get("state") or {}
        found = _ISO_DURATION.fullmatch(self.duration or "")
        if self.duration and found:
            days, hours, minutes, seconds = (float(part or 0) for part in found.groups())
            return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
        try:
            start, end = (datetime.datetime.fromisoformat(str(state[key])) for key in ("startDate", "endDate"))
            return (end - start).total_seconds()
        except (KeyError, ValueError, TypeError):  # not there, not a date, or one naive and one aware
            return None

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


def error_lines(entries: list[LogEntry]) -> list[LogEntry]:
    """The lines of a failed task run that say why: its ERROR and WARN lines, or all of them when it has none."""
    return [entry for entry in entries if entry.level in ("ERROR", "WARN")] or entries


def flow_ref(namespace: str, flow_id: str) -> str:
    """A flow as the user names it: `namespace/id`, as `kestra-copilot run` takes it and Kestra's URLs write it
    (`company.team.taxi` would hide where the namespace ends)."""
    return f"{namespace}/{flow_id}"
