"""The flow is not pasted into the chat: the flow pane holds it. A reply's flow blocks are folded into a
one-line pointer as the reply streams in (the raw reply is kept, for `/copy N` and `/blocks`).

A block is a flow when a top-level `id:` or `namespace:` line says so, in a ```yaml, ```yml or untagged
fence. Until then its lines are held; a block that closes without one (a `retry:` snippet in an answer) is
shown whole. Blocks in other languages are shown as they come."""

from __future__ import annotations

import re

__all__ = ["POINTER", "FlowFold", "fold_flows"]

POINTER = "*(the flow → Flow tab)*"
_OPENING = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*(ya?ml)?[ \t]*$", re.I)
_OTHER_OPENING = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*\S")  # a block in another language: shown as it comes
_MAYBE_FENCE = re.compile(r"^[ \t]*(`{1,}|~{1,})[A-Za-z]*$")  # a line still arriving that may open a fence
_FLOW_KEY = re.compile(r"^(id|namespace)[ \t]*:")


class FlowFold:
    """Feed the reply's pieces as they arrive; each call returns what to show now. Lines are decided whole,
    except a partial line that cannot open a fence, shown at once so the reply still streams live."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled  # False: everything is shown as it comes
        self._pending = ""  # the current line, held while it may still open a fence
        self._fence: str | None = None  # inside a YAML block: its closing fence
        self._held: list[str] | None = None  # the block's lines so far, while it may still be a flow
        self._other: str | None = None  # inside a block in another language: its closing fence
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
        """What is left when the reply ends (a last line without a newline; a block never closed)."""
        rest, self._pending = self._pending, ""
        if not self.enabled:
            return ""
        if self._fence is not None:
            held, self._held, self._fence = self._held, None, None
            if held is None:  # a flow, folded
                return ""
            return "\n".join([*held, rest]) if rest and not _FLOW_KEY.match(rest) else "\n".join(held) or ""
        if not rest:
            return ""
        return rest[self._shown_partial :] if not _OPENING.match(rest) else ""

    def _line(self, line: str) -> str:
        shown, self._shown_partial = self._shown_partial, 0
        if self._fence is not None:
            return self._inside(line)
        if self._other is not None:
            if line.strip() == self._other:
                self._other = None
            return line[shown:] + "\n"
        if (other := _OTHER_OPENING.match(line)) and not _OPENING.match(line):
            self._other = other.group(1)
            return line[shown:] + "\n"
        opening = _OPENING.match(line)
        if opening:
            self._fence, self._held = opening.group(1), [line]
            return ""
        return line[shown:] + "\n"

    def _inside(self, line: str) -> str:
        """A line of a YAML block: held until the block shows it is a flow (folded) or closes (shown)."""
        closing = line.strip() == self._fence
        if self._held is None:  # a flow: folded to its end
            if closing:
                self._fence = None
            return ""
        if closing:
            held, self._held, self._fence = self._held, None, None
            return "\n".join([*held, line]) + "\n"
        if _FLOW_KEY.match(line):
            self._held = None
            return f"{POINTER}\n\n"
        self._held.append(line)
        return ""


def fold_flows(text: str) -> str:
    """A whole reply with its flow blocks folded (a resumed session's replies)."""
    fold = FlowFold()
    return fold.feed(text) + fold.end()
