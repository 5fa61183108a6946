"""What the first screen waits for: none of the engine's heavy modules (they belong to its worker), none of
the flow validator (the first turn's), no Markdown nor Pygments in the app's own imports (the greeting is
said, and the tabs mounted, just after the first frame). bench/startup.py times it; these fail when an
import creeps back into the TUI's modules."""

import asyncio
import subprocess
import sys
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import TabbedContent

from copilot.tui.panes import SidePanel

HEAVY = ("google.genai", "chromadb", "onnxruntime", "httpx", "numpy", "copilot.flows", "yaml", "jsonschema")
FIRST_SCREEN = """
import asyncio, sys, tempfile
from pathlib import Path
from copilot.config import Settings
from copilot.tui.app import CopilotApp
CopilotApp.load_engine = lambda self: None  # the worker would import them on purpose
async def main():
    scratch = Path(tempfile.mkdtemp())
    async with CopilotApp(Settings(data_dir=scratch / "d", cache_dir=scratch / "c")).run_test(size=(120, 40)):
        print(sorted(m for m in {heavy!r} if m in sys.modules))
asyncio.run(main())
"""
# Markdown (markdown-it and its rules) and Pygments (rich.syntax) come with the first message and the first flow.
LATER = ("markdown_it", "pygments", "textual.widgets._markdown", "rich.syntax", *HEAVY)


def test_the_first_screen_loads_no_heavy_module(tmp_path: Path) -> None:
    code = FIRST_SCREEN.format(heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_apps_modules_import_neither_markdown_nor_pygments_nor_the_validator(tmp_path: Path) -> None:
    code = f"import sys, copilot.tui.app; print(sorted(m for m in {LATER!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"


class _Side(App[None]):
    """The side panel alone, asked for a tab by its app's mount: before the tabs themselves are there."""

    def compose(self) -> ComposeResult:
        yield SidePanel(id="side")

    def on_mount(self) -> None:
        side = self.query_one(SidePanel)
        self.tabs_at_mount = len(self.query(TabbedContent))
        side.active = "tab-run"
        self.asked = side.active


def test_a_tab_asked_for_before_the_tabs_are_mounted_is_the_one_they_open_on() -> None:
    async def scenario() -> None:
        app = _Side()
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert app.tabs_at_mount == 0 and app.asked == "tab-run"  # after the first frame, not in it
            assert app.query_one(TabbedContent).active == "tab-run" == app.query_one(SidePanel).active
            app.query_one(SidePanel).active = "tab-diff"
            assert app.query_one(TabbedContent).active == "tab-diff"

    asyncio.run(scenario())
