"""Edits on the parsed document, written back into the flow's own text.

    set_top_level(text, "namespace", "company.team.copilot_test")
    remove_top_level(text, "triggers")

The key is found as the YAML parser sees it — never by a regular expression over lines, which a
`description: |` block holding a `namespace:` line, or a quoted `"namespace":` key, would fool — and only
the span of its value (or of the whole entry) is rewritten, so the rest of the text keeps its comments and
formatting. Every edit is proved by parsing the result again: its data must be exactly the original data
with the one change. When the span cannot be edited so (a flow-style root, an odd layout), the document is
written out whole as JSON — valid YAML that means exactly the intended data — and proved the same way.
"""

from __future__ import annotations

import json
import re

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from ._errors import FlowSyntaxError
from ._parse import _Loader, parse_flow
from ._types import YamlMap, YamlValue

__all__ = ["FlowEditError", "remove_top_level", "set_top_level"]

# A string that may be written as a plain scalar (if it reads back as the same string: not `true`, `1.5`).
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class FlowEditError(FlowSyntaxError):
    """A flow cannot be edited safely (not a mapping, a duplicated key, an edit that would not read back)."""


def _root(text: str) -> MappingNode:
    loader = _Loader(text)  # what yaml.compose does, with the parser's own loader
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise FlowEditError(f"The flow is not valid YAML: {exc}", hint="Fix the YAML first.") from exc
    finally:
        loader.dispose()
    if not isinstance(node, MappingNode):
        raise FlowEditError("The flow is not a YAML mapping.", hint="A flow is a mapping with id, namespace, tasks.")
    return node


def _entries(root: MappingNode, key: str) -> list[tuple[Node, Node]]:
    return [(k, v) for k, v in root.value if isinstance(k, ScalarNode) and k.value == key]


def _renderings(value: YamlValue) -> list[str]:
    """How `value` may be written, nicest first; the first that reads back as `value` is used."""
    quoted = json.dumps(value, ensure_ascii=False)  # JSON is YAML: a quoted string, or a flow collection
    return [value, quoted] if isinstance(value, str) and _PLAIN.match(value) else [quoted]


def _single(root: MappingNode, key: str) -> tuple[Node, Node] | None:
    entries = _entries(root, key)
    if len(entries) > 1:
        line = entries[1][0].start_mark.line + 1
        raise FlowEditError(
            f"The flow sets `{key}` twice (again on line {line}); Kestra refuses it.",
            line=line,
            hint=f"Keep one `{key}:`.",
        )
    return entries[0] if entries else None


def _proved(edits: list[str], expected: YamlMap) -> str:
    """The first of `edits` that reads back as `expected`, else the whole document as JSON (which must)."""
    for edited in edits:
        try:
            if edited and parse_flow(edited).data == expected:
                return edited
        except FlowSyntaxError:
            pass
    whole = json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    if parse_flow(whole).data != expected:  # pragma: no cover - JSON is YAML; only NaN-like values differ
        raise FlowEditError("The flow could not be rewritten safely.", hint="Simplify the flow's top level.")
    return whole


def set_top_level(text: str, key: str, value: YamlValue) -> str:
    """The flow with its top-level `key` set to `value` (added as the first key when missing)."""
    original = parse_flow(text).data
    root = _root(text)
    entry = _single(root, key)
    expected = {key: value, **original} if entry is None else {**original, key: value}
    return _proved([_with(text, root, key, entry, rendered) for rendered in _renderings(value)], expected)


def _with(text: str, root: MappingNode, key: str, entry: tuple[Node, Node] | None, rendered: str) -> str:
    """The text with `rendered` as the value of `entry` (or a new first entry); "" when there is no span."""
    if entry is not None:
        node = entry[1]
        start, end = node.start_mark.index, node.end_mark.index
        tail = "\n" if text[start:end].endswith("\n") else ""
        if not isinstance(node, ScalarNode) and node.start_mark.line != entry[0].start_mark.line:
            rendered = " " + rendered  # a block collection on the next lines becomes an inline value
            start = entry[0].end_mark.index + 1  # just after the key's colon
        return text[:start] + rendered + tail + text[end:]
    if root.flow_style:
        return ""  # no span to insert into: written out whole
    at, indent = root.start_mark.index, " " * root.start_mark.column
    return f"{text[:at]}{key}: {rendered}\n{indent}{text[at:]}"


def remove_top_level(text: str, key: str) -> str:
    """The flow without its top-level `key` (unchanged when it has none)."""
    original = parse_flow(text).data
    root = _root(text)
    entry = _single(root, key)
    if entry is None:
        return text
    expected = {k: v for k, v in original.items() if k != key}
    if root.flow_style:
        return _proved([], expected)
    key_node, value_node = entry
    start = text.rfind("\n", 0, key_node.start_mark.index) + 1
    if text[start : key_node.start_mark.index].strip():
        return _proved([], expected)  # something else shares the key's line
    end = value_node.end_mark.index
    if not text[:end].endswith("\n"):  # a scalar or flow value: the rest of its line goes too
        newline = text.find("\n", end)
        end = len(text) if newline < 0 else newline + 1
    return _proved([text[:start] + text[end:]], expected)
