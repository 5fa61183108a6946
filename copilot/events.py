"""What front ends render and handle, in one place: a turn's events, a test-run's and a run's, a deploy's
review, a consent request, and the errors a model raises. Front ends import these from here, not from
`copilot.kestra` or `copilot.llm` (the application layer, workspace.py, is how they reach those)."""

from __future__ import annotations

from .engine.consent import ConsentRefused, ConsentRequest
from .engine.testrun import CleanedUp, Deployed, RepairStarted, RunFinished, TestRunResult
from .engine.turn import Attempt, ErrorEvent, Notice, Revision, Sources, TurnEnded, TurnEvent, TurnResult, Validated
from .kestra.models import GOOD_STATES, Execution, LogEntry, flow_ref
from .kestra.review import DeployReview
from .kestra.watch import Finished, LiveLogsStopped
from .llm.base import ModelError, TextDelta, Usage

__all__ = [
    "GOOD_STATES",
    "Attempt",
    "CleanedUp",
    "ConsentRefused",
    "ConsentRequest",
    "DeployReview",
    "Deployed",
    "ErrorEvent",
    "Execution",
    "Finished",
    "LiveLogsStopped",
    "LogEntry",
    "ModelError",
    "Notice",
    "RepairStarted",
    "Revision",
    "RunFinished",
    "Sources",
    "TestRunResult",
    "TextDelta",
    "TurnEnded",
    "TurnEvent",
    "TurnResult",
    "Usage",
    "Validated",
    "flow_ref",
]
