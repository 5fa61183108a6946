"""A flow's topology as a tree, like Kestra's topology view in text: inputs, triggers, tasks with their
nesting (Parallel, ForEach/Loop, If branches, Switch cases, WorkingDirectory, Subflow targets), and the
`errors`/`finally`/`afterExecution` branches."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._types import YamlValue
from ._values import as_list

__all__ = ["TopologyNode", "flow_topology"]

# Keys of a task that hold other tasks, and how their branch is labelled.
_LIST_BRANCHES = (("tasks", None), ("then", "then"), ("else", "else"), ("defaults", "default"))
_FLOW_BRANCHES = (("errors", "errors"), ("finally", "finally"), ("afterExecution", "after execution"))


@dataclass
class TopologyNode:
    label: str
    kind: str  # flow | section | input | trigger | task | branch
    children: list[TopologyNode] = field(default_factory=list)

    def lines(self, depth: int = 0) -> list[str]:
        out = ["  " * depth + self.label]
        for child in self.children:
            out.extend(child.lines(depth + 1))
        return out


def _short(type_name: YamlValue) -> str:
    return str(type_name).rsplit(".", 1)[-1] if type_name else "?"


def _task(task: YamlValue) -> TopologyNode:
    if not isinstance(task, dict):
        return TopologyNode("(not a task)", "task")
    label = f"{task.get('id', '?')} ({_short(task.get('type'))})"
    if task.get("namespace") and task.get("flowId"):
        label += f" → {task['namespace']}.{task['flowId']}"
    node = TopologyNode(label, "task")
    for key, branch in _LIST_BRANCHES:
        children = [_task(t) for t in as_list(task.get(key))]
        if children and branch:
            node.children.append(TopologyNode(branch, "branch", children))
        else:
            node.children.extend(children)
    cases = task.get("cases")
    if isinstance(cases, dict):
        for case, tasks in cases.items():
            node.children.append(TopologyNode(f"case {case}", "branch", [_task(t) for t in as_list(tasks)]))
    for key, branch in _FLOW_BRANCHES[:2]:
        if branch_tasks := as_list(task.get(key)):
            node.children.append(TopologyNode(branch, "branch", [_task(t) for t in branch_tasks]))
    return node


def flow_topology(data: YamlValue) -> TopologyNode:
    """The tree of a parsed flow (a dict); anything malformed is shown, never raised."""
    if not isinstance(data, dict):
        return TopologyNode("(not a flow)", "flow")
    root = TopologyNode(f"{data.get('namespace', '?')}.{data.get('id', '?')}", "flow")
    inputs = [i for i in as_list(data.get("inputs")) if isinstance(i, dict)]
    if inputs:
        root.children.append(
            TopologyNode(
                "inputs",
                "section",
                [
                    TopologyNode(
                        f"{i.get('id', i.get('name', '?'))}: {i.get('type', '?')}"
                        + (f" = {i['defaults']!r}" if "defaults" in i else ""),
                        "input",
                    )
                    for i in inputs
                ],
            )
        )
    triggers = as_list(data.get("triggers"))
    if triggers:
        root.children.append(
            TopologyNode(
                "triggers",
                "section",
                [
                    TopologyNode(f"{t.get('id', '?')} ({_short(t.get('type'))})", "trigger")
                    for t in triggers
                    if isinstance(t, dict)
                ],
            )
        )
    tasks = as_list(data.get("tasks"))
    root.children.append(TopologyNode("tasks", "section", [_task(t) for t in tasks]))
    for key, branch in _FLOW_BRANCHES:
        if section := as_list(data.get(key)):
            root.children.append(TopologyNode(branch, "section", [_task(t) for t in section]))
    return root
