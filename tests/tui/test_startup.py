"""What the first screen waits for: none of the engine's heavy modules (they belong to its worker), none of
the flow validator (the first turn's), no Markdown nor Pygments in the app's own imports (the greeting is
said, and the tabs drawn, just after the first frame). bench/startup.py times it; these fail when an
import creeps back into the TUI's modules."""

import asyncio
import subprocess
import sys
from pathlib import Path

from copilot.config import Settings
from copilot.tui.app import CopilotApp

# The flow validator and parser: `copilot.flows` itself is a facade that loads its parts on first use.
HEAVY = ("google.genai", "chromadb", "onnxruntime", "httpx", "numpy", "copilot.flows._validate", "copilot.flows._parse")
HEAVY += ("yaml", "jsonschema")
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


def test_a_quit_right_after_the_first_frame_ends_cleanly(tmp_path: Path) -> None:
    """What waits until just after the first frame (the greeting, the tabs' content, the engine's thread) may be
    cut short by a quit in that instant: nothing may fail then (the tabs mounted after the first frame did, one
    time in six, inside Textual's own Tabs; and an engine built after the quit found no status bar to show)."""

    async def scenario(delay: float) -> None:
        app = CopilotApp(Settings(data_dir=tmp_path / "d", cache_dir=tmp_path / "c"))
        async with app.run_test(size=(120, 40)) as pilot:  # re-raises what failed in the app
            await pilot.pause(delay)

    for delay in [step / 400 for step in range(24)]:  # 0 to 60 ms after the first screen
        asyncio.run(scenario(delay))
