"""The type of parsed YAML and JSON: untrusted data, read by narrowing with `isinstance`.

A flow, a flow JSON schema and a catalog file are all trees of these values. The parser gives string keys
only (`_parse` turns `1:` or `true:` into "1", "true"), so a mapping is a `YamlMap`.
"""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["YamlList", "YamlMap", "YamlValue", "child"]

YamlValue: TypeAlias = "bool | int | float | str | list[YamlValue] | dict[str, YamlValue] | None"
YamlMap: TypeAlias = "dict[str, YamlValue]"
YamlList: TypeAlias = "list[YamlValue]"


def child(node: YamlValue, part: str | int) -> YamlValue:
    """`node[part]`: a mapping's value, a list's item; None when there is none."""
    if isinstance(node, dict) and isinstance(part, str):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
        return node[part]
    return None
