"""The files of a run directory, typed: one result (a line of results.jsonl), the manifest, the summary,
and the one reader (`load_run`) that checks them as it loads them, for `eval score` and `eval compare`.

A result always has its case, sample, output, scores and verdict, and its latency; the rest depends on
the version that wrote it: before fresh and replayed figures were apart, a result had `tokens`, `cost`
and `calls` (then `recorded_tokens`/`recorded_cost`), and a score may lack `weight`, `skipped`, `apart`.
Those keys are read and written back as they were (`eval score` rewrites results.jsonl), never added.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NotRequired, TypedDict

from ..errors import CopilotError
from .cases import Case, CaseError

__all__ = [
    "Failure",
    "LiveResults",
    "Manifest",
    "ResultRecord",
    "RubricGrade",
    "RubricSummary",
    "Run",
    "ScoreRecord",
    "Summary",
    "TestRunOutcome",
    "Unproduced",
    "UsageTotals",
    "load_run",
    "results_jsonl",
]


class ScoreRecord(TypedDict):
    check: str
    weight: NotRequired[float]
    value: float  # 0..1
    passed: bool
    detail: str
    skipped: NotRequired[bool]  # a live-only check in an offline run
    apart: NotRequired[bool]  # reported, not part of the case score (rubric)


class TestRunOutcome(TypedDict):
    state: str  # the execution's final state; NOT_RUN when Kestra could not run it
    error: NotRequired[str]


class RubricGrade(TypedDict):
    grade: int  # 1..5; 0 when grading failed
    reason: str


class LiveResults(TypedDict, total=False):
    """What a live run recorded for the live-only checks."""

    test_run: TestRunOutcome
    rubric: RubricGrade


class Failure(TypedDict):
    """Why a sample could not be produced (both None when it was); an unexpected exception's traceback."""

    error: str | None
    error_hint: str | None
    traceback: NotRequired[str]


class ResultRecord(TypedDict):
    """One line of results.jsonl: one sample of one case. Declared in the order `eval run` writes it."""

    case: str
    sample: int
    tags: NotRequired[list[str]]
    output: str | None  # the flow made, None when there is none
    reply: NotRequired[str]
    answer: NotRequired[str | None]  # the last turn's answer to a question, None when it wrote a flow
    error: NotRequired[str | None]
    error_hint: NotRequired[str | None]
    traceback: NotRequired[str]
    notices: NotRequired[list[str]]
    live: NotRequired[LiveResults]
    scores: list[ScoreRecord]
    score: float
    passed: bool
    attempts: NotRequired[int]
    fresh_tokens: NotRequired[int]
    fresh_cost: NotRequired[float | None]
    replayed_tokens: NotRequired[int]
    replayed_cost: NotRequired[float | None]
    cache_hits: NotRequired[int]
    cache_misses: NotRequired[int]
    calls: NotRequired[int]  # older runs, with the sums below
    recorded_tokens: NotRequired[int]
    recorded_cost: NotRequired[float | None]
    tokens: NotRequired[int]  # older still: totals only
    cost: NotRequired[float | None]
    latency: float
    recorded_latency: NotRequired[float | None]


class Manifest(TypedDict, total=False):
    """manifest.json: what a run was made with (every key is optional to a reader: hand-made runs exist)."""

    suite: str
    cases: int
    repeat: int
    recipe: str
    prompt_hashes: dict[str, str]
    model: str
    index: dict[str, object] | None  # the retrieval index's fingerprint
    commit: str
    version: str
    date: str
    kestra_version: int
    cache: bool
    replay_only: bool
    concurrency: int
    live: bool


class UsageTotals(TypedDict):
    fresh_tokens: int
    fresh_cost: float | None
    replayed_tokens: int
    replayed_cost: float | None
    recorded_tokens: int
    recorded_cost: float | None
    latency_p50: float
    recorded_latency_p50: float | None
    cache_hits: int
    fresh_calls: int


