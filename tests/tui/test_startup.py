"""The first screen imports none of the engine's heavy modules: they belong to its worker (bench/startup.py
times it; this fails when a module-level import creeps into the TUI)."""

import subprocess
import sys
from pathlib import Path

HEAVY = ("google.genai", "chromadb", "onnxruntime", "httpx", "numpy")
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


def test_the_first_screen_loads_no_heavy_module(tmp_path: Path) -> None:
    code = FIRST_SCREEN.format(heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip().splitlines()[-1] == "[]"
