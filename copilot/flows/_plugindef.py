"""A plugin type as a flow schema defines it — title, properties, required ones — read the same way for the
bundled catalog's schema and a live or server one, for what describes a plugin (the prompt's plugin facts,
`describe_plugin`) rather than what judges a flow."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._schema import FlowSchema
from ._types import YamlMap, YamlValue
from ._values import as_dict, as_list

__all__ = ["PluginDefinition", "plugin_definition", "type_expression"]


@dataclass(frozen=True)
class PluginDefinition:
    type: str  # the name it was asked by
    canonical: str  # its definition's own name (Kestra's end in -1/-2): differs for an old alias
    title: str
    properties: dict[str, YamlValue]  # name → its schema (over the definition's allOf members), `type` left out
    required: frozenset[str]
    deprecated: bool = False


def plugin_definition(schema: FlowSchema, type_name: str) -> PluginDefinition | None:
    """`type_name` as `schema` defines it, or None when it defines no such type."""
    definition = schema.type_index.get(type_name)
    if definition is None:
        return None
    members = schema.flatten({"$ref": f"#/definitions/{definition}"})
    title = next((m["title"] for m in members if isinstance(m.get("title"), str)), "")
    properties: dict[str, YamlValue] = {}
    for member in members:
        for key, value in as_dict(member.get("properties")).items():
            properties.setdefault(str(key), value)
    properties.pop("type", None)
    required = frozenset(str(key) for m in members for key in as_list(m.get("required"))) - {"type"}
    return PluginDefinition(
        type=type_name,
        canonical=re.sub(r"-\d+$", "", definition),
        title=" ".join(str(title).split()),
        properties=properties,
        required=required,
        deprecated=any(m.get("$deprecated") is True for m in members),
    )


def type_expression(schema: FlowSchema, node: YamlValue, depth: int = 0) -> str:
    """A property's schema as the catalog writes types: `string`, `integer`, `list[string]`, `map[string]`,
    `duration`, `task`…; a dynamic property's Pebble-string alternative left out; `any` when it says nothing."""
    members = schema.flatten(node)
    if depth > 4 or not members:
        return "any"
    values = schema.type_values(node) if isinstance(node, dict) and "$ref" in node else ()
    if values:
        return "object"  # one discriminated definition (an auth, a retry …)
    merged: YamlMap = {}
    for member in members:
        for key, value in member.items():
            merged.setdefault(key, value)
    branches = as_list(merged.get("anyOf")) or as_list(merged.get("oneOf"))
    if branches:
        if all(schema.type_values(b) for b in branches):
            return "plugin"  # a family: tasks, triggers, conditions …
        options = list(dict.fromkeys(type_expression(schema, b, depth + 1) for b in branches))
        dynamic = merged.get("$dynamic") is True or any(as_dict(schema.resolve(b)).get("$dynamic") for b in branches)
        if dynamic and len(options) > 1 and "string" in options:
            options.remove("string")  # `{{ … }}` in a string: what a dynamic property also takes
        return " | ".join(options)
    kind = merged.get("type")
    if kind == "array":
        return f"list[{type_expression(schema, merged.get('items', {}), depth + 1)}]"
    if kind == "object" and isinstance(merged.get("additionalProperties"), dict):
        return f"map[{type_expression(schema, merged['additionalProperties'], depth + 1)}]"
    if kind == "string" and merged.get("format") == "duration":
        return "duration"
    return str(kind) if isinstance(kind, str) else "object" if "properties" in merged else "any"
