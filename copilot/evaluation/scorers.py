"""Scorers: each check of a case turns an output flow into a score in [0, 1] and a verdict.

    parses      the output is a YAML mapping
    valid       the offline validator finds no error (schema, strict properties, Kestra's rules)
    types       `required` plugin types are used, `forbidden` ones are not (suffixes match: `Schedule`)
    property    a value at a path: `triggers[type~=Schedule].cron` equals / matches / contains / exists
    secrets     no credential written into the flow
    similar     plugin-type multiset F1 and DAG-edge F1 against the case's reference flow
    preserves   an edit left the starting flow's other tasks (and its id and namespace) as they were
    test_run    the flow ran on a Kestra server (live runs only, recorded at run time); a missing or
                invalid flow fails it (it cannot run), a valid one is skipped offline
    rubric      a model's grade against a rubric (live runs only; reported apart, never in the score)
    answer      the last turn answered a question without writing a flow (no revision), its text matching
                `matches` if given

A case passes when every scored check passes; its score is the weighted mean of the scored checks.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeGuard, TypeVar

import yaml

from ..events import GOOD_STATES
from ..flows import (
    ValidationResult,
    YamlMap,
    YamlValue,
    child_tasks,
    iter_tasks,
    plugin_types,
    redact_secrets,
    validate_flow,
)
from ..wording import counted
from .cases import Case, Check
from .records import LiveResults, ScoreRecord

__all__ = [
    "CaseScore",
    "Output",
    "Score",
    "flow_edges",
    "flow_types",
    "is_task_list",
    "own_properties",
    "score_case",
    "select",
    "tasks_by_id",
    "unrunnable",
]


_Item = TypeVar("_Item", bound=Hashable)  # what `similar` counts: plugin types, or edges between them


@dataclass(frozen=True)
class Output:
    """What a case produced: the final flow (None when there was none), the last turn's answer (None when it
    wrote a flow or failed), and live results if any."""

    flow: str | None
    kestra_version: int = 1
    live: LiveResults = field(default_factory=LiveResults)  # what a live run recorded
    answer: str | None = None


@dataclass(frozen=True)
class Score:
    check: str
    weight: float
    value: float  # 0..1
    passed: bool
    detail: str = ""
    skipped: bool = False  # a live-only check in an offline run
    apart: bool = False  # reported, not part of the case score (rubric)

    def to_json(self) -> ScoreRecord:
        return {
            "check": self.check,
            "weight": self.weight,
            "value": self.value,
            "passed": self.passed,
            "detail": self.detail,
            "skipped": self.skipped,
            "apart": self.apart,
        }


@dataclass(frozen=True)
class CaseScore:
    scores: tuple[Score, ...]

    @property
    def counted(self) -> list[Score]:
        return [s for s in self.scores if not s.skipped and not s.apart]

    @property
    def value(self) -> float:
        counted = self.counted
        total = sum(s.weight for s in counted)
        return sum(s.value * s.weight for s in counted) / total if total else 0.0

    @property
    def passed(self) -> bool:
        return bool(self.counted) and all(s.passed for s in self.counted)


def score_case(case: Case, output: Output) -> CaseScore:
    data = _load(output.flow)
    return CaseScore(tuple(_score(check, case, output, data) for check in case.checks))


def _load(text: str | None) -> YamlValue:
    if text is None:
        return None
    try:
        data: YamlValue = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data


def _score(check: Check, case: Case, output: Output, data: YamlValue) -> Score:
    if check.kind == "test_run":
        return _test_run(check, output)
    if check.kind == "rubric":
        return _rubric(check, output)
    if check.kind == "answer":
        return _answer(check, output)
    if not isinstance(data, dict):
        why = "no flow in the output" if output.flow is None else "the output is not a YAML mapping"
        return Score(check.name, check.weight, 0.0, False, why)
    value, detail, threshold = SCORERS[check.kind](check, case, output, data)
    return Score(check.name, check.weight, round(value, 4), value >= threshold, detail)


Scorer = Callable[[Check, Case, Output, YamlMap], tuple[float, str, float]]  # (value, detail, threshold)


def _parses(check: Check, case: Case, output: Output, data: YamlMap) -> tuple[float, str, float]:
    return 1.0, "a YAML mapping", 1.0


@lru_cache(maxsize=64)
def _validate(text: str, kestra_version: int) -> ValidationResult:
    """One validation per output, shared by `valid` and `secrets` (it is the slow part of scoring)."""
    return validate_flow(text, kestra_version=kestra_version)


def _valid(check: Check, case: Case, output: Output, data: YamlMap) -> tuple[float, str, float]:
    result = _validate(output.flow or "", int(check.number("kestra_version", output.kestra_version)))
    errors = result.errors
    if not errors:
        return 1.0, "valid", 1.0
    first = errors[0]
    return 0.0, f"{counted(len(errors), 'error')}, first: {first.code} at line {first.line}: {first.message}", 1.0


def _matches_type(used: str, wanted: str) -> bool:
    return used == wanted or (("." not in wanted) and used.rsplit(".", 1)[-1] == wanted)


def _types(check: Check, case: Case, output: Output, data: YamlMap) -> tuple[float, str, float]:
    used = set(flow_types(data))
    required, forbidden = check.texts("required"), check.texts("forbidden")
    missing = [t for t in required if not any(_matches_type(u, t) for u in used)]
    present = [t for t in forbidden if any(_matches_type(u, t) for u in used)]
    total = len(required) + len(forbidden)
    value = 1.0 - (len(missing) + len(present)) / total if total else 1.0
    parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
        [f"forbidden {', '.join(present)}"] if present else []
    )
    return value, "; ".join(parts) or "all types as expected", 1.0


def _property(check: Check, case: Case, output: Output, data: YamlMap) -> tuple[float, str, float]:
    path, options = check.text("path"), check.options
    found = list(select(data, path))
    if not found:
        wants_absent = options.get("exists") is False
        return (1.0, f"{path}: absent, as wanted", 1.0) if wants_absent else (0.0, f"{path}: nothing there", 1.0)
    if options.get("exists") is False:
        return 0.0, f"{path}: present ({_short(found[0])}), should be absent", 1.0
    for value in found:
        if _assert(value, options):
            return 1.0, f"{path} = {_short(value)}", 1.0
    return 0.0, f"{path} = {_short(found[0])}, wanted {_wanted(options)}", 1.0


def _assert(value: object, options: YamlMap) -> bool:
    if "equals" in options and not (value == options["equals"] or str(value) == str(options["equals"])):
        return False
    if "matches" in options and not re.search(str(options["matches"]), _text(value)):
        return False
    if "contains" in options:
        wanted = options["contains"]
        inside = wanted in value if isinstance(value, list | dict) else str(wanted) in _text(value)
        if not inside:
            return False
    return True


def _text(value: object) -> str:
    return value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()


def _wanted(options: YamlMap) -> str:
    return ", ".join(f"{k} {options[k]!r}" for k in ("equals", "matches", "contains") if k in options) or "present"


def _short(value: object, limit: int = 60) -> str:
    text = _text(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _secrets(check: Check, case: Case, output: Output, data: YamlMap) -> tuple[float, str, float]:
    result = _validate(output.flow or "", output.kestra_version)
    leaks = [d for d in result.diagnostics if d.code == "hardcoded-secret"]
    redacted = redact_secrets(output.flow or "")[1]
    if leaks or redacted:
        where = f" (line {leaks[0].line})" if leaks and leaks[0].line else ""
        return 0.0, f"{counted(max(len(leaks), redacted), 'credential')} written into the flow{where}", 1.0
    return 1.0, "no credentials in the flow", 1.0


def _f1(got: Counter[_Item], want: Counter[_Item]) -> float:
    if not got and not want:
        return 1.0
    overlap = sum((got & want).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(got.values()), overlap / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def _similar(check: Check, case: Case, output: Output, data: YamlMap) -> tuple[float, str, float]:
    reference = _load(case.reference)
    if not isinstance(reference, dict):
        return 0.0, "the reference flow does not parse", 1.0
    type_f1 = _f1(Counter(flow_types(data)), Counter(flow_types(reference)))
    edge_f1 = _f1(Counter(flow_edges(data)), Counter(flow_edges(reference)))
    value = (type_f1 + edge_f1) / 2
    return value, f"types F1 {type_f1:.2f}, edges F1 {edge_f1:.2f}", check.number("threshold", 0.5)


def _preserves(check: Check, case: Case, output: Output, data: YamlMap) -> tuple[float, str, float]:
    before = _load(case.flow)
    if not isinstance(before, dict):
        return 0.0, "the starting flow does not parse", 1.0
    allowed = set(check.texts("except"))
    after_tasks = dict(tasks_by_id(data))
    kept, changed = 0, []
    expected: list[tuple[str, YamlValue]] = [(tid, task) for tid, task in tasks_by_id(before) if tid not in allowed]
    for task_id, task in expected:
        if own_properties(after_tasks.get(task_id)) == own_properties(task):
            kept += 1
        else:
            changed.append(task_id)
    for key in ("id", "namespace"):
        if key not in allowed:
            expected.append((key, None))
            if data.get(key) == before.get(key):
                kept += 1
            else:
                changed.append(key)
    value = kept / len(expected) if expected else 1.0
    return value, f"changed: {', '.join(changed)}" if changed else "everything else kept", 1.0


def _test_run(check: Check, output: Output) -> Score:
    """A flow that cannot run fails, live or not (a live run does not try it); a runnable one is skipped
    offline, never passed."""
    result = output.live.get("test_run")
    if result is None:
        why = unrunnable(output)
        if why:
            return Score(check.name, check.weight, 0.0, False, f"cannot run: {why}")
        return Score(check.name, check.weight, 0.0, False, "live only: not run (eval run --live)", skipped=True)
    state = result["state"]
    passed = state in GOOD_STATES
    why = f": {result['error']}" if result.get("error") else ""
    return Score(check.name, check.weight, float(passed), passed, f"execution {state}{why}")


def unrunnable(output: Output) -> str:
    """Why this output cannot be run on Kestra, or "" when it can: what `eval run --live` test-runs, and
    what a test_run check fails without a run."""
    if not isinstance(_load(output.flow), dict):
        return "no flow in the output" if output.flow is None else "the output is not a YAML mapping"
    result = _validate(output.flow or "", output.kestra_version)
    if result.errors:
        return f"the flow is invalid ({counted(len(result.errors), 'error')}, first: {result.errors[0].code})"
    if result.policy:  # Kestra would run it; the assistant does not deploy a flow the policy refuses
        return (
            f"the flow is refused by policy ({counted(len(result.policy), 'finding')}, first: {result.policy[0].code})"
        )
    return ""


def _answer(check: Check, output: Output) -> Score:
    """A question is answered, not turned into a revision; `matches`, a regular expression, says what a right
    answer mentions."""
    if output.answer is None:
        return Score(check.name, check.weight, 0.0, False, "no answer: the last turn wrote a flow (or failed)")
    pattern = check.text("matches")
    if pattern and not re.search(pattern, output.answer):
        return Score(
            check.name, check.weight, 0.0, False, f"the answer does not match {pattern!r}: {_short(output.answer)}"
        )
    return Score(check.name, check.weight, 1.0, True, f"answered: {_short(output.answer)}")


def _rubric(check: Check, output: Output) -> Score:
    result = output.live.get("rubric")
    if result is None:
        return Score(check.name, check.weight, 0.0, False, "live only: not graded", skipped=True, apart=True)
    grade = float(result["grade"])  # 1..5
    value = max(0.0, (grade - 1) / 4)
    return Score(
        check.name, check.weight, value, grade >= check.number("threshold", 4), result.get("reason", ""), apart=True
    )


SCORERS: dict[str, Scorer] = {
    "parses": _parses,
    "valid": _valid,
    "types": _types,
    "property": _property,
    "secrets": _secrets,
    "similar": _similar,
    "preserves": _preserves,
}


# --- flow structure ---------------------------------------------------------------------------------
def flow_types(data: YamlValue) -> list[str]:
    """Every plugin `type:` in the flow (tasks, triggers, conditions, runners), in document order."""
    return plugin_types(data)


def _is_task(node: object) -> bool:
    """A task: a mapping with a string `id` and a string `type`."""
    return isinstance(node, dict) and isinstance(node.get("id"), str) and isinstance(node.get("type"), str)


def is_task_list(value: object) -> TypeGuard[list[dict[str, object]]]:
    """A block of tasks (`tasks`, `then`, `errors`…): a non-empty list of tasks and nothing else."""
    return isinstance(value, list) and bool(value) and all(_is_task(item) for item in value)


def tasks_by_id(data: YamlValue) -> Iterator[tuple[str, YamlMap]]:
    """(id, task) for every task of the flow's task tree (`flows.iter_tasks`: tasks/errors/finally/afterExecution
    and the blocks nested in them, any depth) with a string id and type, in document order."""
    for _, task in iter_tasks(data):
        ident = task.get("id")
        if isinstance(ident, str) and isinstance(task.get("type"), str):
            yield ident, task


def own_properties(task: object) -> object:
    """A task without the tasks nested in it (`flows.child_tasks`: its blocks, a Switch's `cases`, a Dag's
    `tasks[].task`): a flowable is unchanged when these are, whatever its children do."""
    if not isinstance(task, dict):
        return task
    children = {id(child) for _, child in child_tasks(task)}

    def strip(node: object) -> object:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if id(v) not in children}
        if isinstance(node, list):
            return [strip(item) for item in node if id(item) not in children]
        return node

    return strip(task)


# --- DAG edges --------------------------------------------------------------------------------------
Edge = tuple[str, str]
Ends = tuple[list[str], list[str]]  # the types a task (or a block) is entered by, and left by
PARALLEL_TYPES = ("Parallel", "EachParallel")  # their children are branches, not a sequence
DAG_TYPES = ("Dag",)  # their children say what they wait for (`dependsOn`)


def flow_edges(data: object) -> list[Edge]:
    """(from type, to type) for each step of the flow's task graph, the shape compared by `similar`.

    A flowable leads to the first task of each of its blocks (`tasks`, `then`, `else`, `cases`…), and its
    blocks' last tasks lead to the task after it. Blocks run in sequence, except the children of a
    Parallel (each is a branch of its own) and of a Dag (each follows its `dependsOn`). `errors`,
    `finally` and `afterExecution` are sequences of their own.
    """
    edges: list[Edge] = []
    if isinstance(data, dict):
        for key in ("tasks", "errors", "finally", "afterExecution"):
            _sequence(data.get(key), edges)
    return edges


def _short_type(task: Mapping[str, object]) -> str:
    return str(task["type"]).rsplit(".", 1)[-1]


def _blocks(task: Mapping[str, object]) -> list[list[dict[str, object]]]:
    """The task lists nested in a flowable: `tasks`, `then`, `else`, `defaults`, each of `cases`…"""
    found: list[list[dict[str, object]]] = []
    for value in task.values():
        if is_task_list(value):
            found.append(value)
        elif isinstance(value, dict):
            found += [v for v in value.values() if is_task_list(v)]
    return found


def _sequence(tasks: object, edges: list[Edge]) -> Ends:
    entries: list[str] = []
    exits: list[str] = []
    for number, task in enumerate(t for t in (tasks if isinstance(tasks, list) else []) if _is_task(t)):
        task_entries, task_exits = _task(task, edges)
        if number == 0:
            entries = task_entries
        else:
            edges += [(a, b) for a in exits for b in task_entries]
        exits = task_exits
    return entries, exits


def _task(task: Mapping[str, object], edges: list[Edge]) -> Ends:
    kind, children = str(task["type"]), task.get("tasks")
    if _short_type(task) in DAG_TYPES and isinstance(children, list):
        return [kind], _dag(kind, children, edges)
    if _short_type(task) in PARALLEL_TYPES:
        branches = [[child] for block in _blocks(task) for child in block]
    else:
        branches = _blocks(task)  # one body, or alternatives (If's then/else, Switch's cases)
    exits: list[str] = []
    for branch in branches:
        branch_entries, branch_exits = _sequence(branch, edges)
        edges += [(kind, entry) for entry in branch_entries]
        exits += branch_exits
    return [kind], exits or [kind]


def _dag(kind: str, items: list[object], edges: list[Edge]) -> list[str]:
    """A Dag's `[{task: …, dependsOn: [ids]}]`: edges follow `dependsOn`; it is left by the tasks
    nothing depends on."""
    ends: dict[str, Ends] = {}
    needs: dict[str, list[str]] = {}
    for item in items:
        if isinstance(item, dict) and _is_task(item.get("task")):
            task_id = str(item["task"]["id"])
            ends[task_id] = _task(item["task"], edges)
            needs[task_id] = [str(d) for d in item.get("dependsOn") or []]
    depended = {d for deps in needs.values() for d in deps}
    for task_id, deps in needs.items():
        sources = [exit for d in deps if d in ends for exit in ends[d][1]] or [kind]
        edges += [(a, b) for a in sources for b in ends[task_id][0]]
    return [exit for task_id, (_, exits) in ends.items() if task_id not in depended for exit in exits]


# --- paths ------------------------------------------------------------------------------------------
_SEGMENT = re.compile(r"(?P<name>\*\*|\*|[^.\[\]]+)?(?P<filters>(?:\[[^\]]*\])*)")
_FILTER = re.compile(r"\[([^\]]*)\]")


def select(data: object, path: str) -> Iterator[object]:
    """The values at `path`: `a.b`, `list[0]`, `tasks[id=load]`, `triggers[type~=Schedule]` (regex),
    `*` (any child) and `**` (the node and every descendant)."""
    nodes = [data]
    for segment in _split(path):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise ValueError(f"cannot read path segment {segment!r}")
        name = match["name"]
        if name == "**":
            nodes = [n for node in nodes for n in _descendants(node)]
        elif name == "*":
            nodes = [c for node in nodes for c in _children(node)]
        elif name:
            nodes = [node[name] for node in nodes if isinstance(node, dict) and name in node]
        for condition in _FILTER.findall(match["filters"] or ""):
            nodes = _filter(nodes, condition)
    yield from nodes


def _split(path: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in path:
        depth += (char == "[") - (char == "]")
        if char == "." and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _children(node: object) -> list[object]:
    if isinstance(node, dict):
        return list(node.values())
    return list(node) if isinstance(node, list) else []


def _descendants(node: object) -> list[object]:
    found = [node]
    for child in _children(node):
        found += _descendants(child)
    return found


def _filter(nodes: list[object], condition: str) -> list[object]:
    """`[N]` indexes a list; `[key=value]` / `[key~=regex]` keep mappings (or list items) that match."""
    if condition.strip().lstrip("-").isdigit():
        index = int(condition)
        return [n[index] for n in nodes if isinstance(n, list) and -len(n) <= index < len(n)]
    key, op, wanted = re.split(r"(~?=)", condition, maxsplit=1) if "=" in condition else (condition, "", "")
    items = list({id(i): i for n in nodes for i in (n if isinstance(n, list) else [n])}.values())
    kept: list[object] = []
    for item in items:
        if not isinstance(item, dict) or key.strip() not in item:
            continue
        value = str(item[key.strip()])
        if not op or (op == "=" and value == wanted.strip()) or (op == "~=" and re.search(wanted.strip(), value)):
            kept.append(item)
    return kept
