"""The offline plugin catalog: compact YAML files in `copilot/flows/catalog/` (format in its README).

Loading merges every file, resolves `extends:` chains and checks the data, so a typo in the catalog
fails loudly at load time instead of producing a wrong schema.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from ._errors import SchemaLoadError

__all__ = [
    "FAMILY_KINDS",
    "Catalog",
    "ObjectDef",
    "PropertySpec",
    "TypeDef",
    "load_catalog",
]

# A family is what a type expression such as `task` or `trigger` stands for: every type of these kinds.
FAMILY_KINDS: dict[str, tuple[str, ...]] = {
    "task": ("task", "flowable"),
    "trigger": ("trigger",),
    "condition": ("condition",),
    "task-runner": ("task-runner",),
    "input": ("input",),
    "retry": ("retry",),
    "sla": ("sla",),
}
_PROPERTY_KEYS = {
    "type", "required", "enum", "dynamic", "default", "deprecated", "since", "until",
    "pattern", "min_length", "max_length", "min_items", "title",
}  # fmt: skip
_TYPE_KEYS = {"kind", "title", "extends", "aliases", "since", "until", "deprecated", "properties", "flowable"}
_KNOWN_KINDS = {kind for kinds in FAMILY_KINDS.values() for kind in kinds}


@dataclass(frozen=True, slots=True)
class PropertySpec:
    name: str
    type: str = "any"
    required: bool = False
    enum: tuple[Any, ...] | None = None
    dynamic: bool = True
    deprecated: bool = False
    since: int | None = None
    until: int | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    title: str | None = None

    def exists_in(self, version: int) -> bool:
        return _in_range(version, self.since, self.until)


@dataclass(frozen=True, slots=True)
class ObjectDef:
    name: str
    properties: Mapping[str, PropertySpec]


@dataclass(frozen=True, slots=True)
class TypeDef:
    """A discriminated definition: a plugin class, an input type, a retry policy…"""

    name: str  # the value of its `type:` property
    kind: str
    title: str = ""
    aliases: tuple[str, ...] = ()
    properties: Mapping[str, PropertySpec] = field(default_factory=dict)
    since: int | None = None
    until: int | None = None
    deprecated: bool = False

    def exists_in(self, version: int) -> bool:
        return _in_range(version, self.since, self.until)


class Catalog:
    """Every type and object the catalog describes, across all Kestra versions."""

    def __init__(
        self,
        types: Mapping[str, TypeDef],
        objects: Mapping[str, ObjectDef],
        complete_packages: Iterable[str] = (),
    ) -> None:
        self.types = dict(types)
        self.objects = dict(objects)
        self.complete_packages = tuple(complete_packages)
        self._by_alias = {alias: t for t in self.types.values() for alias in t.aliases}

    def family(self, name: str, version: int) -> list[TypeDef]:
        kinds = FAMILY_KINDS[name]
        return [t for t in self.types.values() if t.kind in kinds and t.exists_in(version)]

    def plugin_types(self, version: int) -> list[TypeDef]:
        """Plugin classes (tasks, triggers, conditions, task runners) that exist in `version`."""
        plugin_kinds = {"task", "flowable", "trigger", "condition", "task-runner"}
        return [t for t in self.types.values() if t.kind in plugin_kinds and t.exists_in(version)]

    def covers_package_of(self, type_name: str) -> bool:
        return any(type_name.startswith(package + ".") for package in self.complete_packages)

    def lookup(self, type_name: str) -> TypeDef | None:
        """Find a type by its name or one of its aliases."""
        return self.types.get(type_name) or self._by_alias.get(type_name)


def _in_range(version: int, since: int | None, until: int | None) -> bool:
    return (since is None or version >= since) and (until is None or version <= until)


def load_catalog(files: Iterable[tuple[str, str]] | None = None) -> Catalog:
    """Load and merge catalog files given as `(name, text)` pairs (default: the bundled ones)."""
    if files is None:
        return _bundled_catalog()
    raw_bases: dict[str, dict[str, Any]] = {}
    raw_objects: dict[str, dict[str, Any]] = {}
    raw_types: dict[str, tuple[str, dict[str, Any]]] = {}
    complete: list[str] = []
    for name, text in files:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise SchemaLoadError(f"Catalog file {name} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise SchemaLoadError(f"Catalog file {name} must be a mapping.")
        unknown = set(data) - {"complete", "bases", "objects", "types"}
        if unknown:
            raise SchemaLoadError(f"Catalog file {name}: unknown section(s) {sorted(unknown)}.")
        complete.extend(data.get("complete") or [])
        for section, target in (("bases", raw_bases), ("objects", raw_objects)):
            for key, value in (data.get(section) or {}).items():
                if key in target:
                    raise SchemaLoadError(f"Catalog file {name}: {section[:-1]} '{key}' is defined twice.")
                target[key] = value or {}
        for key, value in (data.get("types") or {}).items():
            if key in raw_types:
                raise SchemaLoadError(f"Catalog file {name}: type '{key}' is also defined in {raw_types[key][0]}.")
            raw_types[key] = (name, value or {})

    resolver = _BaseResolver(raw_bases)
    objects = {
        key: ObjectDef(key, _properties(value.get("properties") or {}, f"object {key}"))
        for key, value in raw_objects.items()
    }
    types: dict[str, TypeDef] = {}
    for key, (filename, value) in raw_types.items():
        where = f"{filename}: type {key}"
        unknown = set(value) - _TYPE_KEYS
        if unknown:
            raise SchemaLoadError(f"{where}: unknown key(s) {sorted(unknown)}.")
        kind = value.get("kind")
        if kind not in _KNOWN_KINDS:
            raise SchemaLoadError(f"{where}: kind must be one of {sorted(_KNOWN_KINDS)}, not {kind!r}.")
        props: dict[str, PropertySpec] = {}
        for base in value.get("extends") or []:
            props.update(resolver.resolve(base, where))
        props.update(_properties(value.get("properties") or {}, where))
        types[key] = TypeDef(
            name=key,
            kind=kind,
            title=str(value.get("title") or "").strip(),
            aliases=tuple(value.get("aliases") or ()),
            properties=props,
            since=value.get("since"),
            until=value.get("until"),
            deprecated=bool(value.get("deprecated", False)),
        )
    catalog = Catalog(types=types, objects=objects, complete_packages=tuple(complete))
    _check_references(catalog)
    return catalog


class _BaseResolver:
    def __init__(self, raw: dict[str, dict[str, Any]]) -> None:
        self.raw = raw
        self.done: dict[str, dict[str, PropertySpec]] = {}

    def resolve(self, name: str, where: str, chain: tuple[str, ...] = ()) -> dict[str, PropertySpec]:
        if name in self.done:
            return self.done[name]
        if name in chain:
            raise SchemaLoadError(f"{where}: bases extend each other in a cycle: {' → '.join((*chain, name))}.")
        if name not in self.raw:
            raise SchemaLoadError(f"{where}: unknown base '{name}'.")
        value = self.raw[name]
        props: dict[str, PropertySpec] = {}
        for parent in value.get("extends") or []:
            props.update(self.resolve(parent, where, (*chain, name)))
        props.update(_properties(value.get("properties") or {}, f"base {name}"))
        self.done[name] = props
        return props


def _properties(raw: Mapping[str, Any], where: str) -> dict[str, PropertySpec]:
    props: dict[str, PropertySpec] = {}
    for name, spec in raw.items():
        if isinstance(spec, str):
            props[name] = PropertySpec(name=name, type=spec)
            continue
        if not isinstance(spec, dict):
            raise SchemaLoadError(f"{where}: property '{name}' must be a type string or a mapping.")
        unknown = set(spec) - _PROPERTY_KEYS
        if unknown:
            raise SchemaLoadError(f"{where}: property '{name}' has unknown key(s) {sorted(unknown)}.")
        enum = spec.get("enum")
        props[name] = PropertySpec(
            name=name,
            type=str(spec.get("type") or ("string" if enum else "any")),
            required=bool(spec.get("required", False)),
            enum=tuple(enum) if enum else None,
            dynamic=bool(spec.get("dynamic", True)),
            deprecated=bool(spec.get("deprecated", False)),
            since=spec.get("since"),
            until=spec.get("until"),
            pattern=spec.get("pattern"),
            min_length=spec.get("min_length"),
            max_length=spec.get("max_length"),
            min_items=spec.get("min_items"),
            title=spec.get("title"),
        )
    return props


def _check_references(catalog: Catalog) -> None:
    """Every `@Name` and family name used in a type expression must exist."""
    from ._typeexpr import parse_type_expr, referenced_names  # local: avoids an import cycle

    def check(props: Mapping[str, PropertySpec], where: str) -> None:
        for prop in props.values():
            try:
                expr = parse_type_expr(prop.type)
            except ValueError as exc:
                raise SchemaLoadError(f"{where}: property '{prop.name}': {exc}") from exc
            for ref in referenced_names(expr):
                if ref.startswith("@"):
                    if ref[1:] not in catalog.objects:
                        raise SchemaLoadError(f"{where}: property '{prop.name}' uses unknown object {ref}.")
                elif ref not in FAMILY_KINDS:
                    raise SchemaLoadError(f"{where}: property '{prop.name}' uses unknown family '{ref}'.")

    for t in catalog.types.values():
        check(t.properties, f"type {t.name}")
    for o in catalog.objects.values():
        check(o.properties, f"object {o.name}")


@functools.cache
def _bundled_catalog() -> Catalog:
    folder = resources.files("copilot.flows") / "catalog"
    files = sorted(
        (entry.name, entry.read_text(encoding="utf-8")) for entry in folder.iterdir() if entry.name.endswith(".yaml")
    )
    return load_catalog(files)
