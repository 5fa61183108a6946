"""With a real index: the sources of every turn (pick one), and the status bar's index size — which must
fit, with the Kestra server, in 80 columns."""

import asyncio
import json
from pathlib import Path
from typing import Any

from copilot.flows import bundled_schema
from copilot.tui.widgets import SourcesPane
from tests.engine.test_turn import EDITED, VALID
from tests.fakes.gemini import FakeGemini
from tests.fakes.kestra import FakeKestra
from tests.tui.pilot import (
    ask,
    messages,
    running,
    screen,
    send,
    settings,
    settle,
    status,
    with_index,
    with_kestra,
)

CATALOG = len(bundled_schema(1).plugin_types())  # the plugin types of the catalog in force (the bundled one)


def titles(pane: SourcesPane) -> list[str]:
    listing = pane.query_one("#source-list")
    return [str(listing.get_option_at_index(i).prompt).split("\n")[0] for i in range(listing.option_count)]


def test_the_sources_of_any_turn(gemini: FakeGemini, tmp_path: Path, built_index: Path, model_cache: Path) -> None:
    async def scenario() -> None:
        async with running(with_index(settings(tmp_path), built_index, model_cache)) as (app, pilot):
            pane = app.query_one(SourcesPane)
            for reply, text in (
                (VALID, "log a message then sleep for a duration"),
                (EDITED, "run it on a cron schedule"),
            ):
                await ask(app, pilot, gemini, reply, text)
            assert [turn.request for turn in pane.turns] == [
                "log a message then sleep for a duration",
                "run it on a cron schedule",
            ]
            first, second = ([hit.chunk.title for hit in turn.hits] for turn in pane.turns)
            assert first[:2] == ["Log task", "Sleep task"] and second[0] == "Schedule trigger"
            # What the model was given is what the pane lists, turn by turn.
            assert "cron schedule with the Schedule trigger" in json.dumps(gemini.requests[-1].body)

            await pilot.press("f3")
            await pilot.pause()
            assert app.query_one("TabbedContent").active == "tab-sources"
            assert pane.selected.number == 2 and titles(pane)[0] == "[S1] Schedule trigger"  # the newest turn

            await send(pilot, "/sources 1")
            await pilot.pause()
            assert pane.selected.number == 1 and pane.query_one("#source-turn").value == 1
            assert titles(pane)[:2] == ["[S1] Log task", "[S2] Sleep task"]
            assert "Turn 1: " in str(pane.query_one("#sources").content)
            listing = pane.query_one("#source-list")
            listing.focus()
            await pilot.press("down", "enter")  # open the second source of turn 1
            viewer = await screen(app, pilot, "SourceViewer")
            assert "duration` such as PT1S" in viewer.query_one("Markdown").source
            assert "[S2] (turn 1) Sleep task" in str(viewer.query_one(".title").content)
            await pilot.press("escape")
            await pilot.pause()

            select = pane.query_one("#source-turn")  # the turn picker: newest first
            select.focus()
            await pilot.press("enter")  # open it
            await pilot.pause()
            await pilot.press("up", "enter")  # turn 2 is above turn 1
            await pilot.pause()
            assert pane.selected.number == 2 and titles(pane)[0] == "[S1] Schedule trigger"

            await send(pilot, "/sources 3")
            await pilot.pause()
            assert any("Usage: `/sources N` with N a turn from 1 to 2." in m for m in messages(app))

    asyncio.run(scenario())


def test_a_resumed_session_lists_each_turns_sources_again(
    gemini: FakeGemini, tmp_path: Path, built_index: Path, model_cache: Path
) -> None:
    """Recorded by title, location and score: the Sources tab of a resumed session lists what each turn was
    given, as it did live; a source's text is not kept with the session, and opening one says where it is."""
    config = with_index(settings(tmp_path), built_index, model_cache)

    async def first() -> tuple[str, list[list[str]]]:
        async with running(config) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log a message then sleep for a duration")
            await ask(app, pilot, gemini, EDITED, "run it on a cron schedule")
            pane = app.query_one(SourcesPane)
            live = []
            for number in (1, 2):
                pane.select_turn(number)
                live.append(titles(pane))
            return str(app.conversation.session if app.conversation else ""), live

    async def again(session: str, live: list[list[str]]) -> None:
        async with running(config) as (app, pilot):
            await send(pilot, "/resume " + session)
            await settle(app, pilot)
            pane = app.query_one(SourcesPane)
            assert [turn.request for turn in pane.turns] == [
                "log a message then sleep for a duration",
                "run it on a cron schedule",
            ]
            assert pane.selected is not None and pane.selected.number == 2  # the newest, as live
            for number in (1, 2):
                pane.select_turn(number)
                assert titles(pane) == live[number - 1]
            listing = pane.query_one("#source-list")
            assert " · score 0." in str(listing.get_option_at_index(0).prompt)
            await pilot.press("f3")
            listing.focus()
            await pilot.press("enter")
            viewer = await screen(app, pilot, "SourceViewer")
            said = viewer.query_one("Markdown").source
            assert "not kept with the session" in said and 'kestra-copilot search "Schedule trigger"' in said

    session, live = asyncio.run(first())
    asyncio.run(again(session, live))


def test_the_status_bar_shows_the_index_and_fits_in_80_columns(
    gemini: FakeGemini, tmp_path: Path, built_index: Path, model_cache: Path
) -> None:
    async def scenario(kestra: FakeKestra) -> None:
        config = with_kestra(with_index(settings(tmp_path), built_index, model_cache), kestra)
        async with running(config) as (app, pilot):
            await settle(app, pilot)
            assert "index 5 chunks" in status(app) and f"Kestra {kestra.version}" in status(app)
            await ask(app, pilot, gemini, VALID, "log a message then sleep")
            await pilot.resize_terminal(80, 24)
            await pilot.pause()
            line = status(app)
            bar: Any = app.query_one("#status")
            assert len(line) <= bar.content_size.width == 78 and not line.endswith("…")
            count = app.catalog.plugin_types  # the catalog in force outranks the turn's tokens and the default recipe
            assert (
                line == f"gemini-3.8-flash · Σ 178 $0.0004 · index 5 · bundled {count} types · Kestra {kestra.version}"
            )

            await send(pilot, "/recipe no-retrieval")
            await settle(app, pilot)
            assert "no retrieval" in status(app) and "index 5" not in status(app)
            await send(pilot, "/recipe default")
            await settle(app, pilot)
            assert "index 5" in status(app)
            await send(pilot, "/model gemini-2.5-flash")
            await settle(app, pilot)
            assert status(app).startswith("gemini-2.5-flash") and "index 5" in status(app)
            await ask(app, pilot, gemini, VALID, "log a message then sleep")  # the same session (/new starts another)
            await pilot.resize_terminal(160, 40)
            await pilot.pause()
            # Each call at its model's price: 178 tokens at 3.8-flash's test price, then 178 at 2.5-flash's.
            assert status(app) == (
                "gemini-2.5-flash · recipe default · turn 178 tokens $0.0002 · session 356 tokens $0.0005"
                f" · index 5 chunks · bundled catalog, {CATALOG:,} types · Kestra {kestra.version}"
            )
            await pilot.resize_terminal(220, 40)
            await pilot.pause()
            session = app.conversation.session if app.conversation else None
            assert status(app).endswith(  # the same flow: no revision 2
                f" · bundled catalog, {CATALOG:,} types · Kestra {kestra.version} at {kestra.url}"
                f" · session {session} · revision 1 of 1"
            )

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))
