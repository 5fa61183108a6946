"""The task tree of a flow, as Kestra reads it: the one walk every part of the project uses to find tasks."""

from __future__ import annotations

from collections.abc import Iterator

from ._parse import Path
from ._types import YamlMap, YamlValue

__all__ = ["FLOW_BLOCKS", "TASK_BLOCKS", "child_tasks", "iter_tasks"]

# Keys under which the flow keeps its tasks, and a flowable task its children, as lists of tasks (a Switch's
# `cases` map each case to such a list).
FLOW_BLOCKS = ("tasks", "errors", "finally", "afterExecution")
TASK_BLOCKS = ("tasks", "then", "else", "errors", "finally", "afterExecution", "defaults")


def iter_tasks(flow: YamlValue) -> Iterator[tuple[Path, YamlMap]]:
    """Every task in the flow's tree (tasks, errors, finally, afterExecution and all nested children), with its
    path, in document order. A task is any mapping where Kestra expects one, well formed or not; what is not
    in a task list (an input, a trigger, a task runner, a Pause's `onResume`) is never a task."""
    if isinstance(flow, dict):
        for path, task in _listed(flow, (), FLOW_BLOCKS, with_cases=False):
            yield from _subtree(task, path)


def child_tasks(task: YamlMap, path: Path = ()) -> Iterator[tuple[Path, YamlMap]]:
    """The tasks directly below `task` (its blocks, a Switch's cases, a Dag's entries), `path` being its own."""
    return _listed(task, path, TASK_BLOCKS, with_cases=True)


def _subtree(task: YamlMap, path: Path) -> Iterator[tuple[Path, YamlMap]]:
    yield path, task
    for child_path, child in child_tasks(task, path):
        yield from _subtree(child, child_path)


def _listed(node: YamlMap, path: Path, keys: tuple[str, ...], *, with_cases: bool) -> Iterator[tuple[Path, YamlMap]]:
    """The mappings in `node`'s task lists, in document order."""
    for key, value in node.items():
        if key in keys:
            blocks: list[tuple[Path, YamlValue]] = [((*path, key), value)]
        elif key == "cases" and with_cases and isinstance(value, dict):
            blocks = [((*path, key, case), children) for case, children in value.items()]
        else:
            continue
        for where, children in blocks:
            if isinstance(children, list):
                for index, child in enumerate(children):
                    if isinstance(child, dict):
                        yield _unwrapped(child, (*where, index))


def _unwrapped(task: YamlMap, path: Path) -> tuple[Path, YamlMap]:
    """A Dag entry (`{task, dependsOn}`, no `type`) stands for its task."""
    inner = task.get("task")
    while isinstance(inner, dict) and "type" not in task:
        task, path = inner, (*path, "task")
        inner = task.get("task")
    return path, task
