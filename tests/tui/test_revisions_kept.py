"""No chat action destroys a recorded revision: a new flow (Ctrl+N, /new, even mid-reply) is a new session, and
resume, load, and undo then a new turn only ever add to the store."""

import asyncio
from pathlib import Path
from typing import Any

from copilot.tui.app import CopilotApp
from tests.engine.test_turn import EDITED, VALID, flow_of
from tests.fakes.gemini import FakeGemini, Reply
from tests.tui.pilot import ask, flow_code, messages, running, screen, send, settings, settle, until

RETRIED = VALID.replace("message: hi", "message: hi again")
OTHER = VALID.replace("id: taxi", "id: other")


def stored(app: CopilotApp, session: str) -> list[str]:
    """Every revision recorded for `session`, in the order it was written."""
    return [row["yaml"] for row in app.conversation.store.revisions(session)]


async def two_revisions(app: CopilotApp, pilot: Any, gemini: FakeGemini) -> tuple[str, list[str]]:
    await ask(app, pilot, gemini, VALID, "log hi then wait")
    await ask(app, pilot, gemini, EDITED, "add a retry")
    assert app.conversation.session is not None and len(stored(app, app.conversation.session)) == 2
    return app.conversation.session, stored(app, app.conversation.session)


def test_a_new_flow_by_ctrl_n_or_slash_new_is_a_new_session_and_the_old_ones_keep_every_revision(
    gemini: FakeGemini, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            first, kept = await two_revisions(app, pilot, gemini)
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert app.conversation.session is None  # the next turn opens a session of its own
            await ask(app, pilot, gemini, OTHER, "another flow")
            second = app.conversation.session
            assert second not in (None, first) and app.conversation.engine.current.number == 1
            assert stored(app, first) == kept  # both revisions
            assert stored(app, second) == [flow_of(OTHER)]

            await send(pilot, "/new")
            await settle(app, pilot)
            await ask(app, pilot, gemini, RETRIED, "a third one")
            third = app.conversation.session
            assert third not in (None, first, second)
            assert stored(app, first) == kept and stored(app, second) == [flow_of(OTHER)]
            assert stored(app, third) == [flow_of(RETRIED)]
            assert len({info.id for info in app.conversation.store.sessions()}) == 3

    asyncio.run(scenario())


def test_ctrl_n_while_a_reply_streams_stops_it_and_the_reply_stays_in_its_own_session(
    gemini: FakeGemini, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            first, kept = await two_revisions(app, pilot, gemini)
            gemini.script(Reply(RETRIED, chunks=40, chunk_delay=0.1))  # about 4 s of deltas
            await send(pilot, "say hi again")
            await until(pilot, lambda: len(app.chat.replies[-1]) > 20, "part of the reply")
            assert app.streaming
            await pilot.press("ctrl+n")
            await settle(app, pilot)
            assert not app.streaming and app.conversation.session is None
            assert (
                app.conversation.engine.current is None
                and app.conversation.engine.revisions == []
                and flow_code(app) == ""
            )
            assert stored(app, first) == kept  # the stopped turn made no revision
            turns = app.conversation.store.turns(first)
            assert [t["status"] for t in turns] == ["done", "done", "interrupted"]
            await ask(app, pilot, gemini, OTHER, "another flow")
            assert app.conversation.session != first and stored(app, app.conversation.session) == [flow_of(OTHER)]
            assert stored(app, first) == kept

    asyncio.run(scenario())


def test_undo_then_a_turn_resume_and_load_only_add_revisions(
    gemini: FakeGemini, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "other.yml").write_text(flow_of(OTHER))

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            first, kept = await two_revisions(app, pilot, gemini)
            await pilot.press("ctrl+z")
            await pilot.pause()
            await ask(app, pilot, gemini, RETRIED, "say hi again instead")  # revision 3, made from 1: 2 stays
            assert stored(app, first) == [*kept, flow_of(RETRIED)]
            engine = app.conversation.engine
            assert [r.number for r in engine.revisions] == [1, 2, 3] and engine.current.previous == 1
            assert "**Revision 3** from revision 1:" in messages(app)[-1] and "`/diff 1`" in messages(app)[-1]

            await send(pilot, "/load other.yml")  # a loaded file is a revision of the session too
            await settle(app, pilot)
            assert app.conversation.engine.current.number == 4 and app.conversation.session == first
            await ask(app, pilot, gemini, EDITED, "add a retry")
            assert stored(app, first) == [*kept, flow_of(RETRIED), flow_of(OTHER), flow_of(EDITED)]

            await pilot.press("ctrl+n")
            await pilot.pause()
            await ask(app, pilot, gemini, VALID, "a flow in a second session")
            await send(pilot, f"/resume {first}")
            await settle(app, pilot)
            assert [r.yaml for r in app.conversation.engine.revisions] == stored(app, first)  # every one
            await pilot.press("ctrl+z", "ctrl+z")  # 5 → 4 → 3, each the one it was made from
            await pilot.pause()
            assert app.conversation.engine.current.number == 3
            await ask(app, pilot, gemini, OTHER, "back to the other flow")
            assert stored(app, first) == [*kept, flow_of(RETRIED), flow_of(OTHER), flow_of(EDITED), flow_of(OTHER)]
            assert app.conversation.engine.current.number == 6
            await send(pilot, "/revision 2")  # the one undone long ago is still there
            await settle(app, pilot)
            assert flow_code(app) == kept[1]
            assert any("Resumed session" in m for m in messages(app))

    asyncio.run(scenario())


def test_resume_while_a_reply_streams_stops_it_and_neither_session_loses_a_revision(
    gemini: FakeGemini, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            first, kept = await two_revisions(app, pilot, gemini)
            await pilot.press("ctrl+n")
            await ask(app, pilot, gemini, OTHER, "another flow")
            second = app.conversation.session
            gemini.script(Reply(RETRIED, chunks=40, chunk_delay=0.1))
            await send(pilot, "say hi again")
            await until(pilot, lambda: len(app.chat.replies[-1]) > 20, "part of the reply")
            await send(pilot, f"/resume {first}")
            await settle(app, pilot)
            assert app.conversation.session == first and [r.yaml for r in app.conversation.engine.revisions] == kept
            assert stored(app, first) == kept and stored(app, second) == [flow_of(OTHER)]
            assert [t["status"] for t in app.conversation.store.turns(second)] == ["done", "interrupted"]

    asyncio.run(scenario())


def test_after_its_session_is_deleted_the_flow_goes_on_in_a_new_one(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            await pilot.press("ctrl+r")
            await screen(app, pilot, "SessionsScreen")
            await pilot.press("ctrl+d", "escape")  # the only session: this flow's
            await settle(app, pilot)
            assert app.conversation.store.sessions() == [] and app.conversation.session is None
            assert "its next revision starts a new session" in messages(app)[-1]
            await ask(app, pilot, gemini, EDITED, "add a retry")
            (info,) = app.conversation.store.sessions()
            assert info.id == app.conversation.session and stored(app, app.conversation.session) == [flow_of(EDITED)]

    asyncio.run(scenario())
