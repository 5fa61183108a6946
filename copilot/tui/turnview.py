"""A turn in the chat: its events rendered as they come — the reply streaming in (its flow folded into a
pointer to the Flow tab), each repair attempt folded under what it came to with its diff, the problems that
sent the turn into a repair, the revision it made with what changed, the error it ended on.

A resumed session's turns go through the same view (`ResumedTurn.events()`), so the chat shows them as it
showed them live."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from textual.widgets import Static

from ..wording import counted
from .chat import ChatLog, first_sentence, literal

if TYPE_CHECKING:  # copilot.events loads the Kestra client and the models: at the first turn, not at start
    from ..events import Revision, TurnEvent, Validated

__all__ = ["TurnView", "revision_line", "revision_verdict"]

Say = Callable[[str, str], Awaitable[object]]


class TurnView:
    """Renders one turn's events into the chat; `say` adds a note (text, kind); `waiting` is the progress
    line's text while a repair waits for the model (None: no progress lines, a resumed turn). `folded`: the
    first attempt is folded too, under this title (a test-run's repair: the run's, not the user's turn), its
    diff against `start` (the flow that ran) as (label, yaml)."""

    def __init__(
        self,
        chat: ChatLog,
        say: Say,
        *,
        question: bool = False,
        waiting: str | None = None,
        folded: str | None = None,
        start: tuple[str, str] | None = None,
    ) -> None:
        self.chat, self.say, self.question, self.waiting, self.folded = chat, say, question, waiting, folded
        self.start = start
        self.attempts: list[str | None] = []  # each attempt's flow, for a repair's diff

    async def show(self, event: TurnEvent) -> None:
        from ..events import Attempt, ErrorEvent, Notice, Revision, TextDelta, Validated

        chat = self.chat
        if isinstance(event, Attempt):
            if event.number == 1 and self.folded is None:
                await chat.start_reply(fold=not self.question)
            elif event.number == 1:
                await chat.start_reply(repair_title=self.folded)
            else:
                await chat.start_reply(repair_title=f"Repairing (attempt {event.number})…")
                if self.waiting is not None:
                    await chat.progress(f"Asking for a fix (attempt {event.number}) · {self.waiting}")
        elif isinstance(event, TextDelta):
            await chat.append(event.text)
            chat.follow()
        elif isinstance(event, Validated):
            await chat.end_reply()
            await self._validated(event)
        elif isinstance(event, Revision):
            await self.say(revision_line(event), "system")
        elif isinstance(event, ErrorEvent):
            hint = f"\n\n{event.error.hint}" if event.error.hint else ""
            await self.say(f"**{event.error}**{hint}", "error")
        elif isinstance(event, Notice):  # retrieval degraded: the turn goes on
            await self.say(f"{event.message} {event.hint or ''}".strip(), "system")

    async def end(self) -> None:
        """The turn is over: a folded reply the validator never judged (an answer in prose) is titled with its
        first sentence."""
        chat = self.chat
        await chat.end_reply()
        if chat.repair is not None:
            said = first_sentence(chat.replies[-1]) if chat.replies else ""
            chat.repair.title = f"{self.folded or 'Repair'}: answered without a flow" + (f" — {said}" if said else "")
            chat.repair = None

    async def _validated(self, event: Validated) -> None:
        """An attempt's verdict: a repair's folded block is titled with what it came to and holds what it changed
        (the diff against the attempt it repairs); problems that send the turn into a repair are listed,
        compactly (each at its line in the Flow tab)."""
        from rich.syntax import Syntax

        from ..flows import diff_flows, extract_flow_yaml  # the validator's imports: at the first turn, not at start

        chat = self.chat
        attempts = self.attempts
        attempts.append(extract_flow_yaml(chat.replies[-1]) if chat.replies else None)
        if len(attempts) > 1:  # a repair of this turn's attempt before
            before: tuple[str, str | None] = (f"attempt {event.attempt - 1}", attempts[-2])
        else:  # a test-run's repair: of the flow that ran
            before = self.start or ("", None)
        if chat.repair is not None and before[1] is not None and attempts[-1] is not None:
            labels = {"old_label": before[0], "new_label": f"attempt {event.attempt}"}
            diff = diff_flows(before[1], attempts[-1], **labels)
            shown = Syntax(diff.unified, "diff") if diff.changed else "The repair changed nothing in the flow."
            await chat.add_to_repair(Static(shown, classes="repair-diff"))
        if chat.repair is not None:
            verdict = (
                "valid ✓" if event.valid else f"{counted(sum(d.blocking for d in event.diagnostics), 'problem')} left"
            )
            said = first_sentence(chat.replies[-1])
            named = f"Repair (attempt {event.attempt})" if not self.folded else self.folded
            named += f", attempt {event.attempt}" if self.folded and event.attempt > 1 else ""
            chat.repair.title = f"{named}: {verdict}" + (f" — {said}" if said else "")
            chat.repair = None
        if event.valid:
            return
        blocking = [d for d in event.diagnostics if d.blocking]
        listed = "\n".join(f"- `{d.line or '-'}:{d.column or 1}` {d.code}: {literal(d.message)}" for d in blocking[:5])
        more = f"\n- … and {len(blocking) - 5} more (Flow tab)" if len(blocking) > 5 else ""
        await self.say(f"**Attempt {event.attempt}: {counted(len(blocking), 'problem')}**\n\n{listed}{more}", "system")


def revision_verdict(revision: Revision) -> str:
    """`valid ✓`, or how many problems keep it from Kestra (or the policy)."""
    return "valid ✓" if revision.valid else counted(sum(d.blocking for d in revision.diagnostics), "problem")


def revision_line(revision: Revision) -> str:
    """What a turn's revision changed, in a line: the flow itself is in the Flow tab."""
    verdict = revision_verdict(revision)
    diff = revision.diff
    if diff is None:
        return f"**Revision {revision.number}**: a new flow, {verdict} — in the Flow tab."
    if not diff.changed:
        return f"**Revision {revision.number}**: the same flow as before, {verdict}."
    changes = [change.line() for change in diff.summary.changes]
    listed = "; ".join(changes[:4]) + (f"; … {len(changes) - 4} more" if len(changes) > 4 else "")
    made_from = revision.previous or revision.number - 1
    after = f" from revision {made_from}" if made_from != revision.number - 1 else ""  # made after an undo
    return (
        f"**Revision {revision.number}**{after}: {listed or 'changed'} — {verdict} "
        f"(Flow tab; `/diff {made_from}` shows the diff)."
    )
