"""`eval run`: every case of a suite through the real engine, K times, into a run directory.

<run dir>/manifest.json    recipe + prompt hashes, model, index fingerprint, commit, date, options
<run dir>/cases.json       the cases as they were (so `eval score` needs nothing else)
<run dir>/results.jsonl    one line per case and sample: output, scores, tokens, latency, cost, cache use
<run dir>/outputs/*.yaml   the output flows, to read or diff
<run dir>/summary.json     pass rate, mean score, totals
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Settings
from ..engine.recipes import Recipe, load_recipe
from ..engine.turn import Engine
from ..llm.base import ChatModel, GenerationSettings, Message, ModelError
from ..llm.prices import estimate_cost
from .cache import CachedModel, ReplyCache
from .cases import Case
from .scorers import Output, score_case

__all__ = ["RunOptions", "rescore", "run_suite", "summarize"]

MAX_REPLY_CHARS = 20_000  # a huge reply is cut in the results file (the flow is kept whole)
Progress = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True)
class RunOptions:
    recipe: str = "default"
    repeat: int = 1
    concurrency: int = 2
    use_cache: bool = True
    kestra_version: int | None = None
    live: bool = False  # also run live-only checks (test_run on Kestra, rubric grading)


def _commit() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return f"v{__version__}"
    if done.returncode:
        return f"v{__version__}"
    return done.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def prompt_hashes(recipe: Recipe) -> dict[str, str]:
    return {role: hashlib.sha256(text.encode()).hexdigest()[:12] for role, text in sorted(recipe.templates.items())}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:80]


async def run_suite(
    cases: list[Case],
    settings: Settings,
    options: RunOptions,
    out_dir: Path,
    *,
    model: ChatModel,
    retrieve: Any = None,
    index_fingerprint: Any = None,
    suite: str = "",
    progress: Progress | None = None,
) -> dict[str, Any]:
    recipe = load_recipe(options.recipe)
    kestra_version = options.kestra_version or settings.kestra_version
    (out_dir / "outputs").mkdir(parents=True, exist_ok=True)
    manifest = {
        "suite": suite,
        "cases": len(cases),
        "repeat": options.repeat,
        "recipe": recipe.name,
        "prompt_hashes": prompt_hashes(recipe),
        "model": model.name,
        "index": index_fingerprint,
        "commit": _commit(),
        "version": __version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "kestra_version": kestra_version,
        "cache": options.use_cache,
        "concurrency": options.concurrency,
        "live": options.live,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (out_dir / "cases.json").write_text(json.dumps([c.to_json() for c in cases], indent=1) + "\n", encoding="utf-8")
    cache = ReplyCache(settings.cache_dir / "eval-replies")
    jobs = [(case, sample) for case in cases for sample in range(options.repeat)]
    gate = asyncio.Semaphore(max(1, options.concurrency))
    results: list[dict[str, Any]] = []

    async def one(case: Case, sample: int) -> None:
        async with gate:
            cached = CachedModel(model, cache, sample=sample, enabled=options.use_cache)
            engine = Engine(cached, recipe=recipe, retrieve=retrieve, kestra_version=kestra_version)
            record = await _run_case(case, sample, engine, cached, settings, options)
        results.append(record)
        if record["output"] is not None:
            name = f"{_slug(case.id)}--{sample}.yaml"
            (out_dir / "outputs" / name).write_text(record["output"], encoding="utf-8")
        if progress:
            progress(len(results), len(jobs), record)

    await asyncio.gather(*(one(case, sample) for case, sample in jobs))
    results.sort(key=lambda r: (r["case"], r["sample"]))
    _write_results(out_dir, results)
    return summarize(results)


async def _run_case(
    case: Case, sample: int, engine: Engine, model: CachedModel, settings: Settings, options: RunOptions
) -> dict[str, Any]:
    started = time.perf_counter()
    start_revisions = 0
    if case.flow is not None:
        engine.start_from(case.flow)
        start_revisions = 1
    usage, attempts, error, reply = [], 0, None, ""
    for turn in case.turns:
        result = await engine.turn(turn)
        reply = result.reply[:MAX_REPLY_CHARS]
        usage += result.usage
        attempts += result.attempts
        if result.error is not None:
            error = str(result.error)
            break
    latency = time.perf_counter() - started
    made = engine.current is not None and len(engine.revisions) > start_revisions
    flow = engine.current.yaml if made and engine.current else None
    live: dict[str, Any] = {}
    if options.live and flow is not None:
        live = await _live_checks(case, flow, engine, model, settings)
    output = Output(flow, engine.kestra_version, live)
    scored = score_case(case, output)
    cost = estimate_cost(model.name, usage, settings.prices)
    return {
        "case": case.id,
        "sample": sample,
        "tags": list(case.tags),
        "output": flow,
        "reply": reply,
        "error": error,
        "live": live,
        "scores": [s.to_json() for s in scored.scores],
        "score": round(scored.value, 4),
        "passed": scored.passed,
        "tokens": sum(u.total for u in usage),
        "calls": len(usage),
        "attempts": attempts,
        "latency": round(latency, 3),
        "cost": cost,
        "cache_hits": model.hits,
        "cache_misses": model.misses,
    }


async def _live_checks(case: Case, flow: str, engine: Engine, model: ChatModel, settings: Settings) -> dict[str, Any]:
    live: dict[str, Any] = {}
    kinds = {c.kind: c for c in case.checks}
    if "test_run" in kinds and settings.kestra_url and engine.current is not None and engine.current.valid:
        from ..engine.testrun import test_run
        from ..kestra import KestraClient, KestraError

        inputs = {str(k): str(v) for k, v in (kinds["test_run"].options.get("inputs") or {}).items()}
        try:
            async with KestraClient.from_settings(settings) as client:
                ran = await test_run(engine, client, inputs=inputs, max_repairs=0,
                                     namespace_suffix=settings.test_namespace_suffix)  # fmt: skip
            live["test_run"] = {"state": ran.state}
        except KestraError as exc:
            live["test_run"] = {"state": "NOT_RUN", "error": str(exc)}
    if "rubric" in kinds:
        live["rubric"] = await _grade(kinds["rubric"].options.get("rubric", ""), case, flow, model)
    return live


RUBRIC_PROMPT = """You grade a Kestra flow written for this request.

