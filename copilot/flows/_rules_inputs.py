"""Kestra 2.x input rules: literal values must fit their input's type (B12), and FORM inputs (B13).

2.x parses a non-Pebble `defaults`, each value a Schedule or Webhook trigger supplies, and a static flow
output `value` as the declared type at save time, with the input's own checks (SELECT `values`, INT
`min`/`max`, STRING `validator` …). Values holding Pebble are only known at run time and are skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable

from ._parse import Path
from ._rules import FlowIndex, literal, type_is
from ._rules_tasks import parse_duration
from ._types import YamlList, YamlMap, YamlValue

__all__ = ["INPUT_RULES", "value_problem"]


def _number(value: YamlValue, integer: bool) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, float) and not integer and math.isfinite(value)):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip()) if integer else float(value.strip())
        except ValueError:
            return None
    return None


def _bounds(number: float, definition: YamlMap) -> str | None:
    low, high = definition.get("min"), definition.get("max")
    if isinstance(low, (int, float)) and not isinstance(low, bool) and number < low:
        return f"it is less than the minimum {low}"
    if isinstance(high, (int, float)) and not isinstance(high, bool) and number > high:
        return f"it is greater than the maximum {high}"
    return None


def _parses(parser: Callable[[str], object], value: YamlValue) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parser(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _choices(definition: YamlMap) -> list[str] | None:
    values = definition.get("values", definition.get("options"))
    if isinstance(values, list) and all(literal(v) for v in values):
        return [str(v) for v in values]
    return None


def value_problem(kind: str, value: YamlValue, definition: YamlMap) -> str | None:
    """Why `value` is not a valid literal for an input (or output) of type `kind`, or None."""
    if kind in ("INT", "FLOAT"):
        number = _number(value, integer=kind == "INT")
        if number is None:
            return f"{value!r} is not {'an integer' if kind == 'INT' else 'a number'}"
        return _bounds(number, definition)
    if kind in ("BOOL", "BOOLEAN"):
        ok = isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))
        return None if ok else f"{value!r} is not true or false"
    if kind == "DATETIME" and not _parses(dt.datetime.fromisoformat, value):
        return f"{value!r} is not an ISO-8601 date-time such as 2025-01-31T09:00:00Z"
    if kind == "DATE" and not _parses(dt.date.fromisoformat, value):
        return f"{value!r} is not a date such as 2025-01-31"
    if kind == "TIME" and not _parses(dt.time.fromisoformat, value):
        return f"{value!r} is not a time such as 09:30:00"
    if kind == "DURATION" and parse_duration(value) is None:
        return f"{value!r} is not an ISO-8601 duration such as PT15M"
    if kind == "JSON" and isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return f"{value!r} is not valid JSON"
    if kind in ("STRING", "SECRET") and isinstance(value, str):
        pattern = definition.get("validator")
        if isinstance(pattern, str):
            import regex  # Java's regex syntax, which `re` lacks; loaded for a flow whose input has a validator

            try:
                if not regex.fullmatch(pattern, value):
                    return f"{value!r} does not match the validator {pattern!r}"
            except regex.error:
                return None  # reported by the validator rule
    if kind == "SELECT" and not definition.get("allowCustomValue"):
        choices = _choices(definition)
        if choices is not None and str(value) not in choices:
            return f"{value!r} is not one of {', '.join(choices)}"
    if kind == "MULTISELECT" and not definition.get("allowCustomValue"):
        choices = _choices(definition)
        items = value if isinstance(value, list) else None
        if items is None:
            return f"{value!r} is not a list"
        wrong = [str(v) for v in items if literal(v) and choices is not None and str(v) not in choices]
        if wrong:
            return f"{', '.join(repr(w) for w in wrong)} not among {', '.join(choices or [])}"
    if kind == "ARRAY":
        if not isinstance(value, list):
            return f"{value!r} is not a list"
        item_type = definition.get("itemType")
        for item in value:
            problem = value_problem(item_type, item, {}) if isinstance(item_type, str) and literal(item) else None
            if problem:
                return problem
    return None


def _check(index: FlowIndex, path: Path, kind: YamlValue, value: YamlValue, definition: YamlMap, what: str) -> None:
    if not isinstance(kind, str) or not literal(value) or value is None:
        return
    if isinstance(value, (list, dict)) and any(not literal(v) for v in _leaves(value)):
        return
    problem = value_problem(kind, value, definition)
    if problem:
        index.report("invalid-literal-value", path, f"{what}: {problem}.", "Fix the value, or compute it with Pebble.")


def _leaves(value: YamlValue) -> YamlList:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def literal_values(index: FlowIndex) -> None:  # B12
    if index.version < 2:
        return
    inputs = {str(i.get("id")): i for _, i in index.inputs if isinstance(i.get("id"), str)}
    for path, item in index.inputs:
        if "defaults" in item:
            what = f"Invalid default for input '{item.get('id')}'"
            _check(index, (*path, "defaults"), item.get("type"), item.get("defaults"), item, what)
    for path, trigger in index.triggers:
        given = trigger.get("inputs")
        if not type_is(trigger, "Schedule", "Webhook") or not isinstance(given, dict):
            continue
        kind = "Schedule" if type_is(trigger, "Schedule") else "Webhook"
        for name, value in given.items():
            definition = inputs.get(str(name))
            if definition is not None:
                what = f"Invalid value for input '{name}' supplied by {kind} Trigger '{trigger.get('id')}'"
                _check(index, (*path, "inputs", name), definition.get("type"), value, definition, what)
    for path, output in index.outputs:
        if "value" in output:
            what = f"Invalid value for output '{output.get('id')}'"
            _check(index, (*path, "value"), output.get("type"), output.get("value"), {}, what)


def forms(index: FlowIndex) -> None:  # B13
    if index.version < 2:
        return
    paths: dict[str, Path] = {}

    def add(name: str, path: Path) -> None:
        if name in paths:
            index.report("invalid-form-input", path, f"Duplicate input path [{name}].", "Give each input its own id.")
        paths.setdefault(name, path)

    for path, item in index.inputs:
        name = item.get("id")
        if not isinstance(name, str):
            continue
        add(name, path)
        if item.get("type") != "FORM":
            continue
        if "defaults" in item:
            index.report(
                "invalid-form-input",
                (*path, "defaults"),
                f"FORM input '{name}' cannot have `defaults`.",
                "Set defaults on the inputs inside the form.",
            )
        children = item.get("inputs")
        for position, child in enumerate(children if isinstance(children, list) else []):
            if not isinstance(child, dict) or not isinstance(child.get("id"), str):
                continue
            child_path: Path = (*path, "inputs", position)
            if child.get("type") == "FORM":
                index.report(
                    "invalid-form-input",
                    (*child_path, "type"),
                    f"FORM input '{name}.{child['id']}' is nested in another FORM; forms cannot be nested.",
                    "Flatten the inner form's inputs into the outer one.",
                )
            add(f"{name}.{child['id']}", child_path)
    names = sorted(paths)
    for name in names:
        for other in names:
            if other.startswith(name + ".") and paths[other][:2] != paths[name][:2]:
                index.report(
                    "invalid-form-input",
                    paths[other],
                    f"Input path '{name}' conflicts with '{other}'.",
                    "Rename one of the inputs.",
                )


INPUT_RULES: list[Callable[[FlowIndex], None]] = [literal_values, forms]
