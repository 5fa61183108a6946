"""The flow is not pasted into the chat: the flow pane holds it. A reply's ```yaml blocks are folded into a
one-line pointer as the reply streams in (the raw reply is kept, for `/copy N` and `/blocks`)."""

from __future__ import annotations

import re

__all__ = ["POINTER", "FlowFold", "fold_flows"]

POINTER = "*(the flow → Flow tab)*"
_OPENING = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*(ya?ml)\b[^\n]*$", re.I)
_MAYBE_FENCE = re.compile(r"^[ \t]*(`{1,}|~{1,})[A-Za-z]*$")  # a line still arriving that may open a fence


class FlowFold:
    """Feed the reply's pieces as they arrive; each call returns what to show now. Lines are decided whole,
    except a partial line that cannot open a fence, shown at once so the reply still streams live."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled  # False: everything is shown as it comes
        self._pending = ""  # the current line, held while it may still open a fence
        self._fence: str | None = None  # inside a folded block: its closing fence
        self._shown_partial = 0  # characters of the current line already shown

    def feed(self, text: str) -> str:
        if not self.enabled:
            return text
        out: list[str] = []
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            out.append(self._line(line))
            self._shown_partial = 0
        if self._fence is None and self._pending and not _MAYBE_FENCE.match(self._pending):
            out.append(self._pending[self._shown_partial :])
            self._shown_partial = len(self._pending)
        return "".join(out)

    def end(self) -> str:
        """What is left when the reply ends (a last line without a newline)."""
        rest, self._pending = self._pending, ""
        if not self.enabled:
            return ""
        if self._fence is not None or not rest:
            return ""
        return rest[self._shown_partial :] if not _OPENING.match(rest) else POINTER

    def _line(self, line: str) -> str:
        shown, self._shown_partial = self._shown_partial, 0
        if self._fence is not None:
            if line.strip() == self._fence:
                self._fence = None
            return ""
        opening = _OPENING.match(line)
        if opening:
            self._fence = opening.group(1)
            return f"{POINTER}\n\n"
        return line[shown:] + "\n"


def fold_flows(text: str) -> str:
    """A whole reply with its flow blocks folded (a resumed session's replies)."""
    fold = FlowFold()
    return fold.feed(text) + fold.end()
