"""A parsed flow's values as the shape a rule expects: a key Kestra reads as a list or a mapping is treated
as empty when the YAML holds something else (the schema check reports that)."""

from __future__ import annotations

from ._types import YamlList, YamlMap, YamlValue

__all__ = ["as_dict", "as_list", "plugin_types"]


def as_list(value: YamlValue) -> YamlList:
    return value if isinstance(value, list) else []


def as_dict(value: YamlValue) -> YamlMap:
    return value if isinstance(value, dict) else {}


def plugin_types(node: YamlValue) -> list[str]:
    """Every plugin class the flow names anywhere, in document order: `type: io.kestra…` of tasks at any
    depth, triggers, conditions, task runners, plugin defaults — by the document, not by a walk of where
    tasks are expected to be (a value with no dot, such as an input's `type: STRING`, is not a plugin)."""
    found: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            value = current.get("type")
            if isinstance(value, str) and "." in value:
                found.append(value)
            stack.extend(reversed(list(current.values())))
        elif isinstance(current, list):
            stack.extend(reversed(current))
    return found
