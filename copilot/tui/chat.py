"""The conversation pane: the messages, and each reply streamed in as Markdown (appended, never re-rendered).
It keeps the replies' text, for their code blocks (`/copy N`, `/blocks`)."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownStream

from .widgets import ChatMessage, code_blocks

__all__ = ["ChatLog"]


class ChatLog(VerticalScroll):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.replies: list[str] = []  # the assistant's replies, as they arrived
        self._stream: MarkdownStream | None = None

    async def say(self, text: str, kind: str) -> ChatMessage:
        """A message at the end: `kind` is user, assistant, system or error."""
        message = ChatMessage(text, classes=kind)
        await self.mount(message)
        self.scroll_end(animate=False)
        return message

    async def start_reply(self, note: str = "") -> None:
        """A new reply (each attempt of a turn is one), `note` above what streams in."""
        await self.end_reply()
        self.replies.append("")
        self._stream = Markdown.get_stream(await self.say(note, "assistant"))

    async def append(self, text: str) -> None:
        """A piece of the reply streaming in."""
        if self._stream is not None:
            self.replies[-1] += text
            await self._stream.write(text)

    async def end_reply(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()
        self.scroll_end(animate=False)  # after the last block is laid out

    async def replace(self, turns: list[tuple[str, str]]) -> None:
        """Another conversation (a resumed session): its requests and replies."""
        await self.end_reply()
        await self.remove_children()
        self.replies.clear()
        for request, reply in turns:
            await self.say(request, "user")
            if reply:
                self.replies.append(reply)
                await self.say(reply, "assistant")

    def code_blocks(self) -> list[tuple[str, str]]:
        """Every fenced code block of the replies, in order, as (language, code)."""
        return [block for reply in self.replies for block in code_blocks(reply)]
