"""Flow-level plugin defaults (Kestra ≤ 1.x): what they supply, and whether they are well formed.

Kestra injects `pluginDefaults` into each task before bean validation, so a required property that a
default supplies is not missing (rule F2). A default whose `type` names one plugin must only set that
plugin's properties (rule F1, `PluginDefaultValidator`).
"""

from __future__ import annotations

from ._diagnostics import Diagnostic
from ._parse import ParsedFlow, Path
from ._schema import FlowSchema
from ._types import YamlMap, YamlValue
from ._values import as_dict
from ._where import did_you_mean

__all__ = ["check_plugin_defaults", "defaulted_keys"]

_SECTIONS = ("pluginDefaults", "taskDefaults")


def _entries(data: YamlValue) -> list[tuple[Path, YamlMap]]:
    if not isinstance(data, dict):
        return []
    out: list[tuple[Path, YamlMap]] = []
    for section in _SECTIONS:
        items = data.get(section)
        if isinstance(items, list):
            out.extend(((section, i), item) for i, item in enumerate(items) if isinstance(item, dict))
    return out


def defaulted_keys(data: YamlValue, node_type: str, schema: FlowSchema) -> set[str]:
    """Keys the flow's plugin defaults supply to a node of `node_type`: Kestra matches a default whose
    type is the node's type, an alias of it, or a prefix of it (`io.kestra.plugin.jdbc`)."""
    definition = schema.type_index.get(node_type)
    keys: set[str] = set()
    for _, entry in _entries(data):
        default_type, values = entry.get("type"), entry.get("values")
        if not isinstance(default_type, str) or not isinstance(values, dict):
            continue
        same = definition is not None and schema.type_index.get(default_type) == definition
        if same or node_type == default_type or node_type.startswith(default_type):
            keys.update(k for k, v in values.items() if v is not None)
    return keys


def _properties_of(schema: FlowSchema, type_name: str) -> list[str] | None:
    definition = schema.type_index.get(type_name)
    if definition is None:
        return None
    names: list[str] = []
    for member in schema.flatten({"$ref": f"#/definitions/{definition}"}):
        names.extend(k for k in as_dict(member.get("properties")) if k not in names)
    return names


def check_plugin_defaults(parsed: ParsedFlow[YamlMap], schema: FlowSchema, version: int) -> list[Diagnostic]:
    if version >= 2:
        return []  # the whole section is refused in 2.x (reported as an unknown property)
    out: list[Diagnostic] = []

    def report(path: Path, message: str, hint: str) -> None:
        out.append(parsed.diagnostic("invalid-plugin-default", path, f"Invalid plugin default: {message}", hint))

    for path, entry in _entries(parsed.data):
        default_type, values = entry.get("type"), entry.get("values")
        if not default_type:
            report(path, "no `type` provided.", "Name the plugin type (or a package prefix) the values apply to.")
        if not values:
            report(path, "no `values` provided.", "Add `values:` with the properties to default.")
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if value is None:
                report((*path, "values", key), f"no value provided for key `{key}`.", f"Give `{key}` a value.")
        known = _properties_of(schema, default_type) if isinstance(default_type, str) else None
        if known is None:
            continue  # a package prefix or a type outside the catalog: Kestra does not check it either
        lowered = {name.lower() for name in known}
        for key in values:
            if isinstance(key, str) and key.lower() not in lowered:
                suggestion = did_you_mean(key, known)
                report(
                    (*path, "values", key),
                    f"no property `{key}` exists in plugin `{default_type}`.",
                    f"Did you mean `{suggestion}`?" if suggestion else f"Remove `{key}`.",
                )
    return out
