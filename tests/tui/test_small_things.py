"""Small things that add up: what undo/redo say at either end, the keys the footer and the help show, the
sources in score order, Ctrl+S before overwriting, what "copied" means, and keys typed with the focus away
from the input."""

import asyncio
import re
from pathlib import Path

from copilot.tui.keys import ACTIONS, QUIT, label
from tests.engine.test_turn import EDITED, VALID
from tests.fakes.gemini import FakeGemini
from tests.tui.pilot import ask, messages, running, settings

README = Path(__file__).parents[2] / "README.md"


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


def test_quit_and_revisions_are_in_the_footer_and_the_help_says_each_key_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path, key=None)) as (app, pilot):
            footer = {key.key: key.description for key in app.query("FooterKey")}
            assert footer["ctrl+q"] == "Quit" and footer["ctrl+g"] == "Revisions"
            said = len(messages(app))
            await pilot.press("f1")
            await pilot.pause()
            (help_text,) = messages(app)[said:]
            assert "- Ctrl+Q quit" in help_text and "- Ctrl+G revisions · `/revisions`, `/revision N`" in help_text
            for key in [*(default for default, *_ in ACTIONS.values()), QUIT, "ctrl+p"]:
                shown = label(key).replace("Escape", "Esc")
                assert len(re.findall(rf"^- {re.escape(shown)} ", help_text, re.M)) == 1, shown
            for command in ("/undo", "/save [PATH]", "/help", "/copy N", "/diff server"):
                assert help_text.count(f"`{command}") == 1, command
            await pilot.press("f1")  # again: scrolled into view, not repeated
            await pilot.pause()
            assert messages(app)[said:] == [help_text]

    asyncio.run(scenario())


def test_the_readme_key_table_names_every_key() -> None:
    table = [line for line in README.read_text().split("## The assistant")[1].splitlines() if line.startswith("| ")]
    keys = {key.strip() for row in table for key in row.split("|")[1].split(" / ")}
    wanted = {label(default).replace("Escape", "Esc") for default, *_ in ACTIONS.values()} | {label(QUIT), "Ctrl+P"}
    assert wanted <= keys, wanted - keys
