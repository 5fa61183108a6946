"""The Run tab: a test-run as it goes — deploys, the execution's link in Kestra's UI, each task's state when
it changes, log lines, the verdict, the clean-up. It follows the newest line, and ends on the verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import ScrollableContainer
from textual.widgets import Static

if TYPE_CHECKING:
    from ..events import Execution

__all__ = ["RunLog"]

EMPTY = "Nothing run yet: /deploy, /run."
KEPT_LINES = 200


class RunLog(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(EMPTY, id=id)
        self.lines: list[str] = []
        self._states: dict[str, str] = {}  # execution or task run id → the state last shown

    def clear(self) -> None:
        self.lines, self._states = [], {}
        self.update(EMPTY)

    def start(self) -> None:
        self.lines, self._states = [], {}

    def show(self, event: object) -> bool:
        """Render a test-run event; False for the repair turns' own events (the panes show those)."""
        from ..events import (
            CleanedUp,
            Deployed,
            Execution,
            LiveLogsStopped,
            LogEntry,
            OutsideTheFlow,
            RepairStarted,
            RunFinished,
            ServerChecked,
            flow_ref,
        )

        lines = self.lines
        if isinstance(event, ServerChecked):
            lines.extend(event.needs.lines())
        elif isinstance(event, RepairStarted):
            lines.append(f"→ asking for a repair from the run ({event.number})")
        elif isinstance(event, Deployed):
            lines.append(f"deployed {flow_ref(event.namespace, event.flow_id)} (server revision {event.revision})")
            lines.extend(f"    {change}" for change in event.changes)
        elif isinstance(event, CleanedUp):
            where = flow_ref(event.namespace, event.flow_id)
            lines.append(
                f"deleted the test flow {where}"
                if event.deleted
                else f"the test flow {where} is still there: {event.problem or 'kept'}"
            )
        elif isinstance(event, Execution):
            self._execution(event)
        elif isinstance(event, LogEntry):
            lines.append(f"    {event.task_id or '':<16} {event.level:<5} {event.message}")
        elif isinstance(event, LiveLogsStopped):
            lines.append(f"    (live logs stopped: {event.reason}; the failing task's are read at the end)")
        elif isinstance(event, RunFinished):
            where = f" at task {event.failing_task}" if event.failing_task else ""
            lines.append(f"→ {event.execution.state}{where}")
            lines.extend(f"    {line}" for line in event.error_logs[-5:])
        elif isinstance(event, OutsideTheFlow):
            lines.append(f"→ the cause is outside the flow: revision {event.revision} is not run again")
            lines.extend(f"    {line}" for line in event.advice.splitlines())
        else:
            return False
        self._refresh_lines()
        return True

    def finish(self, verdict: str) -> None:
        """The run's last line, in view: its verdict."""
        self.lines.append(verdict)
        self._refresh_lines()

    def _execution(self, execution: Execution) -> None:
        """The execution's link the first time, then only what changed: its state, a task's."""
        lines, states = self.lines, self._states
        if execution.id not in states:
            link = f" — {execution.url}" if execution.url else ""
            lines.append(f"execution {execution.id}{link}")
        if states.get(execution.id) != execution.state:
            states[execution.id] = execution.state
            lines.append(f"  execution {execution.state}")
        for run in execution.task_runs:
            key = run.id or run.task_id
            if states.get(key) != run.state:
                states[key] = run.state
                lines.append(f"  {run.task_id}: {run.state}")

    def _refresh_lines(self) -> None:
        self.update("\n".join(self.lines[-KEPT_LINES:]))
        if isinstance(self.parent, ScrollableContainer):  # follow the newest line
            self.call_after_refresh(self.parent.scroll_end, animate=False)
