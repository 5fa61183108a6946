"""Snapshots of the main screen (pytest-textual-snapshot): `pytest --snapshot-update` refreshes them
after a deliberate change of the layout."""

from pathlib import Path
from typing import Any

import pytest

from copilot.config import Settings
from copilot.tui.app import CopilotApp
from tests.tui.test_app import ready


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
    app = CopilotApp(Settings(gemini_api_key=None, data_dir=tmp_path / "d", cache_dir=tmp_path / "c"))

    async def load_a_flow(pilot: Any) -> None:
        await ready(app, pilot)
        await app.load_flow(str(flow))
        app.query_one("#prompt").value = ""
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=load_a_flow)
