"""The conversation half of the app: a turn streamed into the chat, Esc to stop it, the revisions it makes,
and the sessions it is recorded in. A mixin of `CopilotApp` (app.py), which owns the widgets."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from textual import work
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static, TabbedContent

from .screens import Picker, SessionsScreen, revision_options
from .widgets import FlowPane, SourcesPane

__all__ = ["Conversation"]


class Conversation:
    """Turns, revisions and sessions. Mixed into the app, whose `say`, `show_revision`, `refresh_status`
    and widgets it uses."""

    engine: Any
    store: Any
    session: str | None
    replies: list[str]
    usage: list[tuple[str, Any]]
    turn_usage: list[tuple[str, Any]]
    _turn: Any

    # --- a turn -------------------------------------------------------------------------------------
    def start_turn(self, text: str, shown: str | None = None) -> None:
        self._turn = self.run_turn(text, shown if shown is not None else text)

    @property
    def streaming(self) -> bool:
        return self._turn is not None and self._turn.is_running

    @work(exclusive=True, group="turn")
    async def run_turn(self, text: str, shown: str) -> None:
        """The engine's turn in a task; its events rendered as they come (deltas appended to the reply)."""
        from ..engine.turn import Attempt, ErrorEvent, Notice
        from ..llm.base import TextDelta

        queue: asyncio.Queue[Any] = asyncio.Queue()
        record = self._recorder(text)
        session = self.session  # the turn's, even if another flow is taken up while it is being stopped
        self.turn_usage = []

        def on_event(event: Any) -> None:
            if record is not None:
                record(event)
            queue.put_nowait(event)

        task = asyncio.create_task(self.engine.turn(text, on_event=on_event))
        stream: Any = None
        chat = self.query_one("#chat", VerticalScroll)

        async def append(delta: TextDelta) -> None:
            if stream is not None:
                self.replies[-1] += delta.text
                await stream.write(delta.text)

        try:
            while not (task.done() and queue.empty()):
                try:
                    event = await asyncio.wait_for(queue.get(), 0.1)
                except TimeoutError:
                    continue
                if isinstance(event, Attempt):
                    if stream is not None:
                        await stream.stop()
                    note = "" if event.number == 1 else f"*Repairing (attempt {event.number})…*\n\n"
                    self.replies.append("")
                    stream = Markdown.get_stream(await self.say(note, "assistant"))
                elif isinstance(event, TextDelta):
                    await append(event)
                    chat.scroll_end(animate=False)
                elif isinstance(event, ErrorEvent):
                    hint = f"\n\n{event.error.hint}" if event.error.hint else ""
                    await self.say(f"**{event.error}**{hint}", "error")
                elif isinstance(event, Notice):  # retrieval degraded: the turn goes on
                    await self.say(f"{event.message} {event.hint or ''}".strip(), "system")
                else:
                    self.turn_event(event, shown)
            await task
        except asyncio.CancelledError:
            task.cancel()
            # What had arrived is shown, as the store has recorded it: the deltas still queued too.
            while not queue.empty():
                event = queue.get_nowait()
                if isinstance(event, TextDelta):
                    await append(event)
            if self.store is not None and session is not None:
                self.store.mark_interrupted(session)
            await self.say("*Stopped. The reply so far is kept above; the flow is unchanged.*", "system")
            raise
        finally:
            if stream is not None:
                await stream.stop()
            chat.scroll_end(animate=False)  # after the last block is laid out

    def _recorder(self, text: str) -> Any:
        """The session store's recorder for this turn (the session is created at the first turn)."""
        session = self._open_session()
        return None if session is None else self.store.recorder(session, text)

    def _open_session(self) -> str | None:
        """The session this flow is recorded in, created at its first revision; None without a store."""
        if self.store is None or self.engine is None:
            return None
        if self.session is None:
            model = self.engine.model.name if self.engine.model else ""
            self.session = self.store.create(model=model, recipe=self.engine.recipe.name,
                                             kestra_version=self.engine.kestra_version)  # fmt: skip
        return self.session

    def record_revision(self, revision: Any) -> None:
        """A revision made outside a turn (a loaded file) goes into the session like a turn's: the store's line
        stays the engine's, so the next turn's revision is recorded as made from it."""
        session = self._open_session()
        if session is not None:
            self.store.save_revision(session, revision)

    def action_cancel(self) -> None:
        if self.streaming:
            self._turn.cancel()

    async def stop_reply(self) -> None:
        """Stop a reply that is streaming and wait until it is recorded as interrupted: another flow taken up
        must not receive its revision, nor its session a revision made from another flow's."""
        from textual.worker import WorkerCancelled, WorkerFailed

        if self.streaming:
            self._turn.cancel()
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await self._turn.wait()

    def turn_event(self, event: Any, request: str) -> None:
        """Engine events that update the panes and the status bar (chat turns and test-run repairs)."""
        from ..engine.turn import Revision, Sources, Validated
        from ..llm.base import Usage

        if isinstance(event, Sources):
            self.query_one(SourcesPane).add_turn(request, event.hits)
        elif isinstance(event, Revision):
            self.show_revision(event)
        elif isinstance(event, Validated):
            verdict = "valid" if event.valid else "invalid, repairing…"
            self.query_one(FlowPane).note(f"Attempt {event.attempt}: {verdict}")
        elif isinstance(event, Usage):
            call = (self.engine.model.name if self.engine.model else "", event)
            self.usage.append(call)
            self.turn_usage.append(call)
            self.refresh_status()

    # --- revisions ----------------------------------------------------------------------------------
    async def changing_flow_is_blocked(self) -> bool:
        """While a test-run goes on, its repairs change the flow: no other change meanwhile (it says so)."""
        problem = self._test_run_going()
        if problem:
            await self.say(problem, "system")
        return problem is not None

    async def action_undo(self) -> None:
        if not await self.changing_flow_is_blocked():
            await self._moved(self.engine.undo() if self.engine else None, "undo")

    async def action_redo(self) -> None:
        if not await self.changing_flow_is_blocked():
            await self._moved(self.engine.redo() if self.engine else None, "redo")

    async def _moved(self, revision: Any, what: str) -> None:
        if revision is None:
            self.show_revision(None)
            await self.say(f"Nothing to {what}." if what == "redo" else "Back before the first revision.", "system")
            return
        self.show_revision(revision)
        await self.say(f"{what.capitalize()}: revision {revision.number} is current.", "system")

    async def action_revisions(self) -> None:
        if self.engine is None or not self.engine.revisions:
            await self.say("No revisions yet.", "system")
            return
        current = self.engine.current.number if self.engine.current else 0
        options = revision_options(self.engine.revisions, current)
        self.push_screen(Picker("Revisions", options, highlighted=max(0, current - 1)), self._picked_revision)

    async def _picked_revision(self, number: str | None) -> None:
        if number:
            await self.goto_revision(number)

    async def goto_revision(self, argument: str) -> None:
        if await self.changing_flow_is_blocked():
            return
        try:
            revision = self.engine.goto(int(argument))
        except (ValueError, IndexError, AttributeError) as exc:
            await self.say(f"Usage: `/revision N` — {exc}", "error")
            return
        self.show_revision(revision)
        await self.say(f"Revision {revision.number} is current.", "system")

    async def action_new(self) -> None:
        await self._forget_runs()  # first: a test-run going on must not repair the new flow
        if self.engine is not None:
            self.engine.reset()  # the revisions and the conversation the model sees
        # A new flow is a new session (created at its first turn): the last one keeps its revisions, resumable.
        self.session = None
        self.show_revision(None)
        await self.say("New flow: the next request starts from scratch, in a new session.", "system")

    async def _forget_runs(self) -> None:
        """Another flow (a new one, a resumed session): a test-run going on is stopped, and what the runs,
        approvals and usage of the last flow left behind is forgotten (F7 must not repair this flow from
        another's logs). A reply streaming is stopped first."""
        await self.stop_reply()
        self.run_generation += 1
        if self.stop_test_run():
            await self.say("The test-run was stopped: its execution is killed, its test copy removed.", "system")
        self.approvals = None  # a new flow is asked about afresh before it is test-run
        self.last_failure = None
        self.usage, self.turn_usage = [], []  # the status bar counts this session from zero
        for pane in self.query("#run").results(Static):  # the Run tab, once mounted
            pane.update("Nothing run yet: /deploy, /run.")
        self.refresh_status()

    # --- sessions -----------------------------------------------------------------------------------
    async def action_sessions(self) -> None:
        if self.store is None:
            await self.say("Sessions are not available yet (the engine is loading, or the store failed).", "error")
            return
        self.push_screen(SessionsScreen(self.store), self._picked_session)

    async def _picked_session(self, chosen: str | None) -> None:
        if self.session is not None and not self.store.has_session(self.session):  # deleted on the screen
            self.session = None  # else the next revisions would go to a session no one can list or resume
            await self.say("This flow's session was deleted: its next revision starts a new session.", "system")
        if chosen:
            await self.resume_session(chosen)

    async def action_resume(self) -> None:
        """Resume the most recent session other than this one."""
        if self.store is None or self.engine is None:
            await self.say("Sessions are not available yet.", "error")
            return
        latest = next((info for info in self.store.sessions() if info.id != self.session and info.turns), None)
        if latest is None:
            await self.say("No earlier session to resume.", "system")
            return
        await self.resume_session(latest.id)

    async def resume_session(self, session_id: str) -> None:
        if self.store is None or self.engine is None:
            await self.say("Sessions are not available yet.", "error")
            return
        if not session_id:
            await self.say("Usage: `/resume ID` — `/sessions` lists them.", "error")
            return
        if not self.store.has_session(session_id):
            await self.say(f"No session `{session_id}` — `/sessions` lists them.", "error")
            return
        await self._forget_runs()  # first: a test-run going on must not repair the resumed flow
        current = self.store.restore(session_id, self.engine)
        self.session = session_id
        await self.query_one("#chat", VerticalScroll).remove_children()
        self.replies.clear()
        for turn in self.store.turns(session_id):
            await self.say(turn["request"], "user")
            if turn["reply"]:
                self.replies.append(turn["reply"])
                await self.say(turn["reply"], "assistant")
        self.show_revision(current)
        self.query_one(TabbedContent).active = "tab-flow"
        at = f" at revision {current.number}." if current else "."
        await self.say(f"Resumed session `{session_id}`{at}", "system")
