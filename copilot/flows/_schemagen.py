"""Generate a Kestra-format flow JSON schema (draft-07) from the offline catalog.

The output has the shape of a server's `/api/v1/plugins/schemas/flow`: the root `$ref`s
`io.kestra.core.models.flows.Flow`, definitions are keyed by class name, each plugin definition carries
its `type` as `const` (or `enum` with its aliases), and a dynamic (Pebble-capable) non-string property
is `anyOf: [<type>, <string>]` marked `$dynamic`. Like Kestra's, it has no `additionalProperties: false`:
unknown keys are caught by the validator's strict key check, which reads the same `properties`.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._catalog import FAMILY_KINDS, Catalog, PropertySpec, TypeDef
from ._typeexpr import ListOf, MapOf, Named, TypeExpr, Union, parse_type_expr, referenced_names
from ._types import YamlList, YamlMap

__all__ = ["FLOW_DEFINITION", "PEBBLE_PATTERN", "generate_flow_schema"]

FLOW_DEFINITION = "io.kestra.core.models.flows.Flow"
PEBBLE_PATTERN = r"\{\{|\{%"
_NUMBER_TEXT = r"^\s*[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$"
_INTEGER_TEXT = r"^\s*[-+]?[0-9]+\s*$"
_BOOLEAN_TEXT = r"^\s*(true|false|True|False|TRUE|FALSE)\s*$"

_DEFINITION_PREFIX = {
    "input": "io.kestra.core.models.flows.input.",
    "retry": "io.kestra.core.models.tasks.retrys.",
    "sla": "io.kestra.core.models.flows.sla.types.",
}


def definition_name(t: TypeDef) -> str:
    return _DEFINITION_PREFIX.get(t.kind, "") + t.name


def _object_definition(name: str) -> str:
    return FLOW_DEFINITION if name == "Flow" else f"copilot.objects.{name}"


def _family_definition(name: str) -> str:
    return f"copilot.family.{name}"


def generate_flow_schema(catalog: Catalog, version: int) -> YamlMap:
    """The flow schema for Kestra major `version` (1 or 2)."""
    definitions: YamlMap = {}
    for obj in catalog.objects.values():
        definitions[_object_definition(obj.name)] = _object_schema(obj.properties, version)
    for family in FAMILY_KINDS:
        members = catalog.family(family, version)
        refs: YamlList = [{"$ref": f"#/definitions/{definition_name(t)}"} for t in members]
        # A family with no member in this version (conditions in 2.x) accepts nothing.
        definitions[_family_definition(family)] = {"anyOf": refs} if refs else {"not": {}}
        for t in members:
            definitions[definition_name(t)] = _type_schema(t, version)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$ref": f"#/definitions/{FLOW_DEFINITION}",
        "definitions": definitions,
    }


def _type_schema(t: TypeDef, version: int) -> YamlMap:
    schema = _object_schema(t.properties, version, discriminator=(t.name, *t.aliases) if version < 2 else (t.name,))
    if t.title:
        schema["title"] = t.title
    if t.deprecated:
        schema["$deprecated"] = True
    return schema


def _object_schema(
    properties: Mapping[str, PropertySpec], version: int, discriminator: tuple[str, ...] = ()
) -> YamlMap:
    """An object's schema; a discriminated one (`discriminator`: its type names) requires its `type`."""
    props: YamlMap = {}
    required: list[str] = []
    for prop in properties.values():
        if not prop.exists_in(version):
            continue
        props[prop.name] = _property_schema(prop)
        if prop.required:
            required.append(prop.name)
    if discriminator:
        props["type"] = {"const": discriminator[0]} if len(discriminator) == 1 else {"enum": [*discriminator]}
        required.append("type")
    schema: YamlMap = {"type": "object", "properties": props}
    if required:
        schema["required"] = [*sorted(set(required))]
    return schema


def _property_schema(prop: PropertySpec) -> YamlMap:
    expr = parse_type_expr(prop.type)
    base = _expr_schema(expr)
    if prop.enum is not None:
        base = {**base, "enum": list(prop.enum)}
        base.setdefault("type", "string")
    for keyword, value in (
        ("pattern", prop.pattern),
        ("minLength", prop.min_length),
        ("maxLength", prop.max_length),
        ("minItems", prop.min_items),
    ):
        if value is not None:
            base[keyword] = value
    schema = base
    alternative = _pebble_alternative(expr, prop)
    if alternative is not None:
        schema = {"anyOf": [base, alternative]}
    if prop.dynamic:
        schema["$dynamic"] = True
    if prop.deprecated:
        schema["$deprecated"] = True
    if prop.title:
        schema["title"] = prop.title
    return schema


def _pebble_alternative(expr: TypeExpr, prop: PropertySpec) -> YamlMap | None:
    """What a dynamic property accepts besides its own type: a Pebble expression in a string.

    Plain text that Jackson coerces (`"5"` for an integer, `"true"` for a boolean) is accepted too.
    Child tasks, triggers and other typed families are never dynamic.
    """
    if not prop.dynamic or any(True for _ in _families(expr)):
        return None
    if isinstance(expr, Named) and expr.name in ("string", "any", "duration", "uri", "datetime"):
        return None if prop.enum is None else {"type": "string", "pattern": PEBBLE_PATTERN}
    if isinstance(expr, Union) and any(isinstance(o, Named) and o.name in ("string", "any") for o in expr.options):
        return None
    pattern = PEBBLE_PATTERN
    if isinstance(expr, Named) and expr.name == "integer":
        pattern = f"{_INTEGER_TEXT}|{PEBBLE_PATTERN}"
    elif isinstance(expr, Named) and expr.name == "number":
        pattern = f"{_NUMBER_TEXT}|{PEBBLE_PATTERN}"
    elif isinstance(expr, Named) and expr.name == "boolean":
        pattern = f"{_BOOLEAN_TEXT}|{PEBBLE_PATTERN}"
    return {"type": "string", "pattern": pattern}


def _families(expr: TypeExpr) -> list[str]:
    return [name for name in referenced_names(expr) if not name.startswith("@")]


def _expr_schema(expr: TypeExpr) -> YamlMap:
    match expr:
        case Named("string" | "uri" | "datetime"):
            return {"type": "string"}
        case Named("duration"):
            return {"type": "string", "format": "duration"}
        case Named("integer" | "number" | "boolean" | "object" as primitive):
            return {"type": primitive}
        case Named("any"):
            return {}
        case Named(name) if name.startswith("@"):
            return {"$ref": f"#/definitions/{_object_definition(name[1:])}"}
        case Named(name):
            return {"$ref": f"#/definitions/{_family_definition(name)}"}
        case ListOf(item):
            return {"type": "array", "items": _expr_schema(item)}
        case MapOf(value):
            return {"type": "object", "additionalProperties": _expr_schema(value)}
        case Union(options):
            branches: YamlList = [_expr_schema(option) for option in options]
            return {"anyOf": branches}
    raise AssertionError(f"unhandled type expression {expr!r}")  # pragma: no cover
