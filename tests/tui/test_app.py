"""The TUI driven by Textual's pilot against the loopback Gemini: real engine, real validator."""

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.syntax import Syntax

from copilot.config import Settings
from copilot.tui.app import CopilotApp
from tests.engine.test_turn import EDITED, INVALID, VALID
from tests.fakes.gemini import FakeGemini, Reply


@pytest.fixture
def gemini(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        yield fake


def settings(tmp_path: Path, key: str | None = "test-key") -> Settings:
    return Settings(gemini_api_key=key, data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")


def messages(app: CopilotApp) -> list[str]:
    return [message.source for message in app.query("ChatMessage")]


def flow_code(app: CopilotApp) -> str:
    content: Any = app.query_one("#flow").content
    return content.code if isinstance(content, Syntax) else str(content)


async def ready(app: CopilotApp, pilot: Any) -> None:
    for _ in range(100):
        if app.engine is not None:
            await pilot.pause()
            return
        await pilot.pause(0.05)
    raise AssertionError("the engine never loaded")


async def send(pilot: Any, text: str) -> None:
    await pilot.click("#prompt")
    pilot.app.query_one("#prompt").value = text
    await pilot.press("enter")


async def settle(app: CopilotApp, pilot: Any) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


def test_generate_repair_edit_diff_undo(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = CopilotApp(settings(tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(app, pilot)
            gemini.script(Reply(INVALID), Reply(VALID))
            await send(pilot, "log hi then wait a second")
            await settle(app, pilot)
            assert "duration: PT1S" in flow_code(app) and "colour" not in flow_code(app)
            chat = messages(app)
            assert "log hi then wait a second" in chat and any("Repairing (attempt 2)" in m for m in chat)
            assert "valid ✓" in str(app.query_one("#problems").content)
            topology = app.query_one("#topology")
            assert str(topology.root.label) == "company.team.taxi"
            tasks = next(n for n in topology.root.children if str(n.label) == "tasks")
            assert [str(n.label) for n in tasks.children] == ["hello (Log)", "wait (Sleep)"]
            assert "tokens" in str(app.query_one("#status").content) and " 0 tokens" not in str(
                app.query_one("#status").content
            )

            gemini.script(Reply(EDITED))
            await send(pilot, "add a retry to hello")
            await settle(app, pilot)
            diff: Any = app.query_one("#diff").content
            assert isinstance(diff, Syntax) and "+    retry:" in diff.code
            await pilot.press("ctrl+z")
            await pilot.pause()
            assert "retry" not in flow_code(app) and app.engine.current.number == 1
            await send(pilot, "/redo")
            await pilot.pause()
            assert "retry" in flow_code(app)

    asyncio.run(scenario())


def test_without_an_api_key_the_app_opens_and_offline_work_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    flow = tmp_path / "in.yml"
    flow.write_text(VALID.split("```yaml\n")[1].split("```")[0])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("copilot.kestra.client.RETRY_PAUSE", 0.0)
    with socket.socket() as closed:  # a port nobody listens on: a Kestra server that is down
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}"

    async def scenario() -> None:
        app = CopilotApp(replace(settings(tmp_path, key=None), kestra_url=down))
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(app, pilot)
            await settle(app, pilot)
            status = str(app.query_one("#status").content)
            assert "no model (set GEMINI_API_KEY)" in status and f"Kestra unreachable ({down})" in status
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
            assert any("Unknown command `/bogus`" in m for m in messages(app))

    asyncio.run(scenario())


def test_escape_stops_a_reply_and_the_input_stays_responsive(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = CopilotApp(settings(tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(app, pilot)
            gemini.script(Reply(VALID, delay=1.5))
            await send(pilot, "log hi")
            await pilot.pause(0.2)
            await pilot.press("n", "e", "x", "t")  # typing while the reply is on its way
            assert app.query_one("#prompt").value == "next"
            await pilot.press("escape")
            await settle(app, pilot)
            assert any("Stopped" in m for m in messages(app))
            assert app.engine.current is None and flow_code(app) == "No flow yet."

    asyncio.run(scenario())


def test_deploy_with_confirmation_then_test_run_repairs_a_failure(gemini: FakeGemini, tmp_path: Path) -> None:
    from tests.engine.test_testrun import BROKEN, FIXED, divides_by_zero
    from tests.fakes.kestra import FakeKestra

    logs = {"compute": [("ERROR", "ArithmeticException: / by zero")]}
    with FakeKestra(outcome_rule=divides_by_zero, task_logs=logs) as kestra:
        config = Settings(
            gemini_api_key="test-key",
            data_dir=tmp_path / "data",
            cache_dir=tmp_path / "cache",
            kestra_url=kestra.url,
            kestra_username=kestra.username,
            kestra_password=kestra.password,
        )

        async def scenario() -> None:
            app = CopilotApp(config)
            async with app.run_test(size=(120, 40)) as pilot:
                await ready(app, pilot)
                gemini.script(Reply(BROKEN), Reply(FIXED))
                await send(pilot, "compute a value")
                await settle(app, pilot)
                await send(pilot, "/deploy")
                for _ in range(50):
                    await pilot.pause(0.05)
                    if app.screen.__class__.__name__ == "ConfirmDeploy":
                        break
                assert "new flow" in str(app.screen.query_one("#dialog-title").content)
                await pilot.press("y")
                await settle(app, pilot)
                assert any("Deployed company.team.report, server revision 1" in m for m in messages(app))
                status = str(app.query_one("#status").content)
                assert f"Kestra {kestra.version} at {kestra.url}" in status and "turn " in status
                await send(pilot, "/run")
                await settle(app, pilot)
                run_log = str(app.query_one("#run").content)
                assert "→ FAILED at task compute" in run_log and "→ SUCCESS" in run_log
                assert "ERROR ArithmeticException: / by zero" in run_log.split("→ FAILED")[0]  # streamed live
                assert any("Test run: **SUCCESS** after 1 repair(s)" in m for m in messages(app))
                assert '"{{ 1 / 1 }}"' in flow_code(app) and app.engine.current.number == 2

        asyncio.run(scenario())
        assert ("company.team", "report") in kestra.flows
        assert ("company.team.copilot_test", "report") in kestra.flows


def test_cost_copy_sessions_and_resume(gemini: FakeGemini, tmp_path: Path) -> None:
    async def first() -> str:
        app = CopilotApp(settings(tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(app, pilot)
            gemini.script(Reply(VALID))
            await send(pilot, "log hi then wait")
            await settle(app, pilot)
            assert "$0.0" in str(app.query_one("#status").content)  # the default model has a price
            await pilot.press("ctrl+o")
            await pilot.pause()
            assert app.clipboard == app.engine.current.yaml
            return str(app.session)

    async def second(session: str) -> None:
        app = CopilotApp(settings(tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(app, pilot)
            app.store.create()  # an empty session, newer than the first
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert app.screen.__class__.__name__ == "SessionsScreen"
            listing = app.screen.query_one("OptionList")
            assert listing.option_count == 2
            await pilot.press("ctrl+d")  # deletes the highlighted (newest, empty) session
            await pilot.pause()
            assert listing.option_count == 1 and len(app.store.sessions()) == 1
            await pilot.press(*"nothing like it")
            await pilot.pause()
            assert listing.option_count == 0
            app.screen.query_one("Input").value = ""
            await pilot.press(*"HI THEN")  # searches the requests, whatever the case
            await pilot.pause()
            label = str(listing.get_option_at_index(0).prompt)
            assert listing.option_count == 1 and "log hi then wait" in label and "1 turn(s), 1 revision(s)" in label
            await pilot.press("enter")
            await settle(app, pilot)
            assert "id: taxi" in flow_code(app) and app.engine.current.number == 1
            assert "log hi then wait" in messages(app) and any("Resumed session" in m for m in messages(app))
            gemini.script(Reply(EDITED))
            await send(pilot, "add a retry")
            await settle(app, pilot)
            assert app.engine.current.number == 2 and app.session == session

    session = asyncio.run(first())
    asyncio.run(second(session))


def test_run_asks_for_the_flows_inputs_in_a_form(gemini: FakeGemini, tmp_path: Path) -> None:
    from tests.fakes.kestra import FakeKestra
    from tests.kestra.test_flows_executions import FLOW

    with FakeKestra() as kestra:
        config = Settings(
            gemini_api_key="test-key",
            data_dir=tmp_path / "data",
            cache_dir=tmp_path / "cache",
            kestra_url=kestra.url,
            kestra_username=kestra.username,
            kestra_password=kestra.password,
        )

        async def scenario() -> None:
            app = CopilotApp(config)
            async with app.run_test(size=(120, 40)) as pilot:
                await ready(app, pilot)
                gemini.script(Reply(f"```yaml\n{FLOW}```"))
                await send(pilot, "greet someone")
                await settle(app, pilot)
                await send(pilot, "/run")
                for _ in range(50):
                    await pilot.pause(0.05)
                    if app.screen.__class__.__name__ == "RunInputs":
                        break
                field = app.screen.query_one("#input-who")
                field.value = "Ada"
                field.focus()
                await pilot.press("enter")
                await settle(app, pilot)
                assert any("Test run: **SUCCESS**" in m for m in messages(app))

        asyncio.run(scenario())
        (execution,) = kestra.executions.values()
        assert execution["inputs"] == {"who": "Ada"}


def test_revisions_goto_diff_and_switching_recipe(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = CopilotApp(settings(tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(app, pilot)
            for reply, text in ((VALID, "first"), (EDITED, "second")):
                gemini.script(Reply(reply))
                await send(pilot, text)
                await settle(app, pilot)
            await pilot.press("ctrl+g")
            await pilot.pause()
            listing = app.screen.query_one("OptionList")
            assert listing.highlighted == 1 and "task hello" in str(listing.get_option_at_index(1).prompt)
            await pilot.press("up", "enter")
            await settle(app, pilot)
            assert app.engine.current.number == 1 and "retry" not in flow_code(app)
            await send(pilot, "/revision 2")
            await pilot.pause()
            assert app.engine.current.number == 2
            await send(pilot, "/revision 1")
            await pilot.pause()
            await send(pilot, "/diff 2")
            await settle(app, pilot)
            diff: Any = app.query_one("#diff").content
            assert isinstance(diff, Syntax) and "-    retry:" in diff.code
            await send(pilot, "/recipe flows-only")
            await settle(app, pilot)
            assert app.engine.recipe.name == "flows-only" and len(app.engine.revisions) == 2
            assert "recipe flows-only" in str(app.query_one("#status").content)
            await send(pilot, "/recipe nope")
            await settle(app, pilot)
            assert any("No recipe 'nope'" in m for m in messages(app))

    asyncio.run(scenario())


def test_a_multi_line_paste_is_sent_whole(gemini: FakeGemini, tmp_path: Path) -> None:
    from textual import events

    async def scenario() -> None:
        app = CopilotApp(settings(tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(app, pilot)
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


def test_code_blocks_copy_sources_open_keys_and_palette(gemini: FakeGemini, tmp_path: Path) -> None:
    from copilot.retrieval.chunks import Chunk
    from copilot.retrieval.hybrid import Hit

    reply = "Here it is:\n\n" + VALID + "\n\nRun it with:\n\n```sh\nkestra flow run\n```\n"

    async def scenario() -> None:
        app = CopilotApp(replace(settings(tmp_path), keys={"copy": "ctrl+t", "nope": "x"}))
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(app, pilot)
            assert any("Unknown action(s) in [keys]: nope" in m for m in messages(app))
            gemini.script(Reply(reply))
            await send(pilot, "log hi then wait")
            await settle(app, pilot)
            await send(pilot, "/copy 2")
            await pilot.pause()
            assert app.clipboard == "kestra flow run\n"
            await pilot.press("ctrl+t")  # [keys] copy = "ctrl+t": the flow
            await pilot.pause()
            assert app.clipboard == app.engine.current.yaml
            await pilot.press("ctrl+b")
            await pilot.pause()
            assert app.screen.__class__.__name__ == "Picker"
            await pilot.press("down", "enter")  # newest first: the second is block 1, the flow
            await settle(app, pilot)
            assert app.clipboard.startswith("id: taxi")
            assert "Ctrl+T copy flow" in app.help_text()

            chunk = Chunk(
                text="# Schedule\n\nRuns a flow **on a cron**.",
                kind="doc",
                source="docs",
                title="Triggers > Schedule",
                location="docs/schedule.md",
            )
            app.show_sources([Hit(chunk=chunk, score=0.5)])
            await pilot.press("f3")
            await pilot.pause()
            assert app.query_one("TabbedContent").active == "tab-sources"
            listing = app.query_one("#source-list")
            listing.focus()
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen.__class__.__name__ == "SourceViewer"
            assert "on a cron" in app.screen.query_one("Markdown").source
            await pilot.press("escape")

            titles = {command.title for command in app.get_system_commands(app.screen)}
            assert {"Deploy", "Test-run", "Repair from failure", "Sessions", "Copy a code block"} <= titles

    asyncio.run(scenario())


def test_repair_from_failure_after_the_automatic_repairs_gave_up(gemini: FakeGemini, tmp_path: Path) -> None:
    from tests.engine.test_testrun import BROKEN, FIXED, divides_by_zero
    from tests.fakes.kestra import FakeKestra

    still_broken = [BROKEN.replace("1 / 0", f"{n} / 0") for n in (2, 3)]
    with FakeKestra(outcome_rule=divides_by_zero) as kestra:
        config = replace(
            settings(tmp_path), kestra_url=kestra.url, kestra_username=kestra.username, kestra_password=kestra.password
        )

        async def scenario() -> None:
            app = CopilotApp(config)
            async with app.run_test(size=(120, 40)) as pilot:
                await ready(app, pilot)
                await send(pilot, "/repair")
                await settle(app, pilot)
                assert any("No failed test-run to repair from" in m for m in messages(app))
                gemini.script(Reply(BROKEN), *(Reply(text) for text in still_broken))
                await send(pilot, "compute a value")
                await settle(app, pilot)
                await pilot.press("f5")  # test-run: fails, the two automatic repairs fail too
                await settle(app, pilot)
                assert any("Test run: **FAILED** after 2 repair(s). F7 or `/repair`" in m for m in messages(app))
                gemini.script(Reply(FIXED))
                await pilot.press("f7")
                await settle(app, pilot)
                assert "Repair from the failure of task `compute` (FAILED)." in messages(app)
                assert app.engine.current.number == 4 and '"{{ 1 / 1 }}"' in flow_code(app)
                assert "3 / 0" in gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]  # the failing flow
                await send(pilot, "/run")
                await settle(app, pilot)
                assert any("Test run: **SUCCESS**." in m for m in messages(app))

        asyncio.run(scenario())
