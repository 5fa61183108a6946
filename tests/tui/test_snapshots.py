"""Snapshots (pytest-textual-snapshot) of the main screen and the dialogs: `pytest --snapshot-update`
refreshes them after a deliberate change of the layout — look at the report first."""

import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.screen import Screen

from copilot.tui.app import CopilotApp
from tests.engine.test_turn import VALID, flow_of
from tests.fakes.gemini import FakeGemini, Reply
from tests.tui.pilot import ready, send, settings, settle, until

PROBLEMS = """id: taxi
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
    colour: red
  - id: wait
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT1S
    workerGroup:
      key: gpu
"""


async def steady(pilot: Any) -> None:
    """No blinking cursor, and the chat laid out and scrolled to its end: the same picture every run."""
    from textual.widgets import Input

    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    chats = pilot.app.screen.query("#chat")
    if chats:
        chat = chats.first()
        seen: list[int] = []

        def laid_out() -> bool:  # the same height for several frames: the last Markdown block is in
            seen.append(chat.virtual_size.height)
            return len(seen) > 5 and len(set(seen[-5:])) == 1

        await until(pilot, laid_out, "the chat to be laid out")
        chat.scroll_end(animate=False, immediate=True)
        await until(pilot, lambda: chat.scroll_y == chat.max_scroll_y, "the chat at its end")
    await pilot.pause()


class Host(App[None]):
    """One dialog on its own, as the app would show it (with the app's stylesheet)."""

    CSS_PATH = Path(inspect.getfile(CopilotApp)).with_name(CopilotApp.CSS_PATH)

    def __init__(self, make: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self.make = make

    def on_mount(self) -> None:
        self.push_screen(self.make())


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_main_screen_without_a_model(
    snap_compare: Any, tmp_path: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the screen shows the path loaded: keep it the same on every run
    flow = Path("taxi.yml")
    flow.write_text(
        "id: taxi\nnamespace: company.team\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: hi\n    colour: red\n"
    )
    app = CopilotApp(settings(tmp_path, key=None))

    async def load_a_flow(pilot: Any) -> None:
        await ready(app, pilot)
        await app.load_flow(str(flow))
        app.query_one("#prompt").value = ""
        await steady(pilot)

    assert snap_compare(app, terminal_size=size, run_before=load_a_flow)


def test_main_screen_after_a_generated_flow_with_diagnostics(
    snap_compare: Any, tmp_path: Path, gemini: FakeGemini
) -> None:
    app = CopilotApp(settings(tmp_path))
    gemini.script(Reply(f"Here it is:\n\n```yaml\n{PROBLEMS}```\n"))  # the repairs answer the same

    async def generate(pilot: Any) -> None:
        await ready(app, pilot)
        await send(pilot, "log hi, then wait on the gpu workers")
        await settle(app, pilot)
        await steady(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=generate)


def test_main_screen_after_a_turn_at_80_columns(snap_compare: Any, tmp_path: Path, gemini: FakeGemini) -> None:
    app = CopilotApp(settings(tmp_path))
    gemini.script(Reply(VALID))

    async def turn(pilot: Any) -> None:
        await ready(app, pilot)
        await send(pilot, "log hi then wait a second")
        await settle(app, pilot)
        await steady(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=turn)


def test_sessions_screen(snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from copilot.engine.sessions import SessionStore
    from copilot.tui.screens import SessionsScreen

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    store = SessionStore.open(tmp_path / "sessions.db")
    for number, requests in enumerate((["load the taxi CSV into Postgres", "add a retry"], ["log hi"], []), 1):
        session = store.create(model="gemini-3.8-flash", recipe="default")
        for request in requests:
            store.recorder(session, request)
        # Fixed ids and times, so the snapshot is the same on every run.
        fixed, when = f"session{number:05d}", 1_764_000_000 + number * 3600
        store.db.execute(
            "UPDATE sessions SET id = ?, created = ?, updated = ? WHERE id = ?", (fixed, when, when, session)
        )
        store.db.execute("UPDATE turns SET session_id = ? WHERE session_id = ?", (fixed, session))
    app = Host(lambda: SessionsScreen(store))
    try:
        assert snap_compare(app, terminal_size=(120, 40), run_before=steady)
    finally:
        store.close()
        monkeypatch.delenv("TZ")
        time.tzset()


def test_deploy_confirmation_with_the_diff_against_the_server(
    snap_compare: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dialog as it opens: Cancel focused, the yes button not armed yet (on a slow run the 0.8 s could
    pass before the picture is taken: the picture must not depend on the machine's speed)."""
    from rich.syntax import Syntax

    from copilot.flows import diff_flows
    from copilot.tui.screens import ConfirmDeploy

    monkeypatch.setattr(ConfirmDeploy, "ARMING_SECONDS", 3600.0)
    deployed = flow_of(VALID)
    diff = diff_flows(deployed, deployed.replace("PT1S", "PT5S").replace("message: hi", "message: hello"))
    title = "Deploy company.team.taxi to http://localhost:8080? (server revision 3 → the diff below)"
    app = Host(lambda: ConfirmDeploy(title, Syntax(diff.unified, "diff")))
    assert snap_compare(app, terminal_size=(120, 40), run_before=steady)


def test_run_inputs_form(snap_compare: Any) -> None:
    import yaml

    from copilot.tui.screens import RunInputs
    from tests.tui.test_kestra_pane import TYPED

    specs = yaml.safe_load(TYPED)["inputs"]
    app = Host(lambda: RunInputs(specs))
    assert snap_compare(app, terminal_size=(120, 40), run_before=steady)
