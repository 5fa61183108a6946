"""The conversation pane: the messages, and each reply streamed in as Markdown (appended, never re-rendered).

The flow is not pasted here (fold.py: its block becomes a pointer to the Flow tab). A repair attempt is a
folded block titled with what it fixed, its full text a click away. Before the first token, a progress line
says what the turn is doing. The replies' raw text is kept, for their code blocks (`/copy N`, `/blocks`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Unpack

from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Collapsible, Static

from .fold import FlowFold, fold_flows
from .widgets import WidgetOptions, code_blocks

if TYPE_CHECKING:  # Markdown is imported with the first message (message.py), after the first frame
    from textual.widgets.markdown import MarkdownStream

    from .message import ChatMessage

__all__ = ["ChatLog", "first_sentence", "literal"]

_FENCED = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", re.M | re.S)
_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")  # ASCII punctuation: what Markdown may take for markup


def literal(text: str) -> str:
    """`text` for a Markdown message, every character shown as is: a server's `Unrecognized field \\"x\\"`
    keeps its backslashes, `<x>` and `&amp;` stay, a `*` or a backtick is not emphasis or code (CommonMark lets
    any ASCII punctuation be escaped with a backslash)."""
    return _PUNCTUATION.sub(r"\\\g<0>", text)


def first_sentence(reply: str, limit: int = 100) -> str:
    """The reply's first line of prose (code blocks left out), cut at `limit` characters."""
    prose = _FENCED.sub("", reply)
    line = next((line.strip(" #*>-") for line in prose.splitlines() if line.strip(" #*>-")), "")
    return line if len(line) <= limit else line[: limit - 1].rsplit(" ", 1)[0] + "…"


class ChatLog(VerticalScroll):
    def __init__(self, **options: Unpack[WidgetOptions]) -> None:
        super().__init__(**options)
        self.replies: list[str] = []  # the assistant's replies, as they arrived
        self._stream: MarkdownStream | None = None
        self._fold = FlowFold()
        self._progress: Static | None = None
        self.repair: Collapsible | None = None  # the repair attempt streaming, folded

    def follow(self) -> None:
        """Keep the newest line in view: now, and again once the layout has taken in what was just added (a
        Markdown block's height is known only after it is laid out — in a long resumed session, later)."""
        self.scroll_end(animate=False)
        self.call_after_refresh(self.scroll_end, animate=False)

    async def say(self, text: str, kind: str) -> ChatMessage:
        """A message at the end: `kind` is user, assistant, system or error."""
        from .message import ChatMessage

        message = ChatMessage(text, classes=kind)
        await self.mount(message, before=self._progress)
        self.follow()
        return message

    async def progress(self, text: str) -> None:
        """What the turn is doing before its first token (retrieving, N sources, waiting for the model)."""
        if self._progress is None:
            self._progress = Static(text, classes="progress")
            await self.mount(self._progress)
        else:
            self._progress.update(text)
        self.follow()

    async def add_to_repair(self, widget: Widget) -> None:
        """More of the repair attempt streaming (its diff against the attempt it repairs), inside its fold."""
        if self.repair is not None:
            await self.repair.query_one(Collapsible.Contents).mount(widget)

    async def clear_progress(self) -> None:
        if self._progress is not None:
            progress, self._progress = self._progress, None
            await progress.remove()

    async def start_reply(self, repair_title: str | None = None, *, fold: bool = True) -> None:
        """A new reply: each attempt of a turn is one; a repair attempt (`repair_title`) is folded. `fold`
        False keeps its YAML in the text (an answer quoting a flow: that is not the flow in the Flow tab)."""
        from .message import ChatMessage

        await self.end_reply()
        self.replies.append("")
        self._fold = FlowFold(enabled=fold)
        message = ChatMessage("", classes="assistant")
        if repair_title is None:
            await self.mount(message, before=self._progress)
        else:
            self.repair = Collapsible(message, title=repair_title, classes="repair")
            await self.mount(self.repair, before=self._progress)
        self._stream = ChatMessage.get_stream(message)
        self.follow()

    async def append(self, text: str) -> None:
        """A piece of the reply streaming in."""
        if self._stream is not None:
            await self.clear_progress()
            self.replies[-1] += text
            if shown := self._fold.feed(text):
                await self._stream.write(shown)

    async def end_reply(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            if rest := self._fold.end():
                await stream.write(rest)
            await stream.stop()
        self.follow()  # after the last block is laid out

    async def clear(self) -> None:
        """Another conversation is taken up (a resumed session): this one's messages go."""
        await self.end_reply()
        await self.clear_progress()
        await self.remove_children()
        self.replies.clear()

    async def add_reply(self, reply: str) -> None:
        """A whole reply (a resumed session's), its flow folded."""
        self.replies.append(reply)
        await self.say(fold_flows(reply), "assistant")

    def code_blocks(self) -> list[tuple[str, str]]:
        """Every fenced code block of the replies, in order, as (language, code)."""
        return [block for reply in self.replies for block in code_blocks(reply)]
