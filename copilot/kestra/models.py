"""Kestra's flow and execution answers, as small typed views over the JSON."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "GOOD_STATES",
    "TERMINAL_STATES",
    "DeployedFlow",
    "Execution",
    "LogEntry",
    "TaskRun",
    "error_lines",
    "flow_ref",
    "json_int",
    "json_object",
    "json_strings",
    "json_text",
]

# State.Type values that end an execution or a task run (core/…/models/flows/State.java).
TERMINAL_STATES = frozenset(
    {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED", "RESUBMITTED"}
)
GOOD_STATES = frozenset({"SUCCESS", "WARNING"})  # the ends that count as a run that worked
_ISO_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")


def json_object(value: object) -> dict[str, object]:
    """A JSON object of an answer, or an empty one when the answer holds something else there."""
    return value if isinstance(value, dict) else {}


def json_text(value: object) -> str | None:
    """A JSON value as text, None when it is absent (null)."""
    return None if value is None else str(value)


def json_int(value: object) -> int:
    """A JSON number (or a numeric string), 0 when it is absent or empty."""
    return int(value) if isinstance(value, int | float | str) and value else 0


def json_strings(value: object) -> list[str]:
    """A JSON list's items as text, empty when the value is not a list."""
    return [str(item) for item in value] if isinstance(value, list) else []


@dataclass(frozen=True)
class DeployedFlow:
    namespace: str
    id: str
    revision: int
    source: str
    disabled: bool = False

    @classmethod
    def from_json(cls, body: Mapping[str, object]) -> DeployedFlow:
        return cls(
            namespace=str(body.get("namespace") or ""),
            id=str(body.get("id") or ""),
            revision=json_int(body.get("revision")),
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
    raw: Mapping[str, object] = field(default_factory=dict, compare=False, repr=False)

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
        state = json_object(self.raw.get("state"))
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
    def from_json(cls, body: Mapping[str, object]) -> Execution:
        state = json_object(body.get("state"))
        task_runs = body.get("taskRunList")
        runs = tuple(
            TaskRun(
                id=str(run.get("id") or ""),
                task_id=str(run.get("taskId") or ""),
                state=str(json_object(run.get("state")).get("current") or ""),
                value=json_text(run.get("value")),
            )
            for run in (task_runs if isinstance(task_runs, list) else [])
            if isinstance(run, dict)
        )
        return cls(
            id=str(body.get("id") or ""),
            namespace=str(body.get("namespace") or ""),
            flow_id=str(body.get("flowId") or ""),
            state=str(state.get("current") or ""),
            task_runs=runs,
            duration=json_text(state.get("duration")),
            url=json_text(body.get("url")),
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
    def from_json(cls, body: Mapping[str, object]) -> LogEntry:
        return cls(
            timestamp=str(body.get("timestamp") or ""),
            level=str(body.get("level") or "INFO"),
            message=str(body.get("message") or ""),
            task_id=json_text(body.get("taskId")),
            task_run_id=json_text(body.get("taskRunId")),
        )


def error_lines(entries: list[LogEntry]) -> list[LogEntry]:
    """The lines of a failed task run that say why: its ERROR and WARN lines, or all of them when it has none."""
    return [entry for entry in entries if entry.level in ("ERROR", "WARN")] or entries


def flow_ref(namespace: str, flow_id: str) -> str:
    """A flow as the user names it: `namespace/id`, as `kestra-copilot run` takes it and Kestra's URLs write it
    (`company.team.taxi` would hide where the namespace ends)."""
    return f"{namespace}/{flow_id}"