Request: {request}

Rubric: {rubric}

Flow:
```yaml
{flow}
```

Answer with one line `GRADE: N` (N from 1 = useless to 5 = exactly right), then one line `REASON: …`."""


async def _grade(rubric: str, case: Case, flow: str, model: ChatModel) -> dict[str, Any]:
    prompt = RUBRIC_PROMPT.format(
        request=" / ".join(case.turns), rubric=rubric or "Does it do what was asked?", flow=flow
    )
    text = ""
    try:
        async for event in model.stream([Message("user", prompt)], settings=GenerationSettings(temperature=0.0)):
            text += getattr(event, "text", "")
    except ModelError as exc:  # a grading failure is reported, never fatal to the run
        return {"grade": 0, "reason": f"grading failed: {exc}"}
    grade = re.search(r"GRADE:\s*([1-5])", text)
    reason = re.search(r"REASON:\s*(.+)", text)
    return {"grade": int(grade[1]) if grade else 0, "reason": reason[1].strip() if reason else text.strip()[:200]}


def _write_results(out_dir: Path, results: list[dict[str, Any]]) -> None:
    with (out_dir / "results.jsonl").open("w", encoding="utf-8") as f:
        for record in results:
            f.write(json.dumps(record) + "\n")
    (out_dir / "summary.json").write_text(json.dumps(summarize(results), indent=2) + "\n", encoding="utf-8")


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    costs = [r["cost"] for r in results if r.get("cost") is not None]
    latencies = sorted(r["latency"] for r in results)
    return {
        "samples": n,
        "cases": len({r["case"] for r in results}),
        "pass_rate": round(sum(r["passed"] for r in results) / n, 4) if n else 0.0,
        "mean_score": round(sum(r["score"] for r in results) / n, 4) if n else 0.0,
        "tokens": sum(r["tokens"] for r in results),
        "cost": round(sum(costs), 6) if costs else None,
        "latency_p50": latencies[n // 2] if n else 0.0,
        "errors": sum(1 for r in results if r.get("error")),
        "cache_hits": sum(r.get("cache_hits", 0) for r in results),
        "fresh_calls": sum(r.get("cache_misses", 0) for r in results),
    }


def load_run(run_dir: Path) -> tuple[dict[str, Any], list[Case], list[dict[str, Any]]]:
    """A run directory's manifest, cases and results."""
    from ..errors import CopilotError

    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        cases = [Case.from_json(c) for c in json.loads((run_dir / "cases.json").read_text(encoding="utf-8"))]
        lines = (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError, KeyError) as exc:
        raise CopilotError(
            f"{run_dir} is not a complete eval run: {exc}", hint="Give a folder `eval run` wrote."
        ) from exc
    return manifest, cases, [json.loads(line) for line in lines if line.strip()]


def rescore(run_dir: Path, cases: list[Case] | None = None) -> dict[str, Any]:
    """Score the saved outputs again with today's scorers (and the run's cases, or newer ones)."""
    manifest, saved, results = load_run(run_dir)
    by_id = {c.id: c for c in (cases or saved)}
    for record in results:
        case = by_id.get(record["case"])
        if case is None:
            continue
        output = Output(record["output"], int(manifest.get("kestra_version", 1)), record.get("live") or {})
        scored = score_case(case, output)
        record.update(scores=[s.to_json() for s in scored.scores], score=round(scored.value, 4), passed=scored.passed)
    if cases:
        (run_dir / "cases.json").write_text(json.dumps([c.to_json() for c in cases], indent=1) + "\n", encoding="utf-8")
    _write_results(run_dir, results)
    return summarize(results)
