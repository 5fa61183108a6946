"""The loopback Gemini fake answering each request by what it asks, instead of in scripted order.

    with PromptedGemini(lambda system, user: Reply(...)) as gemini:
        ...

The fake (tests/fakes/gemini.py) logs a request, then asks `_next()` for the reply, in the handler's own
thread. Its request log here remembers each thread's last request, so `_next()` can read the body of the
request it answers, even with several cases in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.fakes.gemini import FakeGemini, Item, Request

__all__ = ["Answer", "PromptedGemini", "system_text", "user_text"]

Answer = Callable[[str, str], Item]  # (system instruction, last user message) → the reply


class _RequestLog(list[Request]):
    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def append(self, request: Request) -> None:
        self.local.last = request
        super().append(request)


def _texts(content: Any) -> str:
    parts = content.get("parts", []) if isinstance(content, dict) else []
    return "".join(part.get("text", "") for part in parts if isinstance(part, dict))


def system_text(body: dict[str, Any]) -> str:
    return _texts(body.get("systemInstruction") or body.get("system_instruction"))


def user_text(body: dict[str, Any]) -> str:
    users = [c for c in body.get("contents", []) if c.get("role", "user") == "user"]
    return _texts(users[-1]) if users else ""


class PromptedGemini(FakeGemini):
    def __init__(self, answer: Answer) -> None:
        super().__init__(requests=_RequestLog())
        self.answer = answer

    def _next(self) -> Item:
        log = self.requests
        assert isinstance(log, _RequestLog)
        body = log.local.last.body
        return self.answer(system_text(body), user_text(body))
