"""Are the scorers right? Check them on real flows nobody here wrote.

Each blueprint becomes a case built from its own title and plugin types (checks: parses, valid, types,
secrets, similar to itself), and its own YAML is the "output": good scorers give it a high score. Then
each blueprint is corrupted in the ways model output goes wrong — a task dropped, an invented property,
a misspelt type, a hard-coded password, a reply cut mid-way — and those copies must score lower.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import CopilotError
from ..flows import YamlMap, YamlValue
from .cases import Case, Check
from .scorers import Output, score_case

__all__ = ["CORRUPTIONS", "Blueprint", "blueprint_case", "distributions", "run_sanity"]


@dataclass(frozen=True)
class Blueprint:
    """A line of the flows file: a real flow, its title and its plugin types."""

    id: str
    title: str
    yaml: str
    task_types: tuple[str, ...] = ()


def blueprint_case(record: Blueprint) -> Case:
    checks = (
        Check("parses"),
        Check("valid"),
        Check("types", {"required": [*record.task_types]}),
        Check("secrets"),
        Check("similar", {"threshold": 0.6}),
    )
    return Case(id=record.id, turns=(record.title or record.id,), checks=checks, reference=record.yaml)


def _with_first_task(data: YamlMap, change: Callable[[YamlMap], YamlMap | None]) -> YamlMap | None:
    """The flow with its first task changed (None when it has none, or `change` does not apply)."""
    tasks = data.get("tasks")
    if not isinstance(tasks, list) or not tasks or not isinstance(tasks[0], dict):
        return None
    changed = change(tasks[0])
    return None if changed is None else {**data, "tasks": [changed, *tasks[1:]]}


def _drop_task(data: YamlMap) -> YamlMap | None:
    tasks = data.get("tasks")
    if not isinstance(tasks, list) or len(tasks) < 2:
        return None
    return {**data, "tasks": tasks[:-1]}


def _invent_property(data: YamlMap) -> YamlMap | None:
    return _with_first_task(data, lambda task: {**task, "colour": "red"})


def _misspell_type(data: YamlMap) -> YamlMap | None:
    def misspell(task: YamlMap) -> YamlMap | None:
        kind = task.get("type")
        return {**task, "type": kind + "Task"} if isinstance(kind, str) else None

    return _with_first_task(data, misspell)


def _hardcode_password(data: YamlMap) -> YamlMap | None:
    return _with_first_task(data, lambda task: {**task, "password": "Sup3r-s3cret-pa55word"})


CORRUPTIONS: dict[str, Callable[[YamlMap], YamlMap | None]] = {
    "drop-last-task": _drop_task,
    "invented-property": _invent_property,
    "misspelt-type": _misspell_type,
    "hardcoded-password": _hardcode_password,
}


def run_sanity(path: Path, *, limit: int | None = None) -> dict[str, list[float]]:
    """Scores by variant: `original`, and one list per corruption (flows it does not apply to are skipped)."""
    records = _read_flows(path)
    records = records[:limit] if limit else records
    scores: dict[str, list[float]] = {"original": [], **{name: [] for name in CORRUPTIONS}, "cut-mid-way": []}
    for record in records:
        case = blueprint_case(record)
        scores["original"].append(score_case(case, Output(record.yaml)).value)
        data: YamlValue = yaml.safe_load(record.yaml)
        for name, corrupt in CORRUPTIONS.items():
            changed = corrupt(data) if isinstance(data, dict) else None
            if changed is not None:
                text = yaml.safe_dump(changed, sort_keys=False, allow_unicode=True)
                scores[name].append(score_case(case, Output(text)).value)
        half = record.yaml[: len(record.yaml) // 2]
        scores["cut-mid-way"].append(score_case(case, Output(half)).value)
    return scores


def _read_flows(path: Path) -> list[Blueprint]:
    from ..fileio import MAX_DATASET_BYTES, read_text

    lines = read_text(path, limit=MAX_DATASET_BYTES, what="flows").splitlines()
    try:
        records: list[object] = [json.loads(line) for line in lines if line.strip()]
    except ValueError as exc:
        raise CopilotError(
            f"Cannot read the flows in {path}: {exc}",
            hint="Give a JSONL file with one {id, title, yaml, task_types} object a line (kestra-flows/dev.jsonl).",
        ) from exc
    return [_blueprint(record, path) for record in records]


def _blueprint(record: object, path: Path) -> Blueprint:
    if not isinstance(record, dict) or not isinstance(record.get("yaml"), str) or "id" not in record:
        raise CopilotError(f"{path}: every line needs an `id` and the flow's `yaml`.")
    types = record.get("task_types") or []
    return Blueprint(
        id=str(record["id"]),
        title=str(record.get("title") or ""),
        yaml=str(record["yaml"]),
        task_types=tuple(str(t) for t in types) if isinstance(types, list) else (),
    )


def distributions(scores: dict[str, list[float]]) -> dict[str, dict[str, float | list[int]]]:
    """Count, mean, median, 10th percentile, share at 1.0 and a 5-bucket histogram per variant."""
    out: dict[str, dict[str, float | list[int]]] = {}
    for name, values in scores.items():
        if not values:
            continue
        ordered = sorted(values)
        buckets = [0] * 5
        for value in values:
            buckets[min(4, int(value * 5))] += 1
        out[name] = {
            "n": len(values),
            "mean": round(statistics.fmean(values), 3),
            "median": round(statistics.median(values), 3),
            "p10": round(ordered[len(ordered) // 10], 3),
            "perfect": round(sum(v >= 0.999 for v in values) / len(values), 3),
            "histogram_0_to_1": buckets,
        }
    corrupted = [v for name, values in scores.items() if name != "original" for v in values]
    if corrupted:
        out["all-corrupted"] = {"n": len(corrupted), "mean": round(statistics.fmean(corrupted), 3)}
    return out
