"""The status bar names the plugin catalog in force and how many plugin types it holds, once the engine is
built (after the first frame, as the index's size): Kestra's live schema when it is in force, else the bundled
catalog, a live schema that cannot be had being a quiet fallback whose note is in the chat."""

import asyncio
from dataclasses import replace
from pathlib import Path

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
            assert " · bundled catalog, " in status(app)
            assert any("Could not fetch Kestra's live schema" in message for message in messages(app))

    asyncio.run(scenario())