class Unproduced(TypedDict):
    reason: str
    samples: int
    hint: str | None


class RubricSummary(TypedDict):
    graded: int
    mean_grade: float
    pass_rate: float


class Summary(UsageTotals):
    """summary.json (and what `eval run`/`eval score` print)."""

    samples: int
    cases: int
    pass_rate: float
    mean_score: float
    errors: int
    unproduced: list[Unproduced]
    skipped: dict[str, int]
    rubric: RubricSummary | None


@dataclass(frozen=True)
class Run:
    manifest: Manifest
    cases: list[Case]
    results: list[ResultRecord]


def load_run(run_dir: Path) -> Run:
    """A run directory's manifest, cases and results, checked: a missing file or a value of the wrong kind
    is a CopilotError naming the file."""
    name = "manifest.json"
    try:
        manifest = _manifest(json.loads((run_dir / name).read_text(encoding="utf-8")))
        name = "cases.json"
        cases = json.loads((run_dir / name).read_text(encoding="utf-8"))
        if not isinstance(cases, list):
            raise ValueError("not a list of cases")
        loaded = [Case.from_json(c) for c in cases]
        name = "results.jsonl"
        lines = (run_dir / name).read_text(encoding="utf-8").splitlines()
        results = [_result(json.loads(line), number) for number, line in enumerate(lines, 1) if line.strip()]
    except (OSError, ValueError, CaseError) as exc:
        raise CopilotError(
            f"{run_dir} is not a complete eval run: {name}: {exc}", hint="Give a folder `eval run` wrote."
        ) from exc
    return Run(manifest, loaded, results)


def results_jsonl(results: list[ResultRecord]) -> str:
    """results.jsonl's text: one result a line, its keys in the order ResultRecord declares them."""
    order = ResultRecord.__annotations__
    return "".join(json.dumps({key: record.get(key) for key in order if key in record}) + "\n" for record in results)


