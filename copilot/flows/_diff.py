"""Compare two revisions of a flow: a unified text diff and a summary of what changed, by meaning.

Tasks are matched by id across the whole task tree (`tasks`, `then`, `else`, `cases.*`, `errors`, `finally`,
Dag `tasks[].task` …: `iter_tasks`, each task with an `id` and a plugin `type`), so a task wrapped into a
Parallel is reported as moved, not removed and added. Triggers, inputs and outputs are matched by id,
variables and labels by key, plugin defaults by type; every other top-level key is a `flow` change.
"""

from __future__ import annotations

import difflib
import enum
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ._errors import FlowSyntaxError
from ._parse import Path, format_path, parse_flow
from ._tasks import iter_tasks
from ._types import YamlMap, YamlValue

__all__ = ["Change", "DiffSummary", "FlowDiff", "diff_flows"]

MAX_SHOWN_VALUE = 60  # longer values are reported as "changed"

_SYMBOLS = {"added": "+", "removed": "-", "changed": "~", "moved": ">"}
# Top-level keys compared item by item: key → (section, how an item is identified).
_KEYED_SECTIONS = {
    "triggers": ("trigger", "id"),
    "inputs": ("input", "id"),
    "outputs": ("output", "id"),
    "pluginDefaults": ("pluginDefault", "type"),
    "taskDefaults": ("pluginDefault", "type"),
}
_SECTION_ORDER = ("flow", "task", "trigger", "input", "output", "variable", "label", "pluginDefault")
_BARE = re.compile(r"^[A-Za-z_][\w.\-/]*$")


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. `path` is where the item is now (where it was, when removed)."""

    kind: str  # added | removed | changed | moved
    section: str  # flow | task | trigger | input | output | variable | label | pluginDefault
    id: str
    path: str = ""
    old_path: str = ""  # moved tasks: where it was
    type: str | None = None
    details: tuple[str, ...] = ()

    def line(self) -> str:
        symbol = _SYMBOLS.get(self.kind, "?")
        if self.section == "flow":
            return f"{symbol} flow: {'; '.join(self.details)}"
        text = f"{symbol} {self.section} {self.id}"
        if self.kind == "moved":
            text += f" moved {self.old_path} → {self.path}"
            return f"{text}; {'; '.join(self.details)}" if self.details else text
        if self.kind in ("added", "removed"):
            text += f" ({self.type})" if self.type else ""
            return f"{text} at {self.path}" if self.section == "task" and self.path else text
        return f"{text}: {'; '.join(self.details)}" if self.details else text

    def to_dict(self) -> YamlMap:
        return {
            "kind": self.kind,
            "section": self.section,
            "id": self.id,
            "path": self.path,
            "old_path": self.old_path,
            "type": self.type,
            "details": list(self.details),
        }


@dataclass(frozen=True, slots=True)
class DiffSummary:
    """The changes, ordered flow, tasks, triggers, inputs, outputs, variables, labels, plugin defaults."""

    changes: tuple[Change, ...] = ()
    note: str | None = None  # why there is no summary (a side that is not a flow)

    def of_kind(self, kind: str) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.kind == kind)

    @property
    def added(self) -> tuple[Change, ...]:
        return self.of_kind("added")

    @property
    def removed(self) -> tuple[Change, ...]:
        return self.of_kind("removed")

    @property
    def changed(self) -> tuple[Change, ...]:
        return self.of_kind("changed")

    @property
    def moved(self) -> tuple[Change, ...]:
        return self.of_kind("moved")

    def lines(self) -> list[str]:
        lines = [change.line() for change in self.changes]
        return [*lines, f"! {self.note}"] if self.note else lines

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def to_dict(self) -> YamlMap:
        return {"changes": [change.to_dict() for change in self.changes], "note": self.note}


@dataclass(frozen=True, slots=True)
class FlowDiff:
    """`unified` is empty and `changed` False when the texts are equal (line endings aside)."""

    unified: str
    summary: DiffSummary = field(default_factory=DiffSummary)
    changed: bool = False

    def to_dict(self) -> YamlMap:
        return {"changed": self.changed, "summary": self.summary.to_dict(), "unified": self.unified}


def diff_flows(old: str, new: str, *, old_label: str = "previous", new_label: str = "current") -> FlowDiff:
    """The unified diff of two flow texts (3 lines of context) and a summary of their differences."""
    old = old.replace("\r\n", "\n")
    new = new.replace("\r\n", "\n")
    unified = _unified(old, new, old_label, new_label)
    return FlowDiff(unified=unified, summary=_summarize(old, new, old_label, new_label), changed=old != new)


def same_flow(old: str, new: str) -> bool:
    """Whether two flow texts are the same flow: equal text (line endings and trailing blanks aside), or
    equal once parsed (only comments, quoting or layout differ)."""
    if old.replace("\r\n", "\n").rstrip() == new.replace("\r\n", "\n").rstrip():
        return True
    try:
        return parse_flow(old).data == parse_flow(new).data
    except (FlowSyntaxError, ValueError):
        return False


def _unified(old: str, new: str, old_label: str, new_label: str) -> str:
    out: list[str] = []
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label, n=3
    )
    for line in lines:
        out.append(line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n")
    return "".join(out)


def _summarize(old: str, new: str, old_label: str, new_label: str) -> DiffSummary:
    notes: list[str] = []
    flows: list[YamlMap] = []
    for label, text in ((old_label, old), (new_label, new)):
        try:
            flows.append(parse_flow(text).data)
        except FlowSyntaxError as exc:
            where = f" (line {exc.line})" if exc.line else ""
            notes.append(f"{label} could not be parsed as a flow{where}: {exc.message}")
        except ValueError as exc:  # e.g. an integer too long to convert
            notes.append(f"{label} could not be parsed as a flow: {exc}")
    if notes:
        return DiffSummary(note="; ".join(notes) + " — only the text diff is available.")
    before, after = flows
    changes = [*_flow_changes(before, after), *_task_changes(before, after)]
    for key, (section, ident) in _KEYED_SECTIONS.items():
        old_items, new_items = _keyed(before.get(key), ident), _keyed(after.get(key), ident)
        if old_items is not None and new_items is not None:
            changes.extend(_item_changes(section, key, old_items, new_items))
    for section, key, read in (("variable", "variables", _mapping), ("label", "labels", _labels)):
        changes.extend(_value_changes(section, key, read(before.get(key)), read(after.get(key))))
    changes.sort(key=lambda change: _SECTION_ORDER.index(change.section))  # stable within a section
    return DiffSummary(tuple(changes))


# --- the flow itself --------------------------------------------------------------------------------


def _flow_changes(before: YamlMap, after: YamlMap) -> Iterator[Change]:
    """Top-level keys not compared item by item, with the tasks below them left out."""

    def handled(key: str, value: YamlValue) -> bool:
        if key == "variables":
            return _mapping(value) is not None
        if key == "labels":
            return _labels(value) is not None
        return key in _KEYED_SECTIONS and _keyed(value, _KEYED_SECTIONS[key][1]) is not None

    details = _compare(_rest(before, handled), _rest(after, handled))
    if details:
        flow_id = after.get("id", before.get("id"))
        yield Change("changed", "flow", str(flow_id) if flow_id is not None else "", details=details)


def _rest(flow: YamlMap, handled: Callable[[str, YamlValue], bool]) -> YamlMap:
    nodes = {id(task.node) for task in _walk_tasks(flow)}
    return _own({key: value for key, value in flow.items() if not handled(key, value)}, nodes)


# --- tasks ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Task:
    id: str
    type: str
    path: Path
    node: YamlMap
    container: tuple[str, tuple[str, ...]]  # (parent task id or "", keys from the parent to the list)


def _walk_tasks(flow: YamlMap) -> list[_Task]:
    """Every task of the flow with an id and a plugin type, in document order (a repeated id appears twice)."""
    found: list[_Task] = []
    parents: list[tuple[Path, str]] = []  # the tasks enclosing the current one: path, id
    for path, node in iter_tasks(flow):
        ident, kind = node.get("id"), node.get("type")
        if not (isinstance(ident, str) and isinstance(kind, str) and "." in kind):
            continue
        while parents and path[: len(parents[-1][0])] != parents[-1][0]:
            parents.pop()
        parent_path, parent = parents[-1] if parents else ((), "")
        keys = tuple(p for p in path[len(parent_path) :] if isinstance(p, str))
        found.append(_Task(ident, kind, path, node, (parent, keys)))
        parents.append((path, ident))
    return found


def _by_id(tasks: list[_Task]) -> dict[str, _Task]:
    """Tasks by id, in document order; the first one wins when an id is repeated."""
    found: dict[str, _Task] = {}
    for task in tasks:
        found.setdefault(task.id, task)
    return found


def _task_changes(before: YamlMap, after: YamlMap) -> Iterator[Change]:
    old_walk, new_walk = _walk_tasks(before), _walk_tasks(after)
    old_nodes, new_nodes = {id(task.node) for task in old_walk}, {id(task.node) for task in new_walk}
    old_tasks, new_tasks = _by_id(old_walk), _by_id(new_walk)
    reordered = _reordered(old_tasks, new_tasks)
    for task_id, task in new_tasks.items():
        path = format_path(task.path)
        previous = old_tasks.get(task_id)
        if previous is None:
            yield Change("added", "task", task_id, path, type=task.type)
            continue
        details = _compare(_own(previous.node, old_nodes), _own(task.node, new_nodes), skip=("id",))
        if previous.container != task.container or task_id in reordered:
            yield Change("moved", "task", task_id, path, format_path(previous.path), details=details)
        elif details:
            yield Change("changed", "task", task_id, path, details=details)
    for task_id, task in old_tasks.items():
        if task_id not in new_tasks:
            yield Change("removed", "task", task_id, format_path(task.path), type=task.type)


def _reordered(old_tasks: dict[str, _Task], new_tasks: dict[str, _Task]) -> set[str]:
    """Tasks that stayed in the same list but changed place relative to their siblings."""
    stayed = [i for i in new_tasks if i in old_tasks and old_tasks[i].container == new_tasks[i].container]
    moved: set[str] = set()
    for container in {new_tasks[i].container for i in stayed}:
        in_new = [i for i in stayed if new_tasks[i].container == container]
        in_old = sorted(in_new, key=list(old_tasks).index)
        matcher = difflib.SequenceMatcher(None, in_old, in_new, autojunk=False)
        kept = {i for block in matcher.get_matching_blocks() for i in in_new[block.b : block.b + block.size]}
        moved.update(i for i in in_new if i not in kept)
    return moved


class _Child(enum.Enum):
    CHILD = "a child task, compared on its own"


_CHILD = _Child.CHILD


def _own(node: YamlMap, task_nodes: set[int]) -> YamlMap:
    """The keys of a task (or of the flow) without the child tasks below it."""
    stripped = {key: _strip(value, task_nodes) for key, value in node.items()}
    return {key: value for key, value in stripped.items() if not isinstance(value, _Child)}


def _strip(value: YamlValue, task_nodes: set[int]) -> YamlValue | _Child:
    """`value` without the child tasks inside it (a list of only child tasks disappears with them)."""
    if isinstance(value, dict):
        if id(value) in task_nodes:
            return _CHILD
        return _own(value, task_nodes)
    if isinstance(value, list):
        items = [_strip(child, task_nodes) for child in value]
        kept = [item for item in items if not isinstance(item, _Child)]
        return _CHILD if items and not kept else kept
    return value


# --- triggers, inputs, outputs, variables, labels, plugin defaults ---------------------------------------


_Map = YamlMap
_Items = dict[str, tuple[int, _Map]]  # id → (index in the list, item)


def _keyed(value: YamlValue, ident: str) -> _Items | None:
    """A list of mappings by their `ident` (`id`, or `type` for plugin defaults); None if not such a list."""
    if value is None:
        return {}
    if not isinstance(value, list):
        return None
    items: _Items = {}
    for index, item in enumerate(value):
        key = item.get(ident, item.get("name")) if isinstance(item, dict) else None
        if not isinstance(key, str) or not isinstance(item, dict):
            return None
        items.setdefault(key, (index, item))
    return items


def _item_changes(section: str, key: str, before: _Items, after: _Items) -> Iterator[Change]:
    skip = ("type",) if section == "pluginDefault" else ("id",)
    for ident, (index, item) in after.items():
        path = format_path((key, index))
        kind = None if section == "pluginDefault" else item.get("type")
        if ident not in before:
            yield Change("added", section, ident, path, type=kind if isinstance(kind, str) else None)
        elif details := _compare(before[ident][1], item, skip=skip):
            yield Change("changed", section, ident, path, details=details)
    for ident, (index, item) in before.items():
        if ident not in after:
            kind = None if section == "pluginDefault" else item.get("type")
            path = format_path((key, index))
            yield Change("removed", section, ident, path, type=kind if isinstance(kind, str) else None)


def _mapping(value: YamlValue) -> YamlMap | None:
    if value is None:
        return {}
    return value if isinstance(value, dict) else None


def _labels(value: YamlValue) -> YamlMap | None:
    """Labels as a mapping, whether written as a map or as a list of `{key, value}`."""
    if not isinstance(value, list):
        return _mapping(value)
    labels: YamlMap = {}
    for item in value:
        key = item.get("key") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(key, str):
            return None
        labels.setdefault(key, item.get("value"))
    return labels


def _value_changes(section: str, prefix: str, before: _Map | None, after: _Map | None) -> Iterator[Change]:
    if before is None or after is None:
        return  # not a mapping: reported as a flow change
    for key, value in after.items():
        if key not in before:
            yield Change("added", section, key, f"{prefix}.{key}")
        elif not _same(before[key], value):
            details = (_transition(before[key], value),)
            yield Change("changed", section, key, f"{prefix}.{key}", details=details)
    for key in before:
        if key not in after:
            yield Change("removed", section, key, f"{prefix}.{key}")


# --- values -----------------------------------------------------------------------------------------


def _compare(before: YamlMap, after: YamlMap, *, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """`key old → new`, `key changed`, `key added`, `key removed` for each key that differs."""
    details: list[str] = []
    for key, value in before.items():
        if key in skip:
            continue
        if key not in after:
            details.append(f"{key} removed")
        elif not _same(value, after[key]):
            details.append(f"{key} {_transition(value, after[key])}")
    details.extend(f"{key} added" for key in after if key not in before and key not in skip)
    return tuple(details)


def _same(a: YamlValue, b: YamlValue) -> bool:
    return _canonical(a) == _canonical(b)


def _canonical(value: YamlValue) -> str:
    return json.dumps(value, sort_keys=True, default=str)  # NaN equals NaN; True differs from 1


def _transition(before: YamlValue, after: YamlValue) -> str:
    old, new = _shown(before), _shown(after)
    return f"{old} → {new}" if old is not None and new is not None else "changed"


def _shown(value: YamlValue) -> str | None:
    """A short scalar as it reads best (identifiers bare, other strings quoted); None if long or nested."""
    if isinstance(value, (dict, list)):
        return None
    if isinstance(value, str):
        if "\n" in value:
            return None
        bare = _BARE.match(value) and value.lower() not in ("true", "false", "null", "nan", "inf")
        text = value if bare else json.dumps(value, ensure_ascii=False)
    else:
        text = json.dumps(value)
    return text if len(text) <= MAX_SHOWN_VALUE else None
