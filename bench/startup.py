"""Startup to an interactive screen, every figure measured in this run, in fresh processes.

    python alone          the interpreter starting (the floor)
    import textual.app    the UI toolkit: the baseline of the goal (the first screen within ×1.5)
    chat: interactive     the app's first screen, input focused, ready for keys (the engine, with
                          google-genai, Chroma and onnxruntime, loads afterwards in a worker)
    chat: engine ready    until that worker has finished too (the conversation is open)

The processes run in turns (one of each, then again), so a busy machine weighs on all of them alike; each
figure is the median, with the fastest run beside it (what the machine gives with nobody else on it). They
run with the project's bytecode cached, as an installed package has it: PYTHONDONTWRITEBYTECODE is left out
of their environment, and a first round, not timed, writes it.

It also names any heavy module (google-genai, Chroma, onnxruntime, httpx, numpy, the flow validator)
already imported when the first screen is interactive: there should be none, they belong to the engine's
worker or to the first turn (tests/tui/test_startup.py fails on them).

Run: .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _figures import print_ratios  # bench/_figures.py: this folder is on a script's path

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
            while app.conversation is None:
                await pilot.pause(0.01)
            print("engine", time.time(), flush=True)
asyncio.run(main())
"""


# What a user's shell gives the processes: bytecode written and read (bench/search_cold.py does the same).
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
HEAVY = (
    "google.genai",
    "chromadb",
    "onnxruntime",
    "httpx",
    "numpy",
    "copilot.flows._validate",
    "copilot.flows._parse",
    "jsonschema",
    "yaml",
)


def heavy_at_first_screen() -> list[str]:
    """The heavy modules imported by the time the first screen takes keys, with the engine's worker kept
    from starting (it imports them on purpose, racing the check). tests/tui/test_startup.py asserts it."""
    code = APP.format(root=str(ROOT), wait_engine=False, heavy=HEAVY).replace(
        "from copilot.tui.app import CopilotApp",
        "from copilot.tui.app import CopilotApp\nCopilotApp.load_engine = lambda self: None",
    )
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True).stdout
    return next(line for line in out.splitlines() if line.startswith("heavy")).split()[1:]


def timed(code: str, marker: str | None = None) -> float:
    """Seconds from the process's start to `marker` (a line `marker TIME` it prints), or to its end."""
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True).stdout
    if marker is None:
        return time.time() - started
    line = next(line for line in out.splitlines() if line.startswith(marker))
    return float(line.split()[1]) - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="turns (each runs every process once)")
    args = parser.parse_args()
    interactive = APP.format(root=str(ROOT), wait_engine=False, heavy=HEAVY)
    engine = APP.format(root=str(ROOT), wait_engine=True, heavy=HEAVY)
    runs: dict[str, tuple[str, str | None]] = {
        "python alone": ("pass", None),
        "import textual.app": ("import textual.app", None),
        "chat: interactive": (interactive, "interactive"),
        "chat: engine ready": (engine, "engine"),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for code, marker in runs.values():  # the first round writes the bytecode
        timed(code, marker)
    for _ in range(args.runs):
        for name, (code, marker) in runs.items():
            times[name].append(timed(code, marker))
    print_ratios(times, "import textual.app", ("chat: interactive", 1.5))
    heavy = heavy_at_first_screen()
    print(f"heavy modules at the first screen: {', '.join(heavy) if heavy else 'none'}")


if __name__ == "__main__":
    main()
