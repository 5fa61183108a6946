"""The Run tab: a test-run as it goes — deploys, task states, log lines, the verdict, the clean-up."""

from __future__ import annotations

from textual.widgets import Static

__all__ = ["RunLog"]

EMPTY = "Nothing run yet: /deploy, /run."
KEPT_LINES = 200


class RunLog(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(EMPTY, id=id)
        self.lines: list[str] = []

    def clear(self) -> None:
        self.lines = []
        self.update(EMPTY)

    def start(self) -> None:
        self.lines = []

    def show(self, event: object) -> bool:
        """Render a test-run event; False for the repair turns' own events (the panes show those)."""
        from ..events import (
            CleanedUp,
            Deployed,
            Execution,
            LiveLogsStopped,
            LogEntry,
            RepairStarted,
            RunFinished,
            flow_ref,
        )

        lines = self.lines
        if isinstance(event, RepairStarted):
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
            states = "  ".join(f"{run.task_id}:{run.state}" for run in event.task_runs)
            line = f"{event.id} {event.state}  {states}".rstrip()
            if line not in lines[-1:]:  # the stream repeats the state it started in
                lines.append(line)
        elif isinstance(event, LogEntry):
            lines.append(f"    {event.task_id or '':<16} {event.level:<5} {event.message}")
        elif isinstance(event, LiveLogsStopped):
            lines.append(f"    (live logs stopped: {event.reason}; the failing task's are read at the end)")
        elif isinstance(event, RunFinished):
            where = f" at task {event.failing_task}" if event.failing_task else ""
            lines.append(f"→ {event.execution.state}{where}")
            lines.extend(f"    {line}" for line in event.error_logs[-5:])
        else:
            return False
        self.update("\n".join(lines[-KEPT_LINES:]))
        return True
