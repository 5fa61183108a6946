"""Flow-level rules: ids, inputs, outputs, labels, references (Kestra's FlowValidator, B1–B13, E1–E4)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from ._parse import Path
from ._rules import FlowIndex, literal, type_is
from ._types import YamlMap, YamlValue
from ._values import as_dict

__all__ = ["FLOW_RULES"]

RESERVED_FLOW_IDS = {"pause", "resume", "force-run", "change-status", "kill", "executions", "search", "source",
                     "disable", "enable"}  # fmt: skip


_SCOPE = {"Task": " across the whole flow, nested tasks included"}


def _duplicates(index: FlowIndex, items: list[tuple[Path, YamlMap]], code: str, what: str, kestra: str) -> None:
    seen: dict[str, Path] = {}
    for path, item in items:
        ident = item.get("id")
        if not isinstance(ident, str):
            continue
        if ident in seen:
            first = index.parsed.position((*seen[ident], "id"))
            index.report(
                code,
                (*path, "id"),
                f"{what} id '{ident}' is used twice (first on line {first.line if first else '?'}); "
                f'Kestra refuses it: "{kestra} [{ident}]".',
                f"{what} ids must be unique{_SCOPE.get(what, '')}; rename one.",
            )
        else:
            seen[ident] = path


def duplicate_ids(index: FlowIndex) -> None:  # B1, B3
    _duplicates(index, index.tasks, "duplicate-id", "Task", "Duplicate task id with name")
    _duplicates(index, index.triggers, "duplicate-trigger-id", "Trigger", "Duplicate trigger id with name")
    _duplicates(index, index.inputs, "duplicate-input", "Input", "Duplicate input with name")
    _duplicates(index, index.outputs, "duplicate-output", "Output", "Duplicate output with name")


def recursive_subflow(index: FlowIndex) -> None:  # B2
    flow_id, namespace = index.data.get("id"), index.data.get("namespace")
    for path, task in index.tasks:
        if (
            type_is(task, "Subflow", "ForEachItem")
            and task.get("flowId") == flow_id
            and task.get("namespace") == namespace
        ):
            index.report(
                "recursive-subflow",
                path,
                f"Task '{task.get('id')}' calls its own flow; Kestra refuses it: "
                f'"Recursive call to flow [{namespace}.{flow_id}]".',
                "Call another flow, or loop inside this one (ForEach/LoopUntil).",
            )


def input_dependencies(index: FlowIndex) -> None:  # B4
    ids = {item.get("id") for _, item in index.inputs}
    graph: dict[str, list[str]] = {}
    for path, item in index.inputs:
        depends = item.get("dependsOn")
        wanted = depends.get("inputs") if isinstance(depends, dict) else None
        if not isinstance(wanted, list):
            continue
        graph[str(item.get("id"))] = [str(w) for w in wanted]
        for position, other in enumerate(wanted):
            if other not in ids:
                index.report(
                    "input-unknown-dependency",
                    (*path, "dependsOn", "inputs", position),
                    f"Input '{item.get('id')}' depends on a non-existent input '{other}'.",
                    f"Declare an input '{other}', or fix the name.",
                )
    reported: set[frozenset[str]] = set()
    for start in graph:
        cycle = _find_cycle(graph, start)
        if cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            path = next(p for p, item in index.inputs if item.get("id") == start)
            index.report(
                "input-dependency-cycle",
                (*path, "dependsOn"),
                f"Cycle dependency detected for input with id '{start}': [{', '.join(cycle)}].",
                "Inputs cannot depend on each other in a circle; remove one dependency.",
            )


def _find_cycle(graph: dict[str, list[str]], start: str) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        node, trail = stack.pop()
        for nxt in graph.get(node, []):
            if nxt == start:
                return trail
            if nxt not in trail:
                stack.append((nxt, [*trail, nxt]))
    return None


def _labels(value: YamlValue) -> list[tuple[YamlValue, YamlValue, Path]]:
    if isinstance(value, dict):
        return [(k, v, (k,)) for k, v in value.items()]
    if isinstance(value, list):
        return [(item.get("key"), item.get("value"), (i,)) for i, item in enumerate(value) if isinstance(item, dict)]
    return []


def _is_label_key(key: str) -> bool:
    """Kestra's flow schema (1.3+) and its label validation (late 1.x): a lower-case identifier,
    `^[\\p{Ll}][\\p{L}0-9._-]*$` (`str.isalpha` is `\\p{L}`)."""
    return bool(key) and unicodedata.category(key[0]) == "Ll" and all(_label_char(c) for c in key[1:])


def _label_char(char: str) -> bool:
    return char.isalpha() or char in "0123456789._-"


def _label_key(key: str) -> str:
    pieces: list[str] = []
    for char in key.strip():  # each run of other characters becomes one `_`
        if _label_char(char):
            pieces.append(char)
        elif not pieces or pieces[-1] != "\0":
            pieces.append("\0")
    cleaned = "".join(pieces).replace("\0", "_").strip("_.-") or "label"
    cleaned = cleaned[0].lower() + cleaned[1:]
    return cleaned if _is_label_key(cleaned) else "label_" + cleaned.lower()


def system_labels(index: FlowIndex) -> None:  # B5, D5
    for key, value, rel in _labels(index.data.get("labels")):
        if isinstance(key, str) and key.startswith("system.") and key != "system.readOnly":
            index.report(
                "system-label",
                ("labels", *rel),
                f"System labels can only be set by Kestra itself, offending label: {key}={value}.",
                "Rename the label without the `system.` prefix.",
            )
        elif value in ("", None) and key is not None:
            index.report("empty-label", ("labels", *rel), f"Label '{key}' has an empty value; Kestra refuses it.")
        # list-form keys carry the pattern in the schema itself (reported as invalid-id)
        if isinstance(key, str) and isinstance(index.data.get("labels"), dict) and not _is_label_key(key):
            index.report(
                "invalid-label-key",
                ("labels", *rel),
                f"Label key '{key}' is invalid: it must start with a lower-case letter and use only letters, "
                "digits, `.`, `_` and `-`.",
                f"For example `{_label_key(key)}`.",
            )
    carriers = [(p, t) for p, t in index.tasks if type_is(t, "Subflow", "ForEachItem")] + index.triggers
    for path, node in carriers:
        for key, value, rel in _labels(node.get("labels")):
            if isinstance(key, str) and key.startswith("system."):
                index.report(
                    "system-label",
                    (*path, "labels", *rel),
                    f"System labels can only be set by Kestra itself, offending label: {key}={value}.",
                    "Labels set by triggers and subflow calls cannot use the `system.` prefix.",
                )


def dashed_references(index: FlowIndex) -> None:  # B6
    dashed_inputs = [str(i.get("id")) for _, i in index.inputs if "-" in str(i.get("id", ""))]
    dashed_tasks = [str(t.get("id")) for _, t in index.tasks if "-" in str(t.get("id", ""))]
    if not dashed_inputs and not dashed_tasks:
        return
    checks = [
        ("inputs", name, re.compile(r"\{\{[^}]*\binputs\." + re.escape(name) + r"(?![\w-])"), "input")
        for name in dashed_inputs
    ] + [
        ("outputs", name, re.compile(r"\{\{[^}]*\boutputs\." + re.escape(name) + r"(?![\w-])"), "output")
        for name in dashed_tasks
    ]
    for root in ("tasks", "errors", "finally", "afterExecution", "outputs", "triggers"):
        for path, text in _strings(index.data.get(root), (root,)):
            for kind, name, pattern, what in checks:
                if pattern.search(text):
                    index.report(
                        f"invalid-{what}-reference",
                        path,
                        f"Invalid {what} reference: use {kind}['{name}'] instead of {kind}.{name}; "
                        f"Pebble reads `{kind}.{name}` as a subtraction.",
                        f"Write {{{{ {kind}['{name}'] }}}}, or rename '{name}' with `_` instead of `-`.",
                    )


def _strings(node: YamlValue, path: Path) -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = []
    stack: list[tuple[Path, YamlValue]] = [(path, node)]
    while stack:
        here, value = stack.pop()
        if isinstance(value, str):
            out.append((here, value))
        elif isinstance(value, dict):
            stack.extend(((*here, k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*here, i), v) for i, v in enumerate(value))
    return out


def reserved_flow_id(index: FlowIndex) -> None:  # B7, Kestra 1.x only
    flow_id = index.data.get("id")
    if index.version == 1 and flow_id in RESERVED_FLOW_IDS:
        index.report(
            "reserved-flow-id",
            ("id",),
            f"Flow id is a reserved keyword: {flow_id}.",
            "Kestra 1.x keeps these ids for its API routes; pick another id (Kestra 2.x allows it).",
        )


_FORBIDDEN_ITEM_TYPES = {1: {"ARRAY"}, 2: {"ARRAY", "SECRET", "MULTISELECT", "SELECT", "OBJECT", "TABLE"}}


def input_definitions(index: FlowIndex) -> None:  # E1–E4
    for path, item in index.inputs:
        name = item.get("id")
        kind = item.get("type")
        validator = item.get("validator")
        if kind in ("STRING", "SECRET") and isinstance(validator, str):
            import regex  # Java's regex syntax, which `re` lacks

            try:
                regex.compile(validator)
            except regex.error as exc:
                index.report(
                    "invalid-validator",
                    (*path, "validator"),
                    f"Input '{name}': invalid pattern [{validator}] ({exc}).",
                    "Fix the regular expression.",
                )
        item_type = item.get("itemType")
        if kind in ("ARRAY", "MULTISELECT") and item_type in _FORBIDDEN_ITEM_TYPES[index.version]:
            index.report(
                "invalid-item-type",
                (*path, "itemType"),
                f"Input '{name}': `itemType` cannot be {item_type}.",
                "Use a scalar item type such as STRING, INT or JSON.",
            )
        if "defaults" in item and item.get("required") is False:
            index.report(
                "default-not-required",
                (*path, "required"),
                f"Input '{name}' has a default value but `required: false`; Kestra refuses it: "
                '"Inputs with a default value must be required".',
                "Remove `required: false`: an input with a default is always filled.",
            )
        if "defaults" in item and "prefill" in item:
            index.report(
                "default-and-prefill",
                (*path, "prefill"),
                f"Input '{name}' has both `defaults` and `prefill`; Kestra refuses it.",
                "Keep one: `defaults` fills the value, `prefill` only suggests it in the UI.",
            )
        defaults = item.get("defaults")
        if (
            kind == "FILE"
            and isinstance(defaults, str)
            and literal(defaults)
            and not defaults.startswith(("file://", "nsfile://"))
        ):
            index.report(
                "invalid-file-default",
                (*path, "defaults"),
                f"Input '{name}': a FILE default must be a `file://` or `nsfile://` URI.",
                "Point at a namespace file, e.g. nsfile:///data/sample.csv.",
            )


def trigger_inputs(index: FlowIndex) -> None:  # B11, Kestra 2.x
    if index.version < 2:
        return
    needed = [
        str(i.get("id"))
        for _, i in index.inputs
        if "defaults" not in i and i.get("required") is not False and isinstance(i.get("id"), str)
    ]
    if not needed:
        return
    for path, trigger in index.triggers:
        if not type_is(trigger, "Schedule", "Webhook"):
            continue
        given = as_dict(trigger.get("inputs"))
        missing = [n for n in needed if n not in given]
        if missing:
            kind = "Schedule" if type_is(trigger, "Schedule") else "Webhook"
            index.report(
                "trigger-missing-inputs",
                path,
                f"Missing inputs for {kind} Trigger '{trigger.get('id')}', missing inputs: '{' | '.join(missing)}'.",
                "Give the trigger `inputs:` values for them, or give the inputs `defaults` (Kestra 2.x rule).",
            )


FLOW_RULES: list[Callable[[FlowIndex], None]] = [
    duplicate_ids,
    recursive_subflow,
    input_dependencies,
    system_labels,
    dashed_references,
    reserved_flow_id,
    input_definitions,
    trigger_inputs,
]
