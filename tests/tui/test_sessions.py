"""Sessions: every turn recorded; the sessions screen searches, deletes and resumes; F2 resumes the last."""

import asyncio
from pathlib import Path

from tests.engine.test_turn import EDITED, VALID
from tests.fakes.gemini import FakeGemini
from tests.tui.pilot import ask, flow_code, messages, running, screen, send, settings, settle, status


def test_the_sessions_screen_searches_deletes_and_resumes(gemini: FakeGemini, tmp_path: Path) -> None:
    async def first() -> str:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            return str(app.conversation.session)

    async def second(session: str) -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            app.conversation.store.create()  # an empty session, newer than the first
            await pilot.press("ctrl+r")
            sessions = await screen(app, pilot, "SessionsScreen")
            listing = sessions.query_one("OptionList")
            assert listing.option_count == 2
            await pilot.press("ctrl+d")  # deletes the highlighted (newest, empty) session
            await pilot.pause()
            assert listing.option_count == 1 and len(app.conversation.store.sessions()) == 1
            await pilot.press(*"nothing like it")
            await pilot.pause()
            assert listing.option_count == 0
            sessions.query_one("Input").value = ""
            await pilot.press(*"HI THEN")  # searches the requests, whatever the case
            await pilot.pause()
            label = str(listing.get_option_at_index(0).prompt)
            assert listing.option_count == 1 and "log hi then wait" in label and "1 turn, 1 revision" in label
            await pilot.press("enter")
            await settle(app, pilot)
            assert "id: taxi" in flow_code(app) and app.conversation.engine.current.number == 1
            assert "log hi then wait" in messages(app) and any("Resumed session" in m for m in messages(app))
            await ask(app, pilot, gemini, EDITED, "add a retry")
            assert app.conversation.engine.current.number == 2 and app.conversation.session == session
            assert "log hi then wait" in str(gemini.requests[-1].body["contents"])  # the conversation goes on

    session = asyncio.run(first())
    asyncio.run(second(session))


def test_f2_resumes_the_last_session(gemini: FakeGemini, tmp_path: Path) -> None:
    async def first() -> str:
        async with running(settings(tmp_path)) as (app, pilot):
            await pilot.press("f2")
            await settle(app, pilot)
            assert messages(app)[-1] == "No earlier session to resume."
            await ask(app, pilot, gemini, EDITED, "log hi with a retry")
            assert "session 0 tokens" not in status(app)
            return str(app.conversation.session)

    async def second(session: str) -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            app.conversation.store.create()  # newer, but empty: not worth resuming
            await send(pilot, "/resume nosuchsession")
            await settle(app, pilot)
            assert messages(app)[-1] == "No session `nosuchsession` — `/sessions` lists them."
            await pilot.press("f2")
            await settle(app, pilot)
            assert app.conversation.session == session and "retry" in flow_code(app)
            assert messages(app)[-1] == f"Resumed session `{session}` at revision 1."
            assert app.conversation.spent().tokens > 0 and "session 0 tokens" not in status(app)  # its cost counts

    session = asyncio.run(first())
    asyncio.run(second(session))


def test_a_resumed_session_shows_the_revisions_its_turns_made(gemini: FakeGemini, tmp_path: Path) -> None:
    async def first() -> str:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            await ask(app, pilot, gemini, EDITED, "add a retry")
            return str(app.conversation.session)

    async def second(session: str) -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await send(pilot, f"/resume {session}")
            await settle(app, pilot)
            said = messages(app)
            assert said.index("log hi then wait") < said.index("**Revision 1**: a new flow, valid ✓ — in the Flow tab.")
            assert any(m.startswith("**Revision 2**:") and "retry" in m for m in said)  # as the chat said it

    session = asyncio.run(first())
    asyncio.run(second(session))
