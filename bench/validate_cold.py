"""`kestra-copilot validate` as a person (or a pre-commit hook) runs it: a fresh process each time. Every figure
is measured in this run, the median of several fresh processes, as a ratio of `python -c "import yaml"`.

    python alone              the interpreter starting (the floor)
    import yaml               the baseline: a process that only loads the YAML library
    validate (first run)      the 50-task flow, the bundled catalog's cache not yet built (once per install;
                              and once per change of the catalog or of the code that builds it)
    validate                  the 50-task flow, the cache built: what every later run costs
    validate, invalid flow    the same flow with an unknown property: the error path (its explanation)
    live: first run           with Kestra's hosted live schema in use: a full-format schema of every documented
                              plugin (~10 MB, tests/fakes/hosted_schema.py) served on loopback — fetched,
                              checked, merged with the bundled flow model and cached (once a day at most)
    live: 50 tasks            the same flow judged by it, the merged schema read back from the cache
    live: invalid flow        and its error path

Then files per second in one process: every flow of ../shared/kestra-flows, validated one after another.

Run: .venv/bin/python bench/validate_cold.py
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.validate import fifty_task_flow  # noqa: E402
from tests.fakes.hosted_schema import HostedSchema, full_flow_schema_bytes  # noqa: E402

SHARED = Path(os.environ.get("KESTRA_COPILOT_SHARED", ROOT.parent / "shared"))
RUNS = 7


def fresh(argv: list[str], env: dict[str, str], expect: tuple[int, ...] = (0,)) -> float:
    """Seconds for one fresh process to run `argv` to its end."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in expect:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr or done.stdout}")
    return seconds


def median(argv: list[str], env: dict[str, str], expect: tuple[int, ...] = (0,)) -> float:
    return statistics.median(fresh(argv, env, expect) for _ in range(RUNS))


def real_flows() -> list[str]:
    texts = []
    for name in ("dev.jsonl", "unlabeled.jsonl"):
        path = SHARED / "kestra-flows" / name
        if path.exists():
            for line in path.read_text().splitlines():
                record = json.loads(line)
                text = record.get("yaml") or record.get("flow") or record.get("source")
                if isinstance(text, str):
                    texts.append(text)
    return texts


def main() -> None:
    scratch = Path(tempfile.mkdtemp())
    try:
        flow = scratch / "fifty.yml"
        flow.write_text(fifty_task_flow())
        invalid = scratch / "invalid.yml"
        invalid.write_text(fifty_task_flow().replace("    method: GET\n", "    method: GET\n    colour: red\n", 1))
        env = {**os.environ, "KESTRA_COPILOT_CACHE_DIR": str(scratch / "cache"), "NO_COLOR": "1"}
        env.pop("KESTRA_URL", None)
        env["KESTRA_COPILOT_LIVE_SCHEMA"] = "false"  # the bundled catalog's cost (and no network)
        # As installed: Python keeps each module's bytecode (a sandbox that forbids it would time compiling).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        python = sys.executable
        validate = [python, "-m", "copilot", "validate"]
        floor = median([python, "-c", "pass"], env)
        baseline = median([python, "-c", "import yaml"], env)
        first = fresh([*validate, str(flow)], env)  # builds the cache (and, for edited sources, their bytecode)
        warm = median([*validate, str(flow)], env)
        failing = median([*validate, str(invalid)], env, expect=(1,))
        body = full_flow_schema_bytes()
        with HostedSchema(body) as hosted:
            live = {**env, "KESTRA_COPILOT_LIVE_SCHEMA": "true", "KESTRA_COPILOT_LIVE_SCHEMA_URL": hosted.url}
            live_first = fresh([*validate, str(flow)], live)
            live_warm = median([*validate, str(flow)], live)
            live_failing = median([*validate, str(invalid)], live, expect=(1,))
            assert hosted.requests == [None], hosted.requests  # fetched once, then the cached copy
        print(
            f"fresh processes, median of {RUNS} (python {sys.version.split()[0]};"
            f" live schema {len(body) / 1e6:.1f} MB):"
        )
        for name, seconds in (
            ("python alone", floor),
            ("import yaml (baseline)", baseline),
            ("validate, first run", first),
            ("validate, 50 tasks", warm),
            ("validate, invalid flow", failing),
            ("live: first run", live_first),
            ("live: 50 tasks", live_warm),
            ("live: invalid flow", live_failing),
        ):
            print(f"  {name:<24} {seconds * 1000:8.1f} ms   {seconds / baseline:5.1f}x import yaml")

        from copilot.flows import validate_flow

        texts = real_flows()
        if texts:
            started = time.perf_counter()
            valid = sum(validate_flow(text).valid for text in texts)
            seconds = time.perf_counter() - started
            print(
                f"one process: {len(texts)} real flows in {seconds:.2f} s, {len(texts) / seconds:.0f} files/s "
                f"({valid} valid)"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
