"""Edit the flow yourself: Ctrl+F (or /edit) opens the current revision in $EDITOR; what comes back is
validated and recorded as the next revision, in the same history as the model's."""

import asyncio
from pathlib import Path

import pytest

from tests.engine.test_turn import VALID
from tests.fakes.gemini import FakeGemini
from tests.tui.pilot import ask, flow_code, messages, resumed, running, send, settings, settle


def editor(tmp_path: Path, script: str) -> str:
    path = tmp_path / "editor.sh"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return str(path)


def test_a_hand_edit_is_the_next_revision_and_is_recorded(
    gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDITOR", editor(tmp_path, "sed -i 's/message: hi/message: hello by hand/' \"$1\""))

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            await pilot.press("ctrl+f")
            await settle(app, pilot)
            assert messages(app)[-1] == "Your edit of revision 1 is revision 2 (valid ✓)."
            assert "message: hello by hand" in flow_code(app)
            store, session = app.conversation.store, app.conversation.session
            assert [row["turn"] for row in store.revisions(session)] == [1, None]  # made by a turn, then by hand
            await send(pilot, "/undo")
            await settle(app, pilot)
            assert "message: hi\n" in flow_code(app)  # one history: undo goes back to the model's
            live = messages(app)

        told, _ = await resumed(settings(tmp_path), session)  # the edit and the undo, as they were said
        assert told == [*live[2:], f"Resumed session `{session}` at revision 2."]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("script", "said"),
    [("true", "No change: revision 1 is current."), ("exit 3", "The editor ended with status 3")],
)
def test_an_edit_that_changes_nothing_or_fails_keeps_the_revision(
    gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, said: str
) -> None:
    monkeypatch.setenv("EDITOR", editor(tmp_path, script))

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            await send(pilot, "/edit")
            await settle(app, pilot)
            assert messages(app)[-1].startswith(said)
            assert app.conversation.current.number == 1 and len(app.conversation.revisions) == 1

    asyncio.run(scenario())


def test_there_is_nothing_to_edit_before_a_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDITOR", "true")

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await pilot.press("ctrl+f")
            await settle(app, pilot)
            assert messages(app)[-1] == "There is no flow to edit yet."

    asyncio.run(scenario())
