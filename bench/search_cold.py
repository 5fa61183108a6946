"""`kestra-copilot search "…" -k 5` in a fresh process, against `python -c "import chromadb"`, in one run.

    python alone              the interpreter starting (the floor)
    import chromadb           the vector store's own import: the baseline of the goal (search within ×1.5)
    search, fresh process     the command as a script runs it, printing 5 hits, with a built index

The processes run in turns (one of each, then again), so a busy machine weighs on all of them alike; each
figure is the median, with the fastest run beside it (what the machine gives with nobody else on it). The
index is built in a temporary folder from ../shared/kestra-docs and the project's example flows (~650
chunks, ~1 min of embedding), with a temporary cache dir; one search before the timed ones makes what a
first search makes once (the optimized ONNX copy) and writes the project's bytecode, as an installed
package has it (PYTHONDONTWRITEBYTECODE is left out of the processes' environment). `--index DIR
--cache-dir DIR` times an index you have instead (e.g. the eval index, <cache dir>/eval-index, of all
../shared: 8,434 chunks).

It also names the modules the search imported that it should not: the chat's UI (Textual), the model SDK
(google-genai), the Kestra client, the flow validator, the ONNX builder (tests/retrieval/test_cold_start.py fails
on them).

Run: .venv/bin/python bench/search_cold.py [--runs 11] [--index DIR --cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _figures import print_ratios  # bench/_figures.py: this folder is on a script's path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# What search must not load: one list, the test's (it fails when search loads one).
from tests.retrieval.test_cold_start import NOT_FOR_SEARCH

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
QUERIES = (
    "load a csv into postgres",
    "run a flow every day at 9",
    "retry a failed task",
    "io.kestra.plugin.core.http.Request",
    "read a secret in a task",
)
LIST_IMPORTS = """
import json, sys
from copilot.cli import main
main(sys.argv[1:])
print(json.dumps(sorted(m for m in {names!r} if m in sys.modules)), file=sys.stderr)
"""


def environment(data_dir: Path, cache_dir: Path, scratch: Path) -> dict[str, str]:
    """A user's shell with no keys, no server and no config file: the search reads the given index only."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GEMINI_", "GOOGLE_", "KESTRA_")) and name != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        PYTHONPATH=str(ROOT),
        KESTRA_COPILOT_DATA_DIR=str(data_dir),
        KESTRA_COPILOT_CACHE_DIR=str(cache_dir),
        KESTRA_COPILOT_CONFIG=str(scratch / "no-config.toml"),
    )
    return env


def build_index(data_dir: Path, env: dict[str, str]) -> None:
    sources = [f"corpus={ROOT / 'corpus' / 'flows'}", f"docs={SHARED / 'kestra-docs'}"]
    command = [sys.executable, "-m", "copilot", "index", "build", *(f"--source={s}" for s in sources)]
    started = time.perf_counter()
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    print(f"index: {out.strip().splitlines()[-1].split(': ', 1)[-1]} (built in {time.perf_counter() - started:.0f}s)")


def search_command(query: str, index: Path | None) -> list[str]:
    return ["-m", "copilot", "search", query, "-k", "5", *(["--index", str(index)] if index else [])]


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *argv], env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11, help="turns (each runs every process once)")
    parser.add_argument("--index", type=Path, help="an index folder already built (default: build a small one)")
    parser.add_argument("--cache-dir", type=Path, help="the cache dir holding the embedding model's graph")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        cache_dir = args.cache_dir or scratch / "cache"
        env = environment(scratch / "data", cache_dir, scratch)
        if args.index is None:
            if not (SHARED / "kestra-docs").is_dir():
                sys.exit(f"{SHARED / 'kestra-docs'} is missing: pass --index DIR (and --cache-dir DIR)")
            build_index(scratch / "data", env)
        else:
            print(f"index: {args.index}")
        timed(search_command(QUERIES[0], args.index), env)  # the caches a first search makes
        times: dict[str, list[float]] = {"python alone": [], "import chromadb": [], "search, fresh process": []}
        for turn in range(args.runs):
            times["python alone"].append(timed(["-c", "pass"], env))
            times["import chromadb"].append(timed(["-c", "import chromadb"], env))
            query = QUERIES[turn % len(QUERIES)]
            times["search, fresh process"].append(timed(search_command(query, args.index), env))
        argv = ["-c", LIST_IMPORTS.format(names=NOT_FOR_SEARCH), *search_command(QUERIES[0], args.index)[2:]]
        imported = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, check=True)
        not_for_search = json.loads(imported.stderr.strip().splitlines()[-1])
    print_ratios(times, "import chromadb", ("search, fresh process", 1.5))
    print(f"imported by search but not needed: {', '.join(not_for_search) if not_for_search else 'none'}")


if __name__ == "__main__":
    main()
