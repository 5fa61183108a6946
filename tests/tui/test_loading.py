"""While the engine loads (its thread: the model, the index, the plugin catalog — Kestra's live schema may come
over the network), nothing typed is lost: a request is kept and sent once the engine is built, in order; Esc
takes the waiting ones back; a slow start says what it waits for, and which part may be fetched."""

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import copilot.tui.app
from copilot.tui.app import CopilotApp
from copilot.workspace import Workspace
from tests.engine.test_turn import EDITED, VALID
from tests.fakes.gemini import FakeGemini, Reply
from tests.fakes.hosted_schema import HostedSchema
from tests.tui.pilot import messages, running, send, settings, settle, status, until


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The engine is built only once the test opens the gate (as on a slow network)."""
    opened = threading.Event()
    build = Workspace.engine

    def slow(self: Workspace, **options: Any) -> Any:
        opened.wait(60)
        return build(self, **options)

    monkeypatch.setattr(Workspace, "engine", slow)
    yield opened
    opened.set()  # never leave the engine's thread waiting


def sent(gemini: FakeGemini) -> list[str]:
    """The requests' last user text, as the model received them."""
    return [str(request.body["contents"][-1]["parts"]) for request in gemini.requests if "contents" in request.body]


def test_a_request_sent_while_loading_is_sent_once_the_engine_is_built(
    gemini: FakeGemini, gate: threading.Event, tmp_path: Path
) -> None:
    async def scenario() -> None:
        app = CopilotApp(settings(tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: messages(app), "the greeting")
            assert "loading the model, the index and the plugin catalog…" in status(app)
            await send(pilot, "/undo")  # a command that needs the conversation: said, and ↑ recalls it
            await pilot.pause()
            assert messages(app)[-1] == copilot.tui.app.LOADING and "↑" in copilot.tui.app.LOADING
            gemini.script(Reply(VALID), Reply(EDITED))
            await send(pilot, "log hi then wait a second")
            await send(pilot, "add a retry to hello")
            await pilot.pause()
            assert messages(app)[-4:] == [
                "log hi then wait a second",
                copilot.tui.app.QUEUED,
                "add a retry to hello",
                f"{copilot.tui.app.QUEUED} It goes after the one before it.",
            ]
            assert not sent(gemini)
            gate.set()
            await until(pilot, lambda: len(app.conversation.revisions if app.conversation else []) == 2, "both turns")
            await settle(app, pilot)
            texts = sent(gemini)
            assert "log hi then wait a second" in texts[0] and "add a retry to hello" in texts[-1]
            assert app.conversation.current.number == 2 and "retry" in app.conversation.current.yaml

    asyncio.run(scenario())


def test_esc_takes_back_the_requests_waiting_for_the_engine(
    gemini: FakeGemini, gate: threading.Event, tmp_path: Path
) -> None:
    async def scenario() -> None:
        app = CopilotApp(settings(tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: messages(app), "the greeting")
            await send(pilot, "log hi then wait a second")
            await pilot.press("escape")
            await pilot.pause()
            assert messages(app)[-1] == "Not sent: 1 request still waiting; ↑ recalls them."
            gate.set()
            await until(pilot, lambda: app.conversation is not None, "the engine")
            await settle(app, pilot)
            assert not sent(gemini) and not app.conversation.revisions

    asyncio.run(scenario())


def test_stopping_the_first_queued_reply_takes_back_the_ones_behind_it(
    gemini: FakeGemini, gate: threading.Event, tmp_path: Path
) -> None:
    async def scenario() -> None:
        app = CopilotApp(settings(tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: messages(app), "the greeting")
            gemini.script(Reply(VALID, chunks=40, chunk_delay=0.05))
            await send(pilot, "log hi then wait a second")
            await send(pilot, "add a retry to hello")
            gate.set()
            await until(pilot, lambda: len(app.chat.replies[-1] if app.chat.replies else "") > 20, "the first reply")
            await pilot.press("escape")
            await until(pilot, lambda: "still waiting" in messages(app)[-1], "the rest taken back")
            await settle(app, pilot)
            assert messages(app)[-1] == "Not sent: 1 request still waiting; ↑ recalls them."
            assert len(sent(gemini)) == 1 and not app.conversation.revisions

    asyncio.run(scenario())


def test_a_slow_start_says_what_it_waits_for(
    gate: threading.Event, hosted: HostedSchema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copilot.tui.app, "LOADING_NOTICE_SECONDS", 0.05)
    config = replace(settings(tmp_path), live_schema=True, live_schema_url=hosted.url)

    async def scenario() -> None:
        app = CopilotApp(config)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: any("Still loading" in m for m in messages(app)), "the notice")
            (notice,) = [m for m in messages(app) if "Still loading" in m]
            assert notice == (
                "Still loading the model, the index and the plugin catalog, which may be fetched: Kestra's live "
                f"schema ({hosted.url})… A request sent meanwhile is sent once it is loaded."
            )
            gate.set()
            await until(pilot, lambda: app.conversation is not None, "the engine")

    asyncio.run(scenario())


def test_a_start_done_before_the_notice_says_nothing_of_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            said = messages(app)
            await app._still_loading()  # its timer, come after the engine was built
            await pilot.pause()
            assert messages(app) == said

    asyncio.run(scenario())
