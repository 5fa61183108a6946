"""Task and trigger rules: Dag, Switch, WorkingDirectory, retry, Schedule, Webhook (C1–C5, D1–D3, H)."""

from __future__ import annotations

import re
from collections.abc import Callable

from ._cron import cron_error
from ._diagnostics import Severity
from ._parse import Path
from ._rules import FlowIndex, literal, type_is
from ._types import YamlValue
from ._values import as_dict, as_list

__all__ = ["TASK_RULES", "parse_duration"]

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$", re.IGNORECASE)


def parse_duration(value: YamlValue) -> float | None:
    """Seconds in an ISO-8601 duration (`PT5M`, `P1DT2H`) or a plain number of seconds; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value.strip())
    if not match or value.strip().upper() in ("P", "PT"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def dags(index: FlowIndex) -> None:  # C1
    for path, task in index.tasks:
        if not type_is(task, "Dag"):
            continue
        entries = task.get("tasks")
        if not isinstance(entries, list) or not entries:
            index.report("dag-empty", path, f"Dag '{task.get('id')}': No task defined.", "Add tasks to the Dag.")
            continue
        dag_tasks = {position: as_dict(entry).get("task") for position, entry in enumerate(entries)}
        ids = {t.get("id") for t in dag_tasks.values() if isinstance(t, dict)}
        graph: dict[str, list[str]] = {}
        for position, entry in enumerate(entries):
            own_task = dag_tasks[position]
            if not isinstance(own_task, dict):
                continue
            own = str(own_task.get("id"))
            depends = as_list(as_dict(entry).get("dependsOn"))
            graph[own] = [str(d) for d in depends]
            for d_index, dependency in enumerate(depends):
                if dependency not in ids:
                    index.report(
                        "unknown-dependency",
                        (*path, "tasks", position, "dependsOn", d_index),
                        f"Dag '{task.get('id')}': Not existing task id in dependency: {dependency}.",
                        "`dependsOn` names tasks of the same Dag; check the spelling.",
                    )
        cycle = _cycle(graph)
        if cycle:
            index.report(
                "dag-cycle",
                (*path, "tasks"),
                f"Dag '{task.get('id')}': Cyclic dependency detected: {', '.join(cycle)}.",
                "Remove one of the dependencies so the tasks can run in an order.",
            )


def _cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        trail.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return trail[trail.index(nxt) :]
            if nxt in graph and state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        trail.pop()
        return None

    for node in graph:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def switches(index: FlowIndex) -> None:  # C2
    for path, task in index.tasks:
        if not type_is(task, "Switch"):
            continue
        cases = as_dict(task.get("cases"))
        defaults = task.get("defaults")
        if not any(isinstance(v, list) and v for v in cases.values()) and not (isinstance(defaults, list) and defaults):
            index.report(
                "switch-empty",
                path,
                f"Switch '{task.get('id')}': No task defined, neither cases or default have any tasks.",
                "Give at least one case (or `defaults`) some tasks.",
            )
            continue
        if index.version >= 2:
            for case, children in cases.items():
                if not (isinstance(children, list) and children):
                    index.report(
                        "switch-empty-case",
                        (*path, "cases", case),
                        f"Switch '{task.get('id')}': The case '{case}' must define at least one task.",
                        "Kestra 2.x refuses empty cases; remove it or add a task.",
                    )
            if "defaults" in task and not (isinstance(defaults, list) and defaults):
                index.report(
                    "switch-empty-case",
                    (*path, "defaults"),
                    f"Switch '{task.get('id')}': The 'defaults' property cannot be empty.",
                    "Remove `defaults` or add a task to it (Kestra 2.x rule).",
                )


def _flowable_types() -> frozenset[str]:
    from ._bundled import bundled

    return bundled().flowable


def working_directories(index: FlowIndex) -> None:  # C3
    for path, task in index.tasks:
        if not type_is(task, "WorkingDirectory"):
            continue
        children = task.get("tasks")
        if not isinstance(children, list) or not children:
            index.report(
                "working-directory-empty",
                path,
                f"WorkingDirectory '{task.get('id')}': The 'tasks' property cannot be empty.",
                "Add the tasks that share the working directory.",
            )
            continue
        for position, child in enumerate(children):
            if not isinstance(child, dict):
                continue
            child_path: Path = (*path, "tasks", position)
            if child.get("type") in _flowable_types() or type_is(child, "Subflow"):
                index.report(
                    "working-directory-child",
                    (*child_path, "type"),
                    f"Task '{child.get('id')}': "
                    "Only runnable tasks are allowed as children of a WorkingDirectory task.",
                    "Move the flowable task out of the WorkingDirectory.",
                )
            if "workerGroup" in child:
                index.report(
                    "working-directory-child",
                    (*child_path, "workerGroup"),
                    f"Task '{child.get('id')}': Cannot set a Worker Group in any WorkingDirectory sub-tasks.",
                    "Set `workerGroup` on the WorkingDirectory itself.",
                )


def _retry_rules(index: FlowIndex, retry: YamlValue, path: Path) -> None:  # C5
    if not isinstance(retry, dict):
        return
    kind = retry.get("type")
    values = {k: parse_duration(retry.get(k)) for k in ("interval", "maxDuration", "maxInterval", "minInterval")}

    def less(small: str, big: str) -> None:
        a, b = values[small], values[big]
        if a is not None and b is not None and a >= b:
            index.report(
                "retry-interval",
                (*path, small),
                f"Retry: '{small}' must be less than '{big}' but is {retry.get(small)}.",
                f"Make `{small}` shorter than `{big}` ({retry.get(big)}).",
            )

    if kind in ("constant", "exponential"):
        less("interval", "maxDuration")
    if kind == "exponential":
        less("interval", "maxInterval")
    if kind == "random" and values["maxInterval"] is not None:
        less("minInterval", "maxDuration")
        less("maxInterval", "maxDuration")
        less("minInterval", "maxInterval")


def retries(index: FlowIndex) -> None:
    _retry_rules(index, index.data.get("retry"), ("retry",))
    for path, task in index.tasks:
        _retry_rules(index, task.get("retry"), (*path, "retry"))


def _valid_zone(name: str) -> bool:
    if name in ("Z", "UTC", "GMT", "UT") or re.fullmatch(r"(?:UTC|GMT|UT)?[+-]\d{1,2}(?::?\d{2})?(?::?\d{2})?", name):
        return True
    import zoneinfo  # loaded for a flow that names a time zone

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def schedules(index: FlowIndex) -> None:  # D1, D2, D3
    for path, trigger in index.triggers:
        if type_is(trigger, "Schedule"):
            cron = trigger.get("cron")
            if isinstance(cron, str) and literal(cron):
                problem = cron_error(cron, with_seconds=trigger.get("withSeconds") is True)
                if problem:
                    index.report(
                        "invalid-cron",
                        (*path, "cron"),
                        f"invalid cron expression '{cron}': {problem}.",
                        "Five fields: minute hour day-of-month month day-of-week, e.g. '0 9 1 * *' "
                        "(09:00 on the 1st of each month).",
                    )
        if type_is(trigger, "Schedule", "ScheduleOnDates"):
            zone = trigger.get("timezone")
            if isinstance(zone, str) and literal(zone) and not _valid_zone(zone):
                index.report(
                    "invalid-timezone",
                    (*path, "timezone"),
                    f"timezone '{zone}' is not a valid time-zone ID.",
                    "Use an IANA zone such as Europe/Paris or America/New_York, or UTC.",
                )
        if type_is(trigger, "Webhook"):
            key = trigger.get("key")
            if isinstance(key, str) and len(key) > 256:
                index.report("webhook-key", (*path, "key"), "Webhook `key` is longer than 256 characters.")
            elif index.version >= 2 and isinstance(key, str) and not key.strip():
                index.report("webhook-key", (*path, "key"), "Webhook `key` must not be blank (Kestra 2.x).")


def warnings(index: FlowIndex) -> None:  # H
    if index.version == 1:
        for path, trigger in index.triggers:
            if type_is(trigger, "Flow") and not trigger.get("conditions") and not trigger.get("preconditions"):
                index.report(
                    "flow-trigger-everything",
                    path,
                    f"Flow trigger '{trigger.get('id')}' has no conditions: "
                    "this flow will be triggered for EVERY execution of EVERY flow.",
                    "Add `preconditions` (or `conditions`) naming the upstream flow.",
                    Severity.WARNING,
                )
    for path, task in index.tasks:
        if task.get("type") in _flowable_types() and not type_is(task, "Pause"):
            for key in ("timeout", "taskCache"):
                if key in task:
                    index.report(
                        "flowable-property",
                        (*path, key),
                        f"The task '{task.get('id')}' cannot use the '{key}' property: "
                        "it only applies to runnable tasks.",
                        f"Set `{key}` on the tasks inside it.",
                        Severity.WARNING,
                    )


def enterprise_features(index: FlowIndex) -> None:  # B10, C4: refused by the open-source edition only
    def warn(path: Path, feature: str, kestra: str) -> None:
        index.report(
            "enterprise-only",
            path,
            f'{feature} is an Enterprise Edition feature; an open-source Kestra refuses it: "{kestra}".',
            "Keep it only if your Kestra is Enterprise or Cloud.",
            Severity.WARNING,
        )

    if index.version == 1:
        for path, node in [*index.tasks, *index.triggers]:
            if "workerGroup" in node:
                warn((*path, "workerGroup"), "`workerGroup`", "Worker Group is an Enterprise Edition functionality")
    for path, task in index.tasks:
        if "assets" in task:
            warn((*path, "assets"), "Task `assets`", f"Task '{task.get('id')}' can't have any `assets`")
    if index.version >= 2:
        if "quotas" in index.data:
            warn(("quotas",), "`quotas`", "Quotas are only available in Enterprise Edition.")
        for path, item in index.inputs:
            if item.get("type") == "REUSABLE_INPUTS":
                warn(
                    (*path, "type"),
                    "REUSABLE_INPUTS",
                    f"Input '{item.get('id')}' of type REUSABLE_INPUTS is only available in Enterprise Edition.",
                )


TASK_RULES: list[Callable[[FlowIndex], None]] = [
    enterprise_features,
    dags,
    switches,
    working_directories,
    retries,
    schedules,
    warnings,
]
