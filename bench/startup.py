"""Startup to an interactive screen, every figure measured in this run (median of 5 fresh processes).

    python alone          the interpreter starting (the floor)
    import textual        the UI toolkit
    kestra-copilot chat   the app's first screen, input focused, ready for keys (the engine, with
                          google-genai, Chroma and onnxruntime, loads afterwards in a worker)
    engine ready          until that worker has finished too

It also names any heavy module (google-genai, Chroma, onnxruntime, httpx, numpy) already imported when
the first screen is interactive: there should be none, they belong to the engine's worker.

Run: .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = """
import asyncio, sys, time, tempfile
from pathlib import Path
sys.path.insert(0, {root!r})
from copilot.config import Settings
from copilot.tui.app import CopilotApp
async def main():
    scratch = Path(tempfile.mkdtemp())
    app = CopilotApp(Settings(data_dir=scratch / "d", cache_dir=scratch / "c"))
    async with app.run_test(size=(120, 40)) as pilot:
        print("interactive", time.time(), flush=True)
        heavy = [m for m in {heavy!r} if m in sys.modules]
        print("heavy", *heavy, flush=True)
        if {wait_engine}:
            while app.engine is None:
                await pilot.pause(0.01)
            print("engine", time.time(), flush=True)
asyncio.run(main())
"""


HEAVY = ("google.genai", "chromadb", "onnxruntime", "httpx", "numpy")


def heavy_at_first_screen() -> list[str]:
    """The heavy modules imported by the time the first screen takes keys, with the engine's worker kept
    from starting (it imports them on purpose, racing the check). tests/tui/test_startup.py asserts it."""
    code = APP.format(root=str(ROOT), wait_engine=False, heavy=HEAVY).replace(
        "from copilot.tui.app import CopilotApp",
        "from copilot.tui.app import CopilotApp\nCopilotApp.load_engine = lambda self: None",
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return next(line for line in out.splitlines() if line.startswith("heavy")).split()[1:]


def measure(code: str, marker: str | None = None, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.time()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        if marker:
            line = next(line for line in out.splitlines() if line.startswith(marker))
            times.append(float(line.split()[1]) - started)
        else:
            times.append(time.time() - started)
    return statistics.median(times)


def main() -> None:
    floor = measure("pass")
    textual = measure("import textual.app")
    interactive = measure(APP.format(root=str(ROOT), wait_engine=False, heavy=HEAVY), "interactive")
    engine = measure(APP.format(root=str(ROOT), wait_engine=True, heavy=HEAVY), "engine", runs=3)
    for name, seconds in (
        ("python alone", floor),
        ("import textual", textual),
        ("chat: interactive", interactive),
        ("chat: engine ready", engine),
    ):
        print(f"{name:<20} {seconds * 1000:7.0f} ms   ×{seconds / floor:.1f} of python alone")
    heavy = heavy_at_first_screen()
    print(f"heavy modules at the first screen: {', '.join(heavy) if heavy else 'none'}")


if __name__ == "__main__":
    main()
