"""Small things that add up: what undo/redo say at either end, the keys the footer and the help show, the
sources in score order, Ctrl+S before overwriting, what "copied" means, and keys typed with the focus away
from the input."""

import asyncio
import html
import re
from pathlib import Path

import pytest

from copilot.retrieval.flows import flow_chunk
from copilot.tui.keys import ACTIONS, QUIT, label
from copilot.tui.widgets import SourcesPane
from tests.engine.test_turn import EDITED, VALID, flow_of
from tests.fakes.gemini import FakeGemini
from tests.tui.pilot import approve, ask, messages, running, screen, send, settings, settle, with_index

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


def test_sources_best_first_under_the_numbers_the_model_saw_and_the_picker_names_the_turn_shown(
    gemini: FakeGemini, tmp_path: Path, built_index: Path, model_cache: Path
) -> None:
    async def scenario() -> None:
        async with running(with_index(settings(tmp_path), built_index, model_cache)) as (app, pilot):
            pane = app.query_one(SourcesPane)
            select = pane.query_one("#source-turn")
            assert select.selection == 0  # "No turn yet", the only entry
            await ask(app, pilot, gemini, VALID, "log a message then sleep for a duration")
            await ask(app, pilot, gemini, EDITED, "run it on a cron schedule")
            await send(pilot, "/sources 1")
            await pilot.pause()
            (turn, listing) = (pane.turns[0], pane.query_one("#source-list"))
            shown = [int(listing.get_option_at_index(i).id) for i in range(listing.option_count)]
            scores = [turn.hits[number - 1].score for number in shown]
            assert scores == sorted(scores, reverse=True) and shown != sorted(shown)  # reordered, best first
            first_line = str(listing.get_option_at_index(2).prompt).split("\n")[0]
            assert first_line == f"[S{shown[2]}] {turn.hits[shown[2] - 1].chunk.title}"  # as the prompt named it
            select.focus()
            await pilot.press("enter")  # the picker: the two turns, no blank entry, the one shown highlighted
            await pilot.pause()
            overlay = select.query_one("SelectOverlay")
            entries = [str(overlay.get_option_at_index(i).prompt) for i in range(overlay.option_count)]
            assert [entry.split(":")[0] for entry in entries] == ["Turn 2", "Turn 1"] and overlay.highlighted == 1
            await pilot.press("escape")
            assert select.value == 1 and pane.selected.number == 1

    asyncio.run(scenario())


def test_a_flow_source_shows_its_yaml_as_code_not_a_fence(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            chunk = flow_chunk(
                flow_of(VALID), source="blueprints", location="taxi.yml", description="Log, then wait a second."
            )
            assert chunk.text.startswith("Log, then wait a second.\n\n```yaml\n")  # what the index keeps
            app.query_one(SourcesPane).post_message(SourcesPane.Open("[S1] (turn 1)", chunk))
            viewer = await screen(app, pilot, "SourceViewer")
            fence = viewer.query_one("MarkdownFence")
            assert fence.code.strip() == flow_of(VALID).strip() and fence.lexer == "yaml"
            shown = html.unescape(app.export_screenshot()).replace("\xa0", " ")
            assert "```" not in shown and "Log, then wait a second." in shown
            assert "[S1] (turn 1) Flow taxi" in shown  # the title's [S1] is text, not markup

    asyncio.run(scenario())


def test_ctrl_s_asks_before_overwriting_a_file_that_holds_something_else(
    gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    saved = tmp_path / "flows" / "company.team" / "taxi.yml"  # the default path, said in full

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            await pilot.press("ctrl+s")
            await settle(app, pilot)
            assert messages(app)[-1] == f"Saved revision 1 to `{saved}`." and saved.read_text() == flow_of(VALID)
            await pilot.press("ctrl+s")  # the same flow: nothing to ask, nothing written
            await settle(app, pilot)
            assert messages(app)[-1] == f"`{saved}` holds revision 1 already."

            await ask(app, pilot, gemini, EDITED, "add a retry")
            await pilot.press("ctrl+s")
            dialog = await screen(app, pilot, "ConfirmDeploy")
            assert str(dialog.query_one("#dialog-title").content).startswith(f"Overwrite {saved} with revision 2?")
            assert "+    retry:" in dialog.query_one("#dialog-body").content.code  # what changes, as a diff
            await pilot.press("escape")
            await settle(app, pilot)
            assert messages(app)[-1] == f"Not saved: `{saved}` is kept as it was." and saved.read_text() == flow_of(
                VALID
            )

            await pilot.press("ctrl+s")
            await approve(app, pilot)
            await settle(app, pilot)
            assert messages(app)[-1] == f"Saved revision 2 to `{saved}`." and saved.read_text() == flow_of(EDITED)

    asyncio.run(scenario())


def test_copy_says_it_was_sent_to_the_terminals_clipboard_not_that_it_worked(
    gemini: FakeGemini, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            await pilot.press("ctrl+o")
            await pilot.pause()
            assert app.clipboard == flow_of(VALID)
            assert messages(app)[-1] == (
                "Sent revision 1 to the terminal's clipboard (OSC 52). If nothing pastes, the terminal does not take "
                "OSC 52: `/save` writes it to a file instead."
            )
            await send(pilot, "/copy 1")
            await pilot.pause()
            assert messages(app)[-1].startswith("Sent code block 1 to the terminal's clipboard (OSC 52).")
            assert "select it in the chat instead." in messages(app)[-1]
            assert not any("Copied" in m for m in messages(app))

    asyncio.run(scenario())


def test_typing_with_the_focus_elsewhere_goes_to_the_input(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            prompt = app.query_one("#prompt")
            for elsewhere in ("#flow", "ContentTabs", "#chat"):
                app.query_one(elsewhere).focus()
                await pilot.pause()
                await pilot.press("a", "d", "d", "space", "1")
                await pilot.pause()
                assert app.focused is prompt and prompt.value == "add 1", elsewhere
                prompt.value = ""
            prompt.value = "a draft"  # kept when a key typed elsewhere brings the focus back
            prompt.cursor_position = len(prompt.value)
            app.query_one("#flow").focus()
            await pilot.pause()
            await pilot.press("s")
            await pilot.pause()
            assert prompt.value == "a drafts"
            prompt.value = ""
            await pilot.press("ctrl+g")  # a dialog keeps its keys
            await screen(app, pilot, "Picker")
            await pilot.press("x")
            await pilot.pause()
            assert prompt.value == ""
            await pilot.press("escape")

    asyncio.run(scenario())


def test_typing_elsewhere_then_enter_sends_it(gemini: FakeGemini, tmp_path: Path) -> None:
    """Keys typed with the focus on the flow, Enter right behind them: the Enter sends what was typed."""

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            app.query_one("#flow").focus()
            await pilot.pause()
            await pilot.press(*"/revisions", "enter")
            await screen(app, pilot, "Picker")  # sent: the revisions picker opened
            assert app.query_one("#prompt").value == ""

    asyncio.run(scenario())
