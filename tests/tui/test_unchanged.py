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
