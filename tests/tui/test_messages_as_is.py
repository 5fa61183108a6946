"""A diagnostic's message — the validator's, or a server's quoting what it refused — shows every character as
is: in the problems list (plain text, never markup) and in the chat (Markdown, so escaped): a server's
`Unrecognized field \\"upsertMode\\"` keeps its quotes and backslashes, `<x>`, `&amp;` and `*` stay."""

import asyncio
from dataclasses import replace
from pathlib import Path

from textual.widgets import OptionList

from tests.engine.test_turn import VALID
from tests.fakes.gemini import FakeGemini, Reply
from tests.fakes.kestra import FakeKestra
from tests.tui.pilot import ask, running, send, settings, settle, shown, with_kestra

UPSERT = VALID.replace("    message: hi\n", "    message: hi\n    upsertMode: true\n")
# As Kestra words a refusal, with what Markdown or Rich markup would take for their own.
REFUSED = (
    'tasks[0].upsertMode: Unrecognized field "upsertMode" (class <Log>), not *marked* as [b]ignorable[/b] &amp; \\'
)


def test_the_problems_list_and_the_chat_show_a_message_as_it_is(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            gemini.script(Reply(UPSERT))  # the repairs answer the same
            await send(pilot, "log hi then wait")
            await settle(app, pilot)
            diagnostics = [d for d in app.conversation.current.diagnostics if d.blocking]
            assert diagnostics and '\\"upsertMode\\"' in diagnostics[0].message  # Kestra's words, escapes and all
            listing = app.query_one("#problem-list", OptionList)
            prompts = [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]
            for d in diagnostics:
                assert any(prompt.endswith(f"{d.code} {d.message}") for prompt in prompts), (d.message, prompts)
            listed = [shown(m) for m in app.query("ChatMessage") if "problem" in m.source and "Attempt" in m.source]
            assert listed and all(d.message in listed[0] for d in diagnostics), listed

    asyncio.run(scenario())


def test_a_servers_refusal_is_shown_as_the_server_wrote_it(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario(kestra: FakeKestra) -> None:
        config = replace(with_kestra(settings(tmp_path), kestra), deploy_namespaces="company")
        async with running(config) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            kestra.validate_answer = [{"index": 0, "constraints": REFUSED}]
            await pilot.press("f6")
            await settle(app, pilot)
            said = app.query("ChatMessage").last()
            assert "Kestra refuses this flow" in shown(said)
            assert REFUSED.partition(": ")[2] in shown(said), shown(said)

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))
