"""What every chat model offers the engine: stream a reply to messages, as events.

    async for event in model.stream(messages, system="…", settings=GenerationSettings(temperature=0.2)):
        match event:
            case TextDelta(text): …          # the answer, piece by piece (never thinking)
            case Usage(): …                  # token counts, once, at the end
            case Finish(reason): …           # why it stopped: STOP, MAX_TOKENS …

Errors are ModelError subclasses, each worded for the user with what to do next. A stream cut after
some text raises ModelStreamCut carrying that text, so nothing the user saw is lost.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, Protocol

from ..errors import CopilotError

__all__ = [
    "ChatModel",
    "Event",
    "Finish",
    "GenerationSettings",
    "Message",
    "MissingApiKey",
    "ModelAuthError",
    "ModelBlocked",
    "ModelEmptyReply",
    "ModelError",
    "ModelNotFound",
    "ModelRateLimited",
    "ModelStreamCut",
    "ModelUnavailable",
    "TextDelta",
    "Usage",
]


_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Message:
    role: Literal["user", "model"]
    text: str


@dataclass(frozen=True)
class GenerationSettings:
    temperature: float | None = 0.2
    max_output_tokens: int | None = None
    thinking_budget: int | None = None  # None: the model's default; 0: off where the model allows it


@dataclass(frozen=True)
class TextDelta:
    text: str

    def __post_init__(self) -> None:
        # A lone surrogate ("\ud800" in a model's JSON) is no text: the store, the encoders and the terminal
        # all refuse it. Every model's answer passes here, so it becomes U+FFFD once, for all of them.
        if not self.text.isascii() and _SURROGATE.search(self.text):
            object.__setattr__(self, "text", _SURROGATE.sub("\ufffd", self.text))


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    output_tokens: int = 0
    thought_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.output_tokens + self.thought_tokens


@dataclass(frozen=True)
class Finish:
    reason: str  # STOP, MAX_TOKENS, … as the provider names it


Event = TextDelta | Usage | Finish


# The usage a stream has reported so far (cumulative), set by a model that reports it as it streams (Gemini):
# what a reply stopped mid-way (Esc, a cut connection) has cost. A context variable: each turn's task sees its
# own stream's, also when an eval runs several at once.
STREAMED_USAGE: ContextVar[Usage | None] = ContextVar("streamed_usage", default=None)


class ChatModel(Protocol):
    name: str

    def stream(
        self, messages: Sequence[Message], *, system: str = "", settings: GenerationSettings | None = None
    ) -> AsyncIterator[Event]: ...


class ModelError(CopilotError):
    """Talking to the model failed; `str()` says what happened, `hint` what to do."""


class MissingApiKey(ModelError):
    pass


class ModelAuthError(ModelError):
    pass


class ModelNotFound(ModelError):
    pass


class ModelRateLimited(ModelError):
    def __init__(self, message: str, *, hint: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class ModelUnavailable(ModelError):
    pass


class ModelBlocked(ModelError):
    pass


class ModelEmptyReply(ModelError):
    pass


class ModelStreamCut(ModelError):
    def __init__(self, message: str, *, partial: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.partial = partial
