"""Small things that add up: what undo/redo say at either end, the keys the footer and the help show, the
sources in score order, Ctrl+S before overwriting, what "copied" means, and keys typed with the focus away
from the input."""

import asyncio
from pathlib import Path

from tests.engine.test_turn import EDITED, VALID
from tests.fakes.gemini import FakeGemini
from tests.tui.pilot import ask, messages, running, settings


def test_undo_and_redo_say_when_there_is_nowhere_to_go(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            await ask(app, pilot, gemini, EDITED, "add a retry")
            said = len(messages(app))
            for key in ("ctrl+y", "ctrl+z", "ctrl+z", "ctrl+z", "ctrl+y", "ctrl+y", "ctrl+y"):
                await pilot.press(key)
                await pilot.pause()
            assert messages(app)[said:] == [
                "Nothing to redo.",  # at the newest revision
                "Undo: revision 1 is current.",
                "Back before the first revision (Ctrl+Y brings it back).",
                "Nothing to undo.",
                "Redo: revision 1 is current.",
                "Redo: revision 2 is current.",
                "Nothing to redo.",
            ]
            assert app.conversation.current.number == 2

    asyncio.run(scenario())
