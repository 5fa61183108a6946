"""Checks Kestra's server applies beyond its JSON schema, run in one pass over the parsed flow.

Each rule has a stable code and the severity Kestra gives it (an error where Kestra refuses the flow, a
warning where it only warns). Rules are gated on the target Kestra major version. The sources (Kestra's
FlowValidator and friends) are summarised rule by rule in the project's research notes; the letters in
the comments (B1, C3 …) refer to them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._diagnostics import Diagnostic, Severity
from ._lint import lint_secrets
from ._parse import ParsedFlow, Path

__all__ = ["FlowIndex", "check_rules", "iter_tasks"]

# Keys under which a flowable task keeps its children, as lists of tasks.
_CHILD_LISTS = ("tasks", "then", "else", "errors", "finally", "afterExecution", "defaults")
PEBBLE = re.compile(r"\{\{|\{%")


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
    if isinstance(task.get("task"), dict) and "type" not in task:  # a Dag entry: {task, dependsOn}
        yield from _task_and_children(task["task"], (*path, "task"))
        return
    yield path, task
    yield from iter_tasks(task, path)


def _items(data: Any, key: str) -> list[tuple[Path, dict[str, Any]]]:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, list):
        return []
    return [((key, i), item) for i, item in enumerate(value) if isinstance(item, dict)]


def type_is(node: dict[str, Any], *suffixes: str) -> bool:
    """`type` ends with one of `suffixes` (so old aliases such as io.kestra.core.tasks.flows.X match too)."""
    value = node.get("type")
    return isinstance(value, str) and any(value.endswith("." + s) for s in suffixes)


def literal(value: Any) -> bool:
    """A value Kestra can judge at save time: not a Pebble expression."""
    return not (isinstance(value, str) and PEBBLE.search(value))


@dataclass
class FlowIndex:
    """What the rules need, collected in one walk over the flow."""

    parsed: ParsedFlow
    version: int
    tasks: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    triggers: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    inputs: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    outputs: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        return self.parsed.data

    def report(
        self, code: str, path: Path, message: str, hint: str | None = None, severity: Severity = Severity.ERROR
    ) -> None:
        self.diagnostics.append(self.parsed.diagnostic(severity, code, path, message, hint))


def index_flow(parsed: ParsedFlow, version: int) -> FlowIndex:
    return FlowIndex(
        parsed,
        version,
        tasks=list(iter_tasks(parsed.data)),
        triggers=_items(parsed.data, "triggers"),
        inputs=_items(parsed.data, "inputs"),
        outputs=_items(parsed.data, "outputs"),
    )


def check_rules(parsed: ParsedFlow, version: int) -> list[Diagnostic]:
    from ._rules_flow import FLOW_RULES
    from ._rules_inputs import INPUT_RULES
    from ._rules_tasks import TASK_RULES
    from ._rules_triggers import TRIGGER_RULES

    index = index_flow(parsed, version)
    for rule in (*FLOW_RULES, *INPUT_RULES, *TASK_RULES, *TRIGGER_RULES):
        rule(index)
    index.diagnostics.extend(lint_secrets(parsed))
    return index.diagnostics
