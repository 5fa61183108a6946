"""Questions get answers in the chat: a reply without a flow is shown as the reply, recorded and costed, and the
flow stays as it was; `/ask` always answers."""

import asyncio
import json
from pathlib import Path

from tests.engine.test_turn import ANSWER, EDITED, VALID
from tests.fakes.gemini import FakeGemini
from tests.tui.pilot import ask, flow_code, messages, resumed, running, send, settings, status


def test_a_question_after_a_flow_is_answered_and_the_flow_stays(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait a second")
            flow = flow_code(app)
            await ask(app, pilot, gemini, ANSWER, "Why a MERGE instead of a plain INSERT?")
            chat = messages(app)
            assert chat[-2:] == ["Why a MERGE instead of a plain INSERT?", ANSWER]
            assert not any("Repairing" in m or "no-flow" in m or "no flow" in m for m in chat)
            assert len(gemini.requests) == 2 and flow_code(app) == flow
            assert "Revision 1: valid ✓" in str(app.query_one("#problems").content)
            conversation = app.conversation
            answered = conversation.spent(conversation.turn_usage).tokens  # costed: the answer's call
            assert len(conversation.revisions) == 1 and answered and f"turn {answered} $" in status(app)
            store, session = conversation.store, conversation.session
            turns = store.turns(session)
            assert [t["reply"] for t in turns][-1] == ANSWER and turns[-1]["status"] == "done"
            assert json.loads(turns[-1]["usage"]) and len(store.revisions(session)) == 1

    asyncio.run(scenario())


def test_slash_ask_answers_even_when_the_reply_quotes_a_flow(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait a second")
            await send(pilot, "/ask")
            await pilot.pause()
            assert messages(app)[-1].startswith("Usage: `/ask QUESTION`") and len(gemini.requests) == 1
            await ask(app, pilot, gemini, "A retry would help the download:\n" + EDITED, "/ask Would a retry help?")
            assert messages(app)[-2] == "Would a retry help?" and "A retry would help" in messages(app)[-1]
            assert "retry:" in messages(app)[-1]  # the flow it quotes is shown: it is not the Flow tab's
            assert len(app.conversation.revisions) == 1 and "retry" not in flow_code(app)
            asked = gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]
            assert "Do not write or change the flow" in asked and asked.endswith("Question: Would a retry help?")
            live, session = messages(app), app.conversation.session

        told, _ = await resumed(settings(tmp_path), session)  # the answer as it was shown: its flow not folded
        assert told == [
            *[m for m in live[2:] if not m.startswith("Usage")],
            f"Resumed session `{session}` at revision 1.",
        ]

    asyncio.run(scenario())