# --- the reader's checks (a ValueError says what is wrong) -------------------------------------------
def _object(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ValueError(f"{what} is not a JSON object")
    return {str(key): item for key, item in value.items()}


def _text(data: dict[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"`{key}` is not a string")
    return value


def _maybe_text(data: dict[str, object], key: str) -> str | None:
    return None if data.get(key) is None else _text(data, key)


def _texts(data: dict[str, object], key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"`{key}` is not a list of strings")
    return [str(item) for item in value]


def _whole(data: dict[str, object], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"`{key}` is not a whole number")
    return value


def _number(data: dict[str, object], key: str) -> float:
    value = data.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"`{key}` is not a number")
    return value


def _maybe_number(data: dict[str, object], key: str) -> float | None:
    return None if data.get(key) is None else _number(data, key)


def _flag(data: dict[str, object], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"`{key}` is not true or false")
    return value


def _score(value: object) -> ScoreRecord:
    data = _object(value, "a score")
    score: ScoreRecord = {
        "check": _text(data, "check"),
        "value": _number(data, "value"),
        "passed": _flag(data, "passed"),
        "detail": _text(data, "detail"),
    }
    if "weight" in data:
        score["weight"] = _number(data, "weight")
    if "skipped" in data:
        score["skipped"] = _flag(data, "skipped")
    if "apart" in data:
        score["apart"] = _flag(data, "apart")
    return score


def _live(value: object) -> LiveResults:
    data = _object(value, "`live`")
    live: LiveResults = {}
    if "test_run" in data:
        run = _object(data["test_run"], "`live.test_run`")
        live["test_run"] = {"state": _text(run, "state")}
        if "error" in run:
            live["test_run"]["error"] = _text(run, "error")
    if "rubric" in data:
        rubric = _object(data["rubric"], "`live.rubric`")
        live["rubric"] = {"grade": _whole(rubric, "grade"), "reason": _text(rubric, "reason")}
    return live


def _result(value: object, line: int) -> ResultRecord:
    try:
        return _checked_result(_object(value, "a result"))
    except ValueError as exc:
        raise ValueError(f"line {line}: {exc}") from exc


def _checked_result(data: dict[str, object]) -> ResultRecord:
    scores = data.get("scores")
    if not isinstance(scores, list):
        raise ValueError("`scores` is not a list")
    record: ResultRecord = {
        "case": _text(data, "case"),
        "sample": _whole(data, "sample"),
        "output": _maybe_text(data, "output"),
        "scores": [_score(score) for score in scores],
        "score": _number(data, "score"),
        "passed": _flag(data, "passed"),
        "latency": _number(data, "latency"),
    }
    if "tags" in data:
        record["tags"] = _texts(data, "tags")
    if "reply" in data:
        record["reply"] = _text(data, "reply")
    if "answer" in data:
        record["answer"] = _maybe_text(data, "answer")
    if "error" in data:
        record["error"] = _maybe_text(data, "error")
    if "error_hint" in data:
        record["error_hint"] = _maybe_text(data, "error_hint")
    if "traceback" in data:
        record["traceback"] = _text(data, "traceback")
    if "notices" in data:
        record["notices"] = _texts(data, "notices")
    if "live" in data:
        record["live"] = _live(data["live"])
    if "attempts" in data:
        record["attempts"] = _whole(data, "attempts")
    if "fresh_tokens" in data:
        record["fresh_tokens"] = _whole(data, "fresh_tokens")
    if "fresh_cost" in data:
        record["fresh_cost"] = _maybe_number(data, "fresh_cost")
    if "replayed_tokens" in data:
        record["replayed_tokens"] = _whole(data, "replayed_tokens")
    if "replayed_cost" in data:
        record["replayed_cost"] = _maybe_number(data, "replayed_cost")
    if "cache_hits" in data:
        record["cache_hits"] = _whole(data, "cache_hits")
    if "cache_misses" in data:
        record["cache_misses"] = _whole(data, "cache_misses")
    if "calls" in data:
        record["calls"] = _whole(data, "calls")
    if "recorded_tokens" in data:
        record["recorded_tokens"] = _whole(data, "recorded_tokens")
    if "recorded_cost" in data:
        record["recorded_cost"] = _maybe_number(data, "recorded_cost")
    if "tokens" in data:
        record["tokens"] = _whole(data, "tokens")
    if "cost" in data:
        record["cost"] = _maybe_number(data, "cost")
    if "recorded_latency" in data:
        record["recorded_latency"] = _maybe_number(data, "recorded_latency")
    return record


def _manifest(value: object) -> Manifest:
    data = _object(value, "the manifest")
    manifest: Manifest = {}
    if "suite" in data:
        manifest["suite"] = _text(data, "suite")
    if "cases" in data:
        manifest["cases"] = _whole(data, "cases")
    if "repeat" in data:
        manifest["repeat"] = _whole(data, "repeat")
    if "recipe" in data:
        manifest["recipe"] = _text(data, "recipe")
    if "prompt_hashes" in data:
        hashes = _object(data["prompt_hashes"], "`prompt_hashes`")
        manifest["prompt_hashes"] = {role: _text(hashes, role) for role in hashes}
    if "model" in data:
        manifest["model"] = _text(data, "model")
    if "index" in data:
        manifest["index"] = None if data["index"] is None else _object(data["index"], "`index`")
    if "commit" in data:
        manifest["commit"] = _text(data, "commit")
    if "version" in data:
        manifest["version"] = _text(data, "version")
    if "date" in data:
        manifest["date"] = _text(data, "date")
    if "kestra_version" in data:
        manifest["kestra_version"] = _whole(data, "kestra_version")
    if "cache" in data:
        manifest["cache"] = _flag(data, "cache")
    if "replay_only" in data:
        manifest["replay_only"] = _flag(data, "replay_only")
    if "concurrency" in data:
        manifest["concurrency"] = _whole(data, "concurrency")
    if "live" in data:
        manifest["live"] = _flag(data, "live")
    return manifest
