"""The status bar names the plugin catalog in force and how many plugin types it holds, once the engine is
built (after the first frame, as the index's size): Kestra's live schema when it is in force, else the bundled
catalog, a live schema that cannot be had being a quiet fallback whose note is in the chat."""

import asyncio
from dataclasses import replace
from pathlib import Path

from copilot.config import Settings
from copilot.flows import bundled_schema
from tests.fakes.hosted_schema import HostedSchema
from tests.tui.pilot import messages, running, settings, status

WIDE = (220, 40)


def test_the_bundled_catalog_and_its_count(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path), size=WIDE) as (app, _):
            count = len(bundled_schema(1).plugin_types())
            assert f" · bundled catalog, {count:,} plugin types · " in status(app)

    asyncio.run(scenario())


def test_kestras_live_schema_when_it_is_in_force(hosted: HostedSchema, tmp_path: Path) -> None:
    async def scenario() -> None:
        config = replace(settings(tmp_path), live_schema=True, live_schema_url=hosted.url)
        async with running(config, size=WIDE) as (app, _):
            line = status(app)
            count = len(bundled_schema(1).plugin_types())  # the sample's two, the bundled catalog's others
            assert " · Kestra's live schema (fetched " in line and f"), {count:,} plugin types · " in line, line
            assert hosted.requests == [None]  # fetched in the engine's thread, once

    asyncio.run(scenario())


def test_a_live_schema_that_cannot_be_had_falls_back_quietly_with_the_note(
    hosted: HostedSchema, tmp_path: Path
) -> None:
    async def scenario() -> None:
        hosted.body = None  # down, never fetched
        config = replace(settings(tmp_path), live_schema=True, live_schema_url=hosted.url)
        async with running(config, size=WIDE) as (app, pilot):
            await pilot.pause()
            assert " · bundled catalog (fallback), " in status(app)
            assert any("Could not fetch Kestra's live schema" in message for message in messages(app))

    asyncio.run(scenario())


# --- when space is short: the catalog in force outranks the recipe's name and the server's wording ----------
WIDTHS = (80, 100, 120, 160)


def lines_at_each_width(config: Settings) -> dict[int, str]:
    """The status bar at 80, 100, 120 and 160 columns, once the engine (and the server's check) are done."""

    async def scenario() -> dict[int, str]:
        lines = {}
        for width in WIDTHS:
            async with running(config, size=(width, 30)) as (app, pilot):
                await app.workers.wait_for_complete()
                await pilot.pause()
                lines[width] = status(app)
                assert len(lines[width]) <= width - 2, lines[width]  # the bar's padding
        return lines

    return asyncio.run(scenario())


def test_the_bundled_catalog_stays_at_every_width_the_recipe_and_server_shorten_first(tmp_path: Path) -> None:
    count = len(bundled_schema(1).plugin_types())
    assert lines_at_each_width(settings(tmp_path)) == {
        80: f"gemini-3.8-flash · default · Σ 0 · no index · bundled {count} types · no Kestra",
        100: f"gemini-3.8-flash · recipe default · session 0 · no index · bundled {count} types · no Kestra server",
        120: f"gemini-3.8-flash · recipe default · session 0 tokens · no index · bundled catalog, {count} types"
        " · no Kestra server",
        160: f"gemini-3.8-flash · recipe default · session 0 tokens · no index · bundled catalog, {count} plugin types"
        " · no Kestra server (set KESTRA_URL) · new flow",
    }


def test_a_fallback_to_the_bundled_catalog_is_said_at_every_width(hosted: HostedSchema, tmp_path: Path) -> None:
    hosted.body = None  # Kestra's live schema cannot be had
    config = replace(settings(tmp_path), live_schema=True, live_schema_url=hosted.url, kestra_url="http://127.0.0.1:9")
    lines, count = lines_at_each_width(config), len(bundled_schema(1).plugin_types())
    for width, line in lines.items():
        assert "bundled " in line and "Kestra unreachable" in line, (width, line)  # shortened, never dropped
    assert "recipe" not in lines[80] and "default" not in lines[80]  # the default recipe went first
    assert f" · fallback: bundled {count} types · " in lines[100]  # said as long as there is room
    assert f" · bundled catalog (fallback), {count} types · " in lines[120]


def test_a_live_schema_in_force_stays_at_80_columns(hosted: HostedSchema, tmp_path: Path) -> None:
    config = replace(settings(tmp_path), live_schema=True, live_schema_url=hosted.url)
    count = len(bundled_schema(1).plugin_types())
    assert f" · live {count} types · " in lines_at_each_width(config)[80]
