"""Text-level mutations of real flows, each with the line where a validator must report it.

Every mutation edits the YAML *text* (as a model's mistake would), never re-dumps it, so line numbers are
those a user would see.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from copilot.flows import FlowSchema, ParsedFlow, iter_tasks, parse_flow
from copilot.flows._defaults import defaulted_keys


@dataclass(frozen=True)
class Mutation:
    name: str
    text: str
    line: int  # where the error must be reported
    codes: tuple[str, ...]  # any of these codes counts


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """Index after the last line that belongs to the key starting at `start` (indent = its column)."""
    end = start + 1
    while end < len(lines):
        stripped = lines[end].strip()
        line_indent = len(lines[end]) - len(lines[end].lstrip())
        # a block sequence may sit at its key's own indent (`tasks:` then `- id: …` in the same column)
        same_column_item = line_indent == indent and stripped.startswith("- ")
        if stripped and not stripped.startswith("#") and line_indent <= indent and not same_column_item:
            break
        end += 1
    return end


def _known_tasks(parsed: ParsedFlow, schema: FlowSchema) -> list[tuple[tuple, dict]]:
    return [
        (p, t) for p, t in iter_tasks(parsed.data) if isinstance(t.get("type"), str) and t["type"] in schema.type_index
    ]


def _task_properties(schema: FlowSchema, type_name: str) -> tuple[dict, set[str]]:
    definition = {"$ref": f"#/definitions/{schema.type_index[type_name]}"}
    props: dict = {}
    required: set[str] = set()
    for member in schema.flatten(definition):
        props.update(member.get("properties", {}))
        required.update(member.get("required", []))
    return props, required


def drop_required(text: str, parsed: ParsedFlow, schema: FlowSchema, rng: random.Random) -> Mutation | None:
    lines = text.split("\n")
    candidates = []
    for path, task in _known_tasks(parsed, schema):
        _, required = _task_properties(schema, task["type"])
        supplied = defaulted_keys(parsed.data, task["type"], schema)  # by pluginDefaults: not missing
        for key in sorted(required - {"id", "type"} - supplied):
            if key in task:
                candidates.append((path, key))
    if not candidates:
        return None
    path, key = rng.choice(candidates)
    pos = parsed.key_positions.get((*path, key))
    task_pos = parsed.position(path)
    if pos is None or task_pos is None or pos.line == task_pos.line:
        return None
    start = pos.line - 1
    del lines[start : _block_end(lines, start, pos.column - 1)]
    return Mutation("drop a required property", "\n".join(lines), task_pos.line, ("missing-property",))


def misspell_type(text: str, parsed: ParsedFlow, schema: FlowSchema, rng: random.Random) -> Mutation | None:
    tasks = _known_tasks(parsed, schema)
    if not tasks:
        return None
    path, task = rng.choice(tasks)
    pos = parsed.value_positions.get((*path, "type"))
    if pos is None:
        return None
    lines = text.split("\n")
    line = lines[pos.line - 1]
    type_name = task["type"]
    if type_name not in line:
        return None
    head, _, tail = type_name.rpartition(".")
    i = rng.randrange(1, len(tail))
    misspelled = f"{head}.{tail[:i]}{tail[i + 1 :]}" if len(tail) > 3 else f"{head}.{tail}x"
    lines[pos.line - 1] = line.replace(type_name, misspelled, 1)
    return Mutation("misspell the task type", "\n".join(lines), pos.line, ("unknown-type",))


def add_invented_property(text: str, parsed: ParsedFlow, schema: FlowSchema, rng: random.Random) -> Mutation | None:
    tasks = _known_tasks(parsed, schema)
    if not tasks:
        return None
    path, _ = rng.choice(tasks)
    pos = parsed.key_positions.get((*path, "type"))
    if pos is None:
        return None
    lines = text.split("\n")
    if lines[pos.line - 1].lstrip().startswith("-"):
        return None
    lines.insert(pos.line, " " * (pos.column - 1) + "retryPolicyMode: aggressive")
    return Mutation("add an invented property", "\n".join(lines), pos.line + 1, ("unknown-property",))


def list_for_string(text: str, parsed: ParsedFlow, schema: FlowSchema, rng: random.Random) -> Mutation | None:
    lines = text.split("\n")

    def one_line_value(path: tuple, key: str) -> bool:
        key_pos = parsed.key_positions.get((*path, key))
        value_pos = parsed.value_positions.get((*path, key))
        return (
            key_pos is not None
            and value_pos is not None
            and key_pos.line == value_pos.line
            and lines[key_pos.line - 1][: value_pos.column - 1].rstrip().endswith(":")
            # not a plain scalar folded over several lines
            and _block_end(lines, key_pos.line - 1, key_pos.column - 1) == key_pos.line
        )

    candidates = []
    for path, task in _known_tasks(parsed, schema):
        props, _ = _task_properties(schema, task["type"])
        for key, value in task.items():
            if key in ("id", "type") or not isinstance(value, str) or not one_line_value(path, key):
                continue
            prop = schema.resolve(props.get(key, {}))
            if isinstance(prop, dict) and prop.get("type") == "string" and "enum" not in prop:
                candidates.append((path, key))
    if not candidates:
        return None
    path, key = rng.choice(candidates)
    key_pos = parsed.key_positions[(*path, key)]
    value_pos = parsed.value_positions[(*path, key)]
    lines[key_pos.line - 1] = lines[key_pos.line - 1][: value_pos.column - 1] + "[first, second]"
    return Mutation("a list where a string is required", "\n".join(lines), key_pos.line, ("wrong-type",))


def break_indentation(text: str, parsed: ParsedFlow, schema: FlowSchema, rng: random.Random) -> Mutation | None:
    """Indent a task's property line under the previous scalar property, as a sloppy edit would."""
    lines = text.split("\n")
    candidates = []
    for path, task in iter_tasks(parsed.data):
        keys = list(task)
        for previous, key in itertools.pairwise(keys):
            pos = parsed.key_positions.get((*path, key))
            prev_value = parsed.value_positions.get((*path, previous))
            if pos is None or prev_value is None or isinstance(task[previous], (dict, list)):
                continue
            if prev_value.line == pos.line - 1 and isinstance(task[key], (str, int, float, bool)):
                candidates.append(pos)
    if not candidates:
        return None
    pos = rng.choice(candidates)
    lines[pos.line - 1] = "  " + lines[pos.line - 1]
    return Mutation("break the indentation", "\n".join(lines), pos.line, ("yaml-syntax",))


MUTATORS: list[Callable[[str, ParsedFlow, FlowSchema, random.Random], Mutation | None]] = [
    drop_required,
    misspell_type,
    add_invented_property,
    list_for_string,
    break_indentation,
]


def mutations_of(text: str, schema: FlowSchema, seed: int) -> Iterator[Mutation]:
    parsed = parse_flow(text)
    for index, mutate in enumerate(MUTATORS):
        mutation = mutate(text, parsed, schema, random.Random(seed * 31 + index))
        if mutation is not None:
            yield mutation
