"""What front ends render and handle, in one place: a turn's events, a test-run's and a run's, a deploy's
review, a consent request, and the errors they tell apart (a model's, Kestra refusing the credentials). Front
ends import these from here, not from `copilot.kestra` or `copilot.llm` (the application layer, workspace.py,
is how they reach those).

The model's own types are here too (`ChatModel`, `Message`, `GenerationSettings`, `estimate_cost`): the eval
runner wraps the model it is given in its reply cache, asks it for a rubric grade and prices its calls."""

from __future__ import annotations

from .engine.consent import ConsentRefused, ConsentRequest
from .engine.testrun import (
    CleanedUp,
    Deployed,
    OutsideTheFlow,
    RepairStarted,
    RunFinished,
    ServerChecked,
    TestRunResult,
)
from .engine.turn import Attempt, ErrorEvent, Notice, Revision, Sources, TurnEnded, TurnEvent, TurnResult, Validated
from .kestra.errors import KestraAuthError
from .kestra.models import GOOD_STATES, Execution, LogEntry, flow_ref
from .kestra.review import DeployReview
from .kestra.watch import Finished, LiveLogsStopped
from .llm.base import ChatModel, GenerationSettings, Message, ModelError, TextDelta, Usage
from .llm.prices import estimate_cost

__all__ = [
    "GOOD_STATES",
    "Attempt",
    "ChatModel",
    "CleanedUp",
    "ConsentRefused",
    "ConsentRequest",
    "DeployReview",
    "Deployed",
    "ErrorEvent",
    "Execution",
    "Finished",
    "GenerationSettings",
    "KestraAuthError",
    "LiveLogsStopped",
    "LogEntry",
    "Message",
    "ModelError",
    "Notice",
    "OutsideTheFlow",
    "RepairStarted",
    "Revision",
    "RunFinished",
    "ServerChecked",
    "Sources",
    "TestRunResult",
    "TextDelta",
    "TurnEnded",
    "TurnEvent",
    "TurnResult",
    "Usage",
    "Validated",
    "estimate_cost",
    "flow_ref",
]
