"""While a reply streams: the input takes keys, and Esc stops the reply keeping what had arrived."""

import asyncio
import json
from pathlib import Path

from copilot.tui.app import CopilotApp
from copilot.tui.fold import FlowFold, fold_flows
from tests.engine.test_turn import VALID
from tests.fakes.gemini import FakeGemini, Reply
from tests.tui.pilot import flow_code, messages, resumed, running, send, settings, settle, status, until

SLOW = Reply(VALID, chunks=40, chunk_delay=0.1)  # about 4 s of deltas


def replies(app: CopilotApp) -> list[str]:
    return [m.source for m in app.query("ChatMessage.assistant")]


def test_typing_while_the_reply_streams(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            gemini.script(SLOW)
            await send(pilot, "log hi then wait")
            await until(pilot, lambda: app.chat.replies and app.chat.replies[-1], "the first deltas")
            await pilot.press(*"add a retry")  # typing while deltas arrive
            arrived = app.chat.replies[-1]
            assert app.streaming, "the reply had already finished: nothing was typed during streaming"
            assert app.query_one("#prompt").value == "add a retry"
            assert 0 < len(arrived) < len(VALID) and VALID.startswith(arrived)
            assert replies(app)[-1] == FlowFold().feed(arrived)  # each delta is in the chat as it comes (flow folded)
            await settle(app, pilot)
            assert app.chat.replies[-1] == VALID  # the rest streamed in after the keys
            assert replies(app)[-1] == fold_flows(VALID) and "namespace:" not in replies(app)[-1]  # the flow: its tab
            assert app.query_one("#prompt").value == "add a retry"  # the typed text is still there to send
            assert "duration: PT1S" in flow_code(app)

    asyncio.run(scenario())


def test_escape_mid_stream_keeps_the_partial_reply(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            gemini.script(SLOW)
            await send(pilot, "log hi then wait")
            await until(pilot, lambda: len(app.chat.replies[-1] if app.chat.replies else "") > 20, "part of the reply")
            await pilot.press("escape")
            await settle(app, pilot)
            assert not app.streaming
            partial = app.chat.replies[-1]
            assert 20 < len(partial) < len(VALID) and VALID.startswith(partial)
            assert replies(app)[-1] == fold_flows(partial)  # shown, as far as it had arrived
            assert messages(app)[-1].startswith("*Stopped. The reply so far is kept above")
            assert app.conversation.engine.current is None and flow_code(app) == ""  # a partial reply makes no revision
            (turn,) = app.conversation.store.turns(app.conversation.session)
            assert (turn["request"], turn["reply"], turn["status"]) == ("log hi then wait", partial, "interrupted")
            assert json.loads(turn["usage"]) and app.conversation.spent().tokens > 0  # what it cost so far
            spent = app.conversation.spent().tokens
            assert f"session {spent} $" in status(app)  # the status bar counts it at once
            await pilot.pause(0.5)
            assert app.chat.replies[-1] == partial  # nothing arrives after the stop
            live, session = messages(app), app.conversation.session

        told, _ = await resumed(settings(tmp_path), session)
        assert told == [*live[2:], f"Resumed session `{session}`."]  # the partial reply, and that it was stopped

    asyncio.run(scenario())


def test_a_turn_says_what_it_waits_for_before_the_first_token(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            gemini.script(Reply(VALID, delay=1.5))  # a slow first token
            await send(pilot, "log hi then wait")
            await until(pilot, lambda: app.query(".progress"), "the progress line")
            await until(
                pilot, lambda: "Waiting for gemini-3.8-flash" in str(app.query_one(".progress").content), "the wait"
            )
            assert not app.chat.replies or not app.chat.replies[-1]  # nothing had arrived yet
            await settle(app, pilot)
            assert not app.query(".progress")  # gone once the reply came

    asyncio.run(scenario())
