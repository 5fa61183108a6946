"""A message of the conversation, as Markdown. Its own module: Markdown (markdown-it, its rules, Pygments for
the code blocks) is imported with the first message, which the chat says just after its first frame."""

from __future__ import annotations

from typing import Unpack

from textual.await_complete import AwaitComplete
from textual.widgets import Markdown

from ..terminal import printable
from .widgets import WidgetOptions

__all__ = ["ChatMessage"]


class ChatMessage(Markdown):
    """One message of the conversation: model text, errors quoting servers and files — shown printable."""

    def __init__(self, markdown: str | None = None, **options: Unpack[WidgetOptions]) -> None:
        super().__init__(printable(markdown) if markdown else markdown, **options)

    def update(self, markdown: str) -> AwaitComplete:
        return super().update(printable(markdown))

    def append(self, markdown: str) -> AwaitComplete:  # the streamed reply, piece by piece
        return super().append(printable(markdown))
