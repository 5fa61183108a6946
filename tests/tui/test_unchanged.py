"""A turn that gives the flow back as it was says so, and records no second identical revision."""

import asyncio
from pathlib import Path

from tests.engine.test_turn import VALID
from tests.fakes.gemini import FakeGemini
from tests.tui.pilot import ask, messages, running, settings


def test_the_same_flow_again_is_said_not_recorded(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            await ask(app, pilot, gemini, VALID, "log hi then wait, please")
            assert messages(app)[-1] == "The flow came back unchanged: revision 1 is current."
            assert len(app.conversation.revisions) == 1

    asyncio.run(scenario())


def test_a_wide_status_bar_says_which_session_and_revision_the_flow_is_at(gemini: FakeGemini, tmp_path: Path) -> None:
    from tests.engine.test_turn import EDITED
    from tests.tui.pilot import send, settle, status

    async def scenario() -> None:
        async with running(settings(tmp_path), size=(240, 40)) as (app, pilot):  # room for the catalog too
            assert status(app).endswith("new flow")
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            await ask(app, pilot, gemini, EDITED, "add a retry")
            session = app.conversation.session
            assert status(app).endswith(f"session {session} · revision 2 of 2")
            await send(pilot, "/undo")
            await settle(app, pilot)
            assert status(app).endswith(f"session {session} · revision 1 of 2")

    asyncio.run(scenario())
