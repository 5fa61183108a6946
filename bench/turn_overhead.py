"""What the engine adds around the model in one turn, every figure measured in this run.

    before the model   user text → the model request is sent: retrieval (query embedding, dense + BM25,
                       fusion, type coverage, budget) and prompt assembly
    after the model    last token → validated revision: YAML extraction, validation, diff
    model              first request → last token, here the loopback Gemini through the real SDK
                       (a real model takes seconds: the point is the engine's share next to it)

The retrieval index is the eval index (all of ../shared, 8.4k chunks) when `kestra-copilot eval
retrieval` has built it, else the project's corpus/ (built here, seconds).

Run: .venv/bin/python bench/turn_overhead.py [--turns 30]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from copilot.config import load_settings
from copilot.engine.recipes import load_recipe
from copilot.engine.turn import Attempt, Engine, Revision
from copilot.llm.base import TextDelta
from copilot.llm.gemini import GeminiModel
from copilot.retrieval.hybrid import search
from copilot.retrieval.index import Index
from copilot.retrieval.loaders import load_source
from copilot.retrieval.sources import corpus_dir
from tests.fakes.gemini import FakeGemini, Reply

FLOW = (corpus_dir() / "flows" / "postgres_etl_staging_merge.yaml").read_text()
REQUESTS = [
    "load a monthly CSV into Postgres with a staging table and a merge",
    "upload a file to GCS and load it into BigQuery every month",
    "call an API with a token from a secret and store a watermark in KV",
    "run a Python script and log its outputs",
    "start a flow from a webhook and log the payload",
]


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p50 = ordered[len(ordered) // 2] * 1000
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000
    return f"p50 {p50:7.1f} ms   p95 {p95:7.1f} ms"


def open_index(settings: object, scratch: Path) -> Index:
    cache = settings.cache_dir  # type: ignore[attr-defined]
    eval_index = Index(cache / "eval-index", cache_dir=cache)
    if eval_index.chunks():
        print(f"index: the eval index, {len(eval_index.chunks())} chunks")
        return eval_index
    index = Index(scratch / "index", cache_dir=cache)
    index.build(load_source(corpus_dir() / "flows", source="corpus").chunks, sources={"corpus": "corpus/flows"})
    print(f"index: corpus/ only, {len(index.chunks())} chunks (run `eval retrieval` for the full-size one)")
    return index


async def measure(engine: Engine, turns: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"before the model": [], "model": [], "after the model": []}
    for number in range(turns):
        marks: dict[str, float] = {}

        def on_event(event: object, marks: dict[str, float] = marks) -> None:
            now = time.perf_counter()
            if isinstance(event, Attempt) and "attempt" not in marks:
                marks["attempt"] = now
            elif isinstance(event, TextDelta):
                marks["last"] = now
            elif isinstance(event, Revision):
                marks["revision"] = now

        engine.revisions.clear()
        engine._position = 0
        started = time.perf_counter()
        await engine.turn(REQUESTS[number % len(REQUESTS)], on_event=on_event)
        figures["before the model"].append(marks["attempt"] - started)
        figures["model"].append(marks["last"] - marks["attempt"])
        figures["after the model"].append(marks["revision"] - marks["last"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=30)
    args = parser.parse_args()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as scratch, FakeGemini() as gemini:
        index = open_index(settings, Path(scratch))
        gemini.script(Reply(f"```yaml\n{FLOW}```\nIt loads the CSV [S1].", chunks=20))
        model = GeminiModel(api_key=gemini.api_key, base_url=gemini.url)
        recipe = load_recipe()
        engine = Engine(model, recipe=recipe, retrieve=lambda text, r: search(index, text, k=r.k, kinds=r.kinds))
        asyncio.run(measure(engine, 2))  # warm: BM25 built, ONNX session, SDK client
        figures = asyncio.run(measure(engine, args.turns))
    model_p50 = sorted(figures["model"])[len(figures["model"]) // 2]
    for name, values in figures.items():
        share = sorted(values)[len(values) // 2] / model_p50
        print(f"{name:<17} {percentiles(values)}   ×{share:.2f} of the loopback model time")


if __name__ == "__main__":
    main()
