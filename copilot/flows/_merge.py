"""A live (hosted) or server flow schema merged with the bundled catalog for one Kestra version.

Kestra's hosted schema follows the newest Kestra, and either schema judges a flow by its own flow model. The
merged schema takes the flow model and the version rules from the bundled schema for `version` (the Flow root,
inputs, retry, SLA, which types and properties exist in that version, the 1.x aliases) and the plugin
definitions — tasks, triggers, conditions, task runners — from the live one where it has them, the bundled
catalog's where it does not (unless `fill` is off: a server's schema is exactly its plugins). The live schema's
families are read from its own structure (what the Flow root's `tasks`/`triggers` items are, where `conditions`
and `taskRunner` point), never guessed from names; a family list inside a live definition (a flowable's
`tasks`, a trigger's `conditions`, a `taskRunner`, a task's `retry`) then points at the merged family, so a
nested task is judged as a top-level one is.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._schema import FlowSchema, PluginSources, SchemaFacts
from ._schema import _definition_ref as definition_ref
from ._types import YamlList, YamlMap, YamlValue
from ._values import as_dict, as_list

if TYPE_CHECKING:
    from ._catalog import Catalog, PropertySpec, TypeDef

__all__ = [
    "BUNDLED",
    "LIVE",
    "PLUGIN_FAMILIES",
    "MergedParts",
    "common_versioned",
    "families",
    "merge",
    "merge_key",
    "merge_schemas",
    "merged_schema",
]

PLUGIN_FAMILIES = ("task", "trigger", "condition", "task-runner")
# Families of the flow model: a live definition's reference to one is pointed at ours.
MODEL_FAMILIES = ("retry", "input", "sla")
LIVE, BUNDLED = "live", "bundled"  # who defines a plugin type, in what the cache keeps
_FAMILY = "copilot.family."  # the bundled schema's family definitions (_schemagen)
# Left out of the copied live definitions: documentation no check reads (a plugin's long description and its
# outputs' schema are half a full schema's size, and every run would read them back from the cache).
_DOCUMENTATION = frozenset({"markdownDescription", "outputs"})

# What a merge leaves, in a form the cache keeps: the schema, its facts, type name → LIVE/BUNDLED, and the
# definitions the bundled catalog filled in (to say which source judged a type).
MergedParts = tuple[YamlMap, SchemaFacts, dict[str, str], frozenset[str]]


def merge(live: FlowSchema, version: int, *, fill: bool = True) -> FlowSchema:
    """`live` merged with the bundled catalog for Kestra `version`.x (see the module's docstring)."""
    from ._bundled import bundled

    base = bundled()
    parts = merge_schemas(live, base.schema(version), base.catalog, version, fill=fill)
    return merged_schema(parts, live.source, version, fill=fill)


def merged_schema(parts: MergedParts, live_source: str, version: int, *, fill: bool) -> FlowSchema:
    """The merged schema from its parts (a merge's, or read back from the cache): `live_source` names the
    live schema it was merged from (its date changes, its digest may not)."""
    from ._bundled import bundled

    raw, facts, sources, filled = parts
    fallback = f"bundled catalog (Kestra {version}.x)"
    labels = {LIVE: live_source, BUNDLED: fallback}
    plugins = PluginSources(
        {name: labels[source] for name, source in sources.items()}, live_source, fallback if fill else None, filled
    )
    return FlowSchema(
        raw,
        source=f"{live_source} for plugins, with the Kestra {version}.x flow model",
        kestra_version=version,
        catalog=lambda: bundled().catalog,  # its old names and version bounds, for the hints
        checked=True,  # made of a checked live schema and the bundled one
        facts=facts,
        plugins=plugins,
        origin="live" if fill else "server",  # the hosted schema is filled in from the catalog, a server's never
    )


def families(schema: FlowSchema) -> dict[str, list[str]]:
    """Family → the definitions of its members, read from where the schema's Flow root and plugins use them."""
    root = _properties(schema, schema.raw)
    found = {
        "task": _members(schema, _items(schema, root.get("tasks"))),
        "trigger": _members(schema, _items(schema, root.get("triggers"))),
        "retry": _members(schema, root.get("retry")),
        "input": _members(schema, _items(schema, root.get("inputs"))),
        "sla": _members(schema, _items(schema, root.get("sla"))),
    }
    conditions: dict[str, None] = {}
    for trigger in found["trigger"]:
        node = _properties(schema, {"$ref": f"#/definitions/{trigger}"}).get("conditions")
        conditions.update(dict.fromkeys(_members(schema, _items(schema, node))))
    runners: dict[str, None] = {}
    for task in found["task"]:
        node = _properties(schema, {"$ref": f"#/definitions/{task}"}).get("taskRunner")
        runners.update(dict.fromkeys(_members(schema, node)))
    return {**found, "condition": list(conditions), "task-runner": list(runners)}


def plugin_types_of(schema: FlowSchema) -> list[str]:
    """The plugin types (their first name) of a schema, found from its structure."""
    found = families(schema)
    names = (_primary(schema, name) for family in PLUGIN_FAMILIES for name in found[family])
    return list(dict.fromkeys(name for name in names if name))


def merge_schemas(live: FlowSchema, bundled: FlowSchema, catalog: Catalog, version: int, *, fill: bool) -> MergedParts:
    """The merged schema's parts (see the module's docstring); `bundled` is the bundled schema for `version`."""
    live_families, bundled_families = families(live), families(bundled)
    definitions: YamlMap = dict(bundled.definitions)
    for family in PLUGIN_FAMILIES:  # the bundled plugin definitions: put back below where the live one lacks one
        for name in bundled_families[family]:
            definitions.pop(name, None)
    renamed: dict[str, str] = {}  # live definition → its name in the merged schema (bundled names come first)

    def name_of(live_name: str) -> str:
        if live_name not in renamed:
            renamed[live_name] = f"live.{live_name}" if live_name in definitions else live_name
        return renamed[live_name]

    sources: dict[str, str] = {}
    filled: set[str] = set()
    members: dict[str, list[str]] = {}
    taken: list[tuple[str, TypeDef | None, str]] = []  # (live definition, its catalog type, family)
    for family in PLUGIN_FAMILIES:
        refs: list[str] = []
        known: set[str] = set()
        absent = not bundled_families[family] and any(catalog.family(family, v) for v in (1, 2) if v != version)
        for name in [] if absent else live_families[family]:  # a family this version has not stays empty
            values = live.type_values({"$ref": f"#/definitions/{name}"})
            found = next((t for t in map(catalog.lookup, values) if t is not None), None)
            if not values or (found is not None and not found.exists_in(version)):
                continue  # a type this version has not stays excluded
            refs.append(name_of(name))
            taken.append((name, found, family))
            sources.setdefault(values[0] if found is None else found.name, LIVE)
            known.update(values)
            if found is not None:
                known.update((found.name, *found.aliases))
        for name in bundled_families[family] if fill else []:
            values = bundled.type_values({"$ref": f"#/definitions/{name}"})
            if values and not known.intersection(values):
                refs.append(name)
                definitions[name] = bundled.definitions[name]
                sources.setdefault(values[0], BUNDLED)
                filled.add(name)
        members[family] = refs
    for family in MODEL_FAMILIES:
        members[family] = bundled_families[family]

    family_of = {name: family for family, names in live_families.items() for name in names}
    rewrite = _Rewriter(live, family_of, {f: len(names) for f, names in live_families.items()}, name_of)
    queue = [name for name, _, _ in taken]
    copied: set[str] = set()
    while queue:
        name = queue.pop()
        if name in copied:
            continue
        copied.add(name)
        definitions[name_of(name)] = rewrite.node(live.definitions.get(name, {}))
        queue.extend(rewrite.referenced)
        rewrite.referenced = []
    common = {family: common_versioned(catalog, family) for family in PLUGIN_FAMILIES}
    for name, found, family in taken:
        _version_rules(definitions, name_of(name), found, common[family], version)
    for family, refs in members.items():
        branches: YamlList = [{"$ref": f"#/definitions/{ref}"} for ref in refs]
        definitions[_FAMILY + family] = {"anyOf": branches} if branches else {"not": {}}
    raw: YamlMap = {**bundled.raw, "definitions": definitions}
    schema = FlowSchema(raw, source="merged", kestra_version=version, checked=True)
    return raw, schema.facts(), sources, frozenset(filled)


class _Rewriter:
    """Copies a live definition: a family list in it points at the merged family, a reference to another
    live definition at its merged name (and that definition is queued to be copied in turn)."""

    def __init__(
        self, live: FlowSchema, family_of: dict[str, str], sizes: dict[str, int], name_of: Callable[[str], str]
    ) -> None:
        self.live, self.family_of, self.sizes, self.name_of = live, family_of, sizes, name_of
        self.referenced: list[str] = []

    def family(self, node: YamlMap) -> str | None:
        """The family a node stands for: an `anyOf` of (most of) a family's members, or the one member of a
        family that has one (Kestra's abstract `Condition`)."""
        if "$ref" in node:
            name = definition_ref(node)
            family = self.family_of.get(name) if name else None
            return family if family and self.sizes[family] == 1 else None
        branches = as_list(node.get("anyOf"))
        names = [_branch_ref(branch) for branch in branches]
        if not names or None in names:
            return None
        kinds = {self.family_of.get(name) for name in names if name}
        if len(kinds) != 1 or None in kinds:
            return None
        family = next(iter(kinds))
        assert family is not None
        return family if len(set(names)) * 2 >= self.sizes[family] else None

    def node(self, node: YamlValue) -> YamlValue:
        if isinstance(node, list):
            return [self.node(item) for item in node]
        if not isinstance(node, dict):
            return node
        family = self.family(node)
        if family is not None:
            rest = {key: self.node(value) for key, value in node.items() if key not in ("anyOf", "$ref")}
            target: YamlMap = {"$ref": f"#/definitions/{_FAMILY}{family}"}
            return {**rest, "allOf": [*as_list(rest.get("allOf")), target]} if rest else target
        out: YamlMap = {}
        for key, value in node.items():
            if key in _DOCUMENTATION:
                continue
            if key == "$ref":
                name = definition_ref(node)
                if name is not None:
                    self.referenced.append(name)
                    value = f"#/definitions/{self.name_of(name)}"
            elif key == "properties" and isinstance(value, dict):
                value = {prop: self.node(sub) for prop, sub in value.items()}  # names, not keywords
                out[key] = value
                continue
            out[key] = self.node(value)
        return out


def _version_rules(
    definitions: YamlMap, name: str, found: TypeDef | None, common: dict[str, PropertySpec], version: int
) -> None:
    """Ours on a copied live plugin definition: the properties the catalog ties to Kestra versions (its own
    type's, else those every catalog type of its family shares) are dropped outside their versions and added
    within them; in 1.x the catalog's old names are accepted, in 2.x they are not."""
    from ._schemagen import _property_schema

    members = _own_members(definitions, name)
    if not members:
        return
    versioned = {p.name: p for p in found.properties.values() if p.since or p.until} if found else common
    declared = {prop for member in members for prop in as_dict(member.get("properties"))}
    holder = as_dict(max(members, key=lambda m: len(as_dict(m.get("properties")))).get("properties"))
    for prop, spec in versioned.items():
        if spec.exists_in(version):
            if prop not in declared and holder:
                holder[prop] = _property_schema(spec)
            continue
        for member in members:
            as_dict(member.get("properties")).pop(prop, None)
            required = member.get("required")
            if isinstance(required, list):
                member["required"] = [r for r in required if r != prop]
    if found is None or not found.aliases:
        return
    for member in members:
        properties = as_dict(member.get("properties"))
        pinned = as_dict(properties.get("type"))
        values = [pinned["const"]] if "const" in pinned else as_list(pinned.get("enum"))
        if not values or not all(isinstance(v, str) for v in values):
            continue
        if version < 2:
            values = [*values, *(a for a in (found.name, *found.aliases) if a not in values)]
        else:
            values = [v for v in values if v not in found.aliases] or [found.name]
        properties["type"] = {"const": values[0]} if len(values) == 1 else {"enum": values}


def _own_members(definitions: YamlMap, name: str) -> list[YamlMap]:
    """The objects a copied definition is made of (itself, its `allOf` members, the definitions they refer to:
    Kestra's `-1`/`-2` pairs), each the merged schema's own copy."""
    out: list[YamlMap] = []
    stack: list[YamlValue] = [definitions.get(name)]
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        ref = definition_ref(node)
        if ref is not None:
            if ref not in seen and not ref.startswith(_FAMILY):
                seen.add(ref)
                stack.append(definitions.get(ref))
            continue
        out.append(node)
        stack.extend(as_list(node.get("allOf")))
    return out


def common_versioned(catalog: Catalog, family: str) -> dict[str, PropertySpec]:
    """The version-bound properties every catalog type of `family` has (the family's base: `workerGroup`
    until 1.x, `workerSelector` from 2.x, a trigger's `conditions` …), for a live type the catalog lacks."""
    kinds = {"task": ("task", "flowable")}.get(family, (family,))
    types = [t for t in catalog.types.values() if t.kind in kinds]
    if not types:
        return {}
    shared = {p.name: p for p in types[0].properties.values() if p.since or p.until}
    for t in types[1:]:
        shared = {name: p for name, p in shared.items() if (t.properties.get(name) or p) == p and name in t.properties}
    return shared


def _primary(schema: FlowSchema, name: str) -> str | None:
    values = schema.type_values({"$ref": f"#/definitions/{name}"})
    return values[0] if values else None


def _properties(schema: FlowSchema, node: YamlValue) -> YamlMap:
    """The properties a schema declares, over its `allOf` members."""
    out: YamlMap = {}
    for member in schema.flatten(node):
        for key, value in as_dict(member.get("properties")).items():
            out.setdefault(key, value)
    return out


def _items(schema: FlowSchema, node: YamlValue) -> YamlValue:
    for member in schema.flatten(node):
        if isinstance(member.get("items"), dict):
            return member["items"]
        for branch in as_list(member.get("anyOf")):  # `labels`-like `anyOf: [array, object]`
            items = as_dict(schema.resolve(branch)).get("items")
            if isinstance(items, dict):
                return items
    return None


def _members(schema: FlowSchema, node: YamlValue, depth: int = 0) -> list[str]:
    """The discriminated definitions a node accepts: its `$ref`, `anyOf`, `allOf` followed down to the
    definitions that pin a `type:` (a family's own definition, like the bundled `copilot.family.task`, is
    followed through)."""
    if not isinstance(node, dict) or depth > 8:
        return []
    name = definition_ref(node)
    if name is not None:
        if schema.type_values(node):
            return [name]
        return _members(schema, schema.definitions.get(name), depth + 1)
    out: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in as_list(node.get(key)):
            out.extend(_members(schema, branch, depth + 1))
    return list(dict.fromkeys(out))


def _branch_ref(branch: YamlValue) -> str | None:
    """The definition an `anyOf` branch stands for: `{"$ref": X}`, or `{"allOf": [{"$ref": X}, {annotations}]}`
    as Kestra wraps one with `$dynamic`/`$group`."""
    name = definition_ref(branch)
    if name is not None or not isinstance(branch, dict):
        return name
    parts = as_list(branch.get("allOf"))
    refs = [definition_ref(part) for part in parts]
    named = [ref for ref in refs if ref is not None]
    others = [part for part, ref in zip(parts, refs, strict=True) if ref is None]
    constraining = {"type", "properties", "required", "anyOf", "oneOf", "allOf", "not", "enum", "const"}
    if len(named) != 1 or set(branch) - {"allOf"} & constraining:
        return None
    if any(isinstance(part, dict) and constraining & set(part) for part in others):
        return None
    return named[0]


@functools.cache
def merge_key() -> str:
    """What a merged schema is made from besides the live one: the bundled catalog (its fingerprint covers the
    code that generates its schemas) and the code that merges and derives facts. A change is a new key."""
    from importlib import resources

    from ._bundled import _fingerprint, catalog_files

    digest = hashlib.sha256(_fingerprint(catalog_files()).encode())
    package = resources.files("copilot.flows")
    for name in ("_merge.py", "_schema.py"):
        digest.update((package / name).read_bytes())
    return digest.hexdigest()[:16]
