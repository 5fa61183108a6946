"""The chat's own widgets: a message, and the input with history and multi-line paste."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import Input, Markdown

__all__ = ["ChatMessage", "PromptInput", "code_blocks"]

_FENCE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+.-]*)[^\n]*\n(?P<code>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a Markdown text, as (language, code), in order."""
    return [(match["lang"], match["code"]) for match in _FENCE.finditer(markdown)]


class ChatMessage(Markdown):
    """One message of the conversation."""


class PromptInput(Input):
    """The input: history on up/down, and multi-line pastes kept whole.

    Textual's Input keeps only the first line of a paste. Here a paste of several lines shows as a
    `[pasted text #1: 42 lines]` marker and `expand()` puts the text back when the message is sent —
    so a flow or a stack trace can be pasted into a one-line input without losing a line. Pastes are
    numbered for the whole session, so a message recalled from the history still expands.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", show=False),
        Binding("down", "history(1)", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: list[str] = []
        self._cursor = 0
        self.pastes: dict[str, str] = {}

    def remember(self, text: str) -> None:
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._cursor = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._cursor = max(0, min(len(self.history), self._cursor + step))
        self.value = self.history[self._cursor] if self._cursor < len(self.history) else ""
        self.cursor_position = len(self.value)

    def _on_paste(self, event: events.Paste) -> None:
        text = event.text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text.strip("\n"):
            return  # one line: Input's own handler (Textual calls it next, down the class hierarchy)
        event.prevent_default()  # not Input's handler, which would keep the first line only
        event.stop()
        marker = f"[pasted text #{len(self.pastes) + 1}: {text.strip(chr(10)).count(chr(10)) + 1} lines]"
        self.pastes[marker] = text.strip("\n")
        self.insert_text_at_cursor(marker)

    def expand(self, value: str) -> str:
        """The message with every paste marker replaced by the pasted text (on its own lines)."""
        for marker, text in self.pastes.items():
            value = value.replace(marker, f"\n{text}\n")
        return value.strip()
