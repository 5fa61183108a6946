"""The TUI driven by Textual's pilot against the loopback Gemini: real engine, real validator."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from rich.syntax import Syntax

from copilot.tui.app import CopilotApp
from tests.engine.test_turn import EDITED, INVALID, VALID, flow_of
from tests.fakes.gemini import FakeGemini, Reply
from tests.tui.pilot import ask, flow_code, messages, running, screen, send, settings, settle, shown, status, until


def test_generate_repair_edit_diff_undo(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            gemini.script(Reply(INVALID), Reply(VALID))
            await send(pilot, "log hi then wait a second")
            await settle(app, pilot)
            assert "duration: PT1S" in flow_code(app) and "colour" not in flow_code(app)
            chat = messages(app)
            assert "log hi then wait a second" in chat
            said = [shown(m) for m in app.query("ChatMessage")]  # what was wrong, as the validator words it
            assert any(m.startswith("Attempt 1: 2 problems") and "Unknown property `colour`" in m for m in said)
            (repair,) = app.query("Collapsible.repair")  # the repair's reply, folded under what it came to
            assert str(repair.title).startswith("Repair (attempt 2): valid ✓")
            fixed: Any = repair.query_one(".repair-diff").content  # what the repair changed, in its fold
            assert "--- attempt 1" in fixed.code and any(
                line.startswith("-") and "colour" in line for line in fixed.code.splitlines()
            )
            assert any(m.startswith("**Revision 1**: a new flow, valid ✓") for m in chat)
            assert not any("namespace: company.team" in m for m in chat)  # the flow is in its tab, not the chat
            assert "Revision 1: valid ✓" in str(app.query_one("#problems").content)
            topology = app.query_one("#topology")
            assert str(topology.root.label) == "company.team.taxi"
            tasks = next(n for n in topology.root.children if str(n.label) == "tasks")
            assert [str(n.label) for n in tasks.children] == ["hello (Log)", "wait (Sleep)"]
            # 120 columns: the costs in full, without the word "tokens" (the catalog in force outranks it)
            assert "turn 356 $0.0007 · session 356 $0.0007 · no index · bundled " in status(app)

            await ask(app, pilot, gemini, EDITED, "add a retry to hello")
            diff: Any = app.query_one("#diff").content
            assert isinstance(diff, Syntax) and "+    retry:" in diff.code
            await pilot.press("ctrl+z")
            await pilot.pause()
            assert "retry" not in flow_code(app) and app.conversation.engine.current.number == 1
            await send(pilot, "/redo")
            await pilot.pause()
            assert "retry" in flow_code(app)
            for _ in range(3):  # back before the first revision: every pane is empty, not only the flow
                await pilot.press("ctrl+z")
            await pilot.pause()
            assert flow_code(app) == "" and str(app.query_one("#topology").root.label) == "No flow yet."
            assert str(app.query_one("#diff").content) == "No changes yet."

    asyncio.run(scenario())


def test_without_an_api_key_the_app_opens_and_offline_work_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    flow = tmp_path / "in.yml"
    flow.write_text(flow_of(VALID))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("copilot.kestra.client.RETRY_PAUSE", 0.0)
    with socket.socket() as closed:  # a port nobody listens on: a Kestra server that is down
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}"

    async def scenario() -> None:
        async with running(settings(tmp_path, key=None, kestra_url=down), (80, 24)) as (app, pilot):
            await settle(app, pilot)
            # At 80 columns the bar keeps the short forms; the full ones are there on a wider terminal.
            assert "no model" in status(app) and "Kestra unreachable" in status(app)
            forms = {part.name: part.forms[0] for part in app.query_one("#status").parts}
            assert (
                forms["model"] == "no model (set GEMINI_API_KEY)" and forms["kestra"] == f"Kestra unreachable ({down})"
            )
            assert any("GEMINI_API_KEY" in m for m in messages(app))
            assert any(m.startswith("**Kestra server: ") and "Deploy and test-run" in m for m in messages(app))
            await send(pilot, "write me a flow")
            await settle(app, pilot)
            assert any("No model is configured" in m for m in messages(app))
            await send(pilot, f"/load {flow}")
            await pilot.pause()
            assert "id: taxi" in flow_code(app)
            await send(pilot, "/save")
            await pilot.pause()
            assert (tmp_path / "flows" / "company.team" / "taxi.yml").read_text() == flow.read_text()
            await send(pilot, "/bogus")
            await pilot.pause()
            assert messages(app)[-1] == "Unknown command `/bogus`. `/help` lists the commands and keys."  # short
            await send(pilot, "/sav")
            await pilot.pause()
            assert "Did you mean `/save`?" in messages(app)[-1]
            await send(pilot, "/help")
            await pilot.pause()
            assert messages(app)[-1].count("Esc") == 1  # the stop key is said once, with what it keeps

    asyncio.run(scenario())


def test_a_multi_line_paste_is_sent_whole(gemini: FakeGemini, tmp_path: Path) -> None:
    from textual import events

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            prompt = app.query_one("#prompt")
            prompt.focus()
            prompt.insert_text_at_cursor("fix this flow: ")
            prompt.post_message(events.Paste("id: a\r\nnamespace: b\r\ntasks: []\r\n"))
            await pilot.pause()
            assert prompt.value == "fix this flow: [pasted text #1: 3 lines]"
            gemini.script(Reply(VALID))
            await pilot.press("enter")
            await settle(app, pilot)
            assert "fix this flow: \nid: a\nnamespace: b\ntasks: []" in messages(app)
            sent = gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]
            assert "namespace: b\ntasks: []" in sent

    asyncio.run(scenario())


def test_input_history_recalls_earlier_inputs_with_up_and_down(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            for text in ("/help", "/revisions", "/revisions", "/help"):  # a repeat right after itself: once
                await send(pilot, text)
                await settle(app, pilot)
            prompt = app.query_one("#prompt")
            assert prompt.history == ["/help", "/revisions", "/help"]
            seen = []
            for key in ("up", "up", "up", "up", "down", "down", "down", "down"):
                await pilot.press(key)
                seen.append(prompt.value)
            assert seen == [
                "/help",
                "/revisions",
                "/help",
                "/help",  # the oldest: up stays there
                "/revisions",
                "/help",
                "",  # past the newest: an empty input again
                "",
            ]
            await pilot.press("up")
            assert prompt.value == "/help" and prompt.cursor_position == len("/help")  # at the end, to edit

    asyncio.run(scenario())


def test_new_starts_from_scratch_and_model_switches_the_next_turns(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            assert gemini.requests[-1].model == "gemini-3.8-flash"
            await send(pilot, "/model gemini-2.5-flash")
            await settle(app, pilot)
            assert app.conversation.engine.model.name == "gemini-2.5-flash" and status(app).startswith(
                "gemini-2.5-flash"
            )
            assert any("Now using gemini-2.5-flash with recipe default" in m for m in messages(app))
            assert app.conversation.engine.current.number == 1  # the revisions stay
            await ask(app, pilot, gemini, EDITED, "add a retry")
            assert gemini.requests[-1].model == "gemini-2.5-flash" and app.conversation.engine.current.number == 2
            asked = gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]
            assert "id: taxi" in asked  # an edit: the current flow went with the request

            await pilot.press("ctrl+n")
            await pilot.pause()
            assert (
                app.conversation.engine.current is None
                and app.conversation.engine.revisions == []
                and flow_code(app) == ""
            )
            assert str(app.query_one("#topology").root.label) == "No flow yet."
            assert str(app.query_one("#diff").content) == "No changes yet."
            assert any("New flow: the next request starts from scratch" in m for m in messages(app))
            await ask(app, pilot, gemini, VALID, "log hi")
            asked = gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]
            assert "id: taxi" not in asked and len(gemini.requests[-1].body["contents"]) == 1  # no flow, no history
            assert app.conversation.engine.current.number == 1

    asyncio.run(scenario())


def test_revisions_goto_diff_and_switching_recipe(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            for reply, text in ((VALID, "first"), (EDITED, "second")):
                await ask(app, pilot, gemini, reply, text)
            await pilot.press("ctrl+g")
            await pilot.pause()
            listing = app.screen.query_one("OptionList")
            assert listing.highlighted == 1 and "task hello" in str(listing.get_option_at_index(1).prompt)
            await pilot.press("up", "enter")
            await settle(app, pilot)
            assert app.conversation.engine.current.number == 1 and "retry" not in flow_code(app)
            await send(pilot, "/revision 2")
            await pilot.pause()
            assert app.conversation.engine.current.number == 2
            await send(pilot, "/revision 1")
            await pilot.pause()
            for wrong, said in (
                ("/revision abc", "Usage: `/revision N` — they go from 1 to 2."),
                ("/revision 9", "There is no revision 9: they go from 1 to 2."),
                ("/diff 9", "There is no revision 9: they go from 1 to 2."),
                ("/diff two", "Usage: `/diff N` (a revision) or `/diff server`."),
            ):
                await send(pilot, wrong)
                await settle(app, pilot)
                assert messages(app)[-1] == said and app.conversation.engine.current.number == 1
            await send(pilot, "/diff 2")
            await settle(app, pilot)
            diff: Any = app.query_one("#diff").content
            assert isinstance(diff, Syntax) and "-    retry:" in diff.code
            await send(pilot, "/recipe flows-only")
            await settle(app, pilot)
            assert app.conversation.engine.recipe.name == "flows-only" and len(app.conversation.engine.revisions) == 2
            assert "flows-only · " in status(app)
            await send(pilot, "/recipe nope")
            await settle(app, pilot)
            assert any("No recipe 'nope'" in m for m in messages(app))

    asyncio.run(scenario())


def test_code_blocks_copy_and_configured_keys(gemini: FakeGemini, tmp_path: Path) -> None:
    reply = "Here it is:\n\n" + VALID + "\n\nRun it with:\n\n```sh\nkestra flow run\n```\n"

    async def scenario() -> None:
        async with running(settings(tmp_path, keys={"copy": "ctrl+t", "recipe": "f10", "nope": "x"})) as (app, pilot):
            assert any("Unknown action in [keys]: nope" in m for m in messages(app))
            await ask(app, pilot, gemini, reply, "log hi then wait")
            await send(pilot, "/copy 2")
            await pilot.pause()
            assert app.clipboard == "kestra flow run\n"
            await pilot.press("ctrl+t")  # [keys] copy = "ctrl+t": the flow
            await pilot.pause()
            assert app.clipboard == app.conversation.engine.current.yaml
            await pilot.press("ctrl+b")
            await screen(app, pilot, "Picker")
            await pilot.press("down", "enter")  # newest first: the second is block 1, the flow
            await settle(app, pilot)
            assert app.clipboard.startswith("id: taxi")
            assert "Ctrl+T copy flow" in app.help_text() and "F10 switch recipe" in app.help_text()
            await pilot.press("f10")  # a new action on a configured key: the recipe picker
            picker = await screen(app, pilot, "Picker")
            assert "flows-only" in {option.id for option in picker.options}
            await pilot.press("escape")

    asyncio.run(scenario())


def test_the_command_palette_runs_actions_with_their_pickers(
    gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.command import CommandList, CommandPalette

    monkeypatch.chdir(tmp_path)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "taxi.yml").write_text(flow_of(VALID))

    async def run(app: CopilotApp, pilot: Any, search: str, title: str) -> None:
        await pilot.press("ctrl+p")
        palette = await screen(app, pilot, "CommandPalette")
        assert isinstance(palette, CommandPalette)
        await pilot.press(*search)
        results = palette.query_one(CommandList)

        def first() -> str:
            return str(results.get_option_at_index(0).prompt) if results.option_count else ""

        await until(pilot, lambda: title in first(), f"{title!r} in the palette")
        await pilot.press("enter")

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await run(app, pilot, "load a flow", "Load a flow file")
            prompt = await screen(app, pilot, "FilePrompt")
            listing = prompt.query_one("#path-list")
            assert [listing.get_option_at_index(i).id for i in range(listing.option_count)] == ["flows/taxi.yml"]
            await pilot.press(*"taxi", "enter")  # Tab would complete; Enter opens what is typed
            await settle(app, pilot)
            assert any("Cannot read taxi" in m for m in messages(app))  # not a file: said so
            await run(app, pilot, "load a flow", "Load a flow file")
            await screen(app, pilot, "FilePrompt")
            await pilot.press("down", "enter")  # pick it from the list
            await settle(app, pilot)
            assert "id: taxi" in flow_code(app) and any("Loaded `flows/taxi.yml`" in m for m in messages(app))

            await run(app, pilot, "switch recipe", "Switch recipe")
            picker = await screen(app, pilot, "Picker")
            ids = [option.id for option in picker.options]
            listing = picker.query_one("OptionList")
            assert listing.highlighted == ids.index("default")  # the current one
            listing.highlighted = ids.index("flows-only")
            await pilot.press("enter")
            await settle(app, pilot)
            assert app.conversation.engine.recipe.name == "flows-only" and "flows-only · " in status(app)
            assert app.conversation.engine.current.number == 1  # the loaded flow stays

            await run(app, pilot, "switch model", "Switch model")
            picker = await screen(app, pilot, "Picker")
            ids = [option.id for option in picker.options]
            assert "gemini-3.8-flash" in ids and "gemini-2.5-flash" in ids
            picker.query_one("OptionList").highlighted = ids.index("gemini-2.5-flash")
            await pilot.press("enter")
            await settle(app, pilot)
            assert (
                app.conversation.engine.model.name == "gemini-2.5-flash"
                and app.conversation.engine.recipe.name == "flows-only"
            )

            titles = {command.title for command in app.get_system_commands(app.screen)}
            assert {"Diff against the server", "Resume the last session", "Load a flow file"} <= titles

    asyncio.run(scenario())


def test_a_turn_is_captured_as_an_eval_case(
    gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from copilot.evaluation.cases import load_suite
    from copilot.evaluation.scorers import Output, score_case

    suite = tmp_path / "mine.yaml"
    monkeypatch.chdir(tmp_path)  # F12 writes evals/captured.yaml under the working directory

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await send(pilot, "/case")
            await settle(app, pilot)
            assert messages(app)[-1].startswith("No turn to capture yet")
            for reply, text in ((VALID, "log hi then wait a second"), (EDITED, "add a retry to hello")):
                await ask(app, pilot, gemini, reply, text)
            await send(pilot, f"/case {suite}")
            await settle(app, pilot)
            assert "Case `add-a-retry-to-hello` added" in messages(app)[-1]
            await pilot.press("ctrl+z")  # the current revision is the first turn's: F12 captures that one
            await pilot.press("f12")
            await settle(app, pilot)

    asyncio.run(scenario())
    (edit,) = load_suite(suite)
    (first,) = load_suite(tmp_path / "evals" / "captured.yaml")
    assert edit.turns == ("add a retry to hello",) and edit.flow is not None and first.flow is None
    assert first.turns == ("log hi then wait a second",)
    assert score_case(edit, Output(flow_of(EDITED))).passed
