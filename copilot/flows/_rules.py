"""Checks beyond the JSON schema, run in one pass over the parsed flow.

Each check has a stable code. This module grows into the full set of Kestra's server-side rules;
for now it holds the foundation's checks: duplicate task ids and hard-coded secrets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._diagnostics import Diagnostic, Severity
from ._lint import lint_secrets
from ._parse import ParsedFlow, Path, format_path

__all__ = ["check_rules", "iter_tasks"]

# Keys under which a flowable task keeps its children, as lists of tasks.
_CHILD_LISTS = ("tasks", "then", "else", "errors", "finally", "afterExecution", "defaults")


def iter_tasks(data: Any, path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every task in the flow's tree (tasks, errors, finally, afterExecution and all nested children)."""
    if not isinstance(data, dict):
        return
    roots = ("tasks", "errors", "finally", "afterExecution") if not path else _CHILD_LISTS
    for key in roots:
        children = data.get(key)
        if isinstance(children, list):
            for index, child in enumerate(children):
                if isinstance(child, dict):
                    yield from _task_and_children(child, (*path, key, index))
    if path:
        cases = data.get("cases")
        if isinstance(cases, dict):
            for case, children in cases.items():
                if isinstance(children, list):
                    for index, child in enumerate(children):
                        if isinstance(child, dict):
                            yield from _task_and_children(child, (*path, "cases", case, index))


def _task_and_children(task: dict[str, Any], path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    if "task" in task and isinstance(task["task"], dict) and "dependsOn" in task:  # a Dag entry
        yield from _task_and_children(task["task"], (*path, "task"))
        return
    yield path, task
    yield from iter_tasks(task, path)


def _duplicate_ids(parsed: ParsedFlow) -> Iterator[Diagnostic]:
    seen: dict[str, Path] = {}
    for path, task in iter_tasks(parsed.data):
        task_id = task.get("id")
        if not isinstance(task_id, str):
            continue
        if task_id in seen:
            pos = parsed.position((*path, "id"))
            first = parsed.position((*seen[task_id], "id"))
            yield Diagnostic(
                Severity.ERROR,
                "duplicate-id",
                f"Task id '{task_id}' is used twice (first on line {first.line if first else '?'}); "
                f'Kestra refuses it: "Duplicate task id with name [{task_id}]".',
                line=pos.line if pos else None,
                column=pos.column if pos else None,
                path=format_path((*path, "id")),
                hint="Task ids must be unique across the whole flow, nested tasks included; rename one.",
            )
        else:
            seen[task_id] = path


def check_rules(parsed: ParsedFlow, version: int) -> list[Diagnostic]:
    out = list(_duplicate_ids(parsed))
    out.extend(lint_secrets(parsed))
    return out
