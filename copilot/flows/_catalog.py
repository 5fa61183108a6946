"""The offline plugin catalog: compact YAML files in `copilot/flows/catalog/` (format in its README).

Loading merges every file, resolves `extends:` chains and checks the data, so a typo in the catalog
fails loudly at load time instead of producing a wrong schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import yaml

from ._errors import SchemaLoadError
from ._types import YamlMap, YamlValue

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
# libyaml's loader when the platform has it (several times faster); the catalog is ours, and reads the same
# with either (tests/flows check it).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class PropertySpec:
    name: str
    type: str = "any"
    required: bool = False
    enum: tuple[YamlValue, ...] | None = None
    dynamic: bool = True
    deprecated: bool = False
    since: int | None = None
    until: int | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    title: str | None = None
    default: YamlValue = None  # documentation only (what Kestra uses when it is left out)

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
    raw_bases: dict[str, YamlMap] = {}
    raw_objects: dict[str, YamlMap] = {}
    raw_types: dict[str, tuple[str, YamlMap]] = {}
    complete: list[str] = []
    for name, text in files:
        try:
            data: YamlValue = yaml.load(text, Loader=_LOADER) or {}  # YAML data (a safe loader builds nothing else)
        except yaml.YAMLError as exc:
            raise SchemaLoadError(f"Catalog file {name} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise SchemaLoadError(f"Catalog file {name} must be a mapping.")
        unknown = set(data) - {"complete", "bases", "objects", "types"}
        if unknown:
            raise SchemaLoadError(f"Catalog file {name}: unknown section(s) {sorted(unknown)}.")
        complete.extend(_names(data.get("complete"), f"Catalog file {name}: complete"))
        for section, target in (("bases", raw_bases), ("objects", raw_objects)):
            for key, value in _mapping(data.get(section), f"Catalog file {name}: {section}").items():
                if key in target:
                    raise SchemaLoadError(f"Catalog file {name}: {section[:-1]} '{key}' is defined twice.")
                target[key] = _mapping(value, f"Catalog file {name}: {section[:-1]} '{key}'")
        for key, value in _mapping(data.get("types"), f"Catalog file {name}: types").items():
            if key in raw_types:
                raise SchemaLoadError(f"Catalog file {name}: type '{key}' is also defined in {raw_types[key][0]}.")
            raw_types[key] = (name, _mapping(value, f"Catalog file {name}: type '{key}'"))

    resolver = _BaseResolver(raw_bases)
    objects = {
        key: ObjectDef(key, _properties(value.get("properties"), f"object {key}")) for key, value in raw_objects.items()
    }
    types: dict[str, TypeDef] = {}
    for key, (filename, value) in raw_types.items():
        where = f"{filename}: type {key}"
        unknown = set(value) - _TYPE_KEYS
        if unknown:
            raise SchemaLoadError(f"{where}: unknown key(s) {sorted(unknown)}.")
        kind = value.get("kind")
        if not isinstance(kind, str) or kind not in _KNOWN_KINDS:
            raise SchemaLoadError(f"{where}: kind must be one of {sorted(_KNOWN_KINDS)}, not {kind!r}.")
        props: dict[str, PropertySpec] = {}
        for base in _names(value.get("extends"), f"{where}: extends"):
            props.update(resolver.resolve(base, where))
        props.update(_properties(value.get("properties"), where))
        types[key] = TypeDef(
            name=key,
            kind=kind,
            title=str(value.get("title") or "").strip(),
            aliases=tuple(_names(value.get("aliases"), f"{where}: aliases")),
            properties=props,
            since=_whole(value.get("since"), f"{where}: since"),
            until=_whole(value.get("until"), f"{where}: until"),
            deprecated=bool(value.get("deprecated", False)),
        )
    catalog = Catalog(types=types, objects=objects, complete_packages=tuple(complete))
    _check_references(catalog)
    return catalog


class _BaseResolver:
    def __init__(self, raw: dict[str, YamlMap]) -> None:
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
        for parent in _names(value.get("extends"), f"base {name}: extends"):
            props.update(self.resolve(parent, where, (*chain, name)))
        props.update(_properties(value.get("properties"), f"base {name}"))
        self.done[name] = props
        return props


def _mapping(value: YamlValue, what: str) -> YamlMap:
    """A section or an entry of a catalog file (empty when left empty)."""
    mapping = value or {}
    if not isinstance(mapping, dict):
        raise SchemaLoadError(f"{what} must be a mapping.")
    return mapping


def _names(value: YamlValue, what: str) -> list[str]:
    """`extends`, `aliases`, `complete`: a list of names (none when left empty)."""
    items = value or []
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise SchemaLoadError(f"{what} must be a list of names.")
    return [item for item in items if isinstance(item, str)]


def _whole(value: YamlValue, what: str) -> int | None:
    """`since`, `until`, `min_length` …: a whole number, or none."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise SchemaLoadError(f"{what} must be a whole number, not {value!r}.")


def _text(value: YamlValue, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise SchemaLoadError(f"{what} must be text, not {value!r}.")


def _properties(raw: YamlValue, where: str) -> dict[str, PropertySpec]:
    props: dict[str, PropertySpec] = {}
    for name, spec in _mapping(raw, f"{where}: properties").items():
        if isinstance(spec, str):
            props[name] = PropertySpec(name=name, type=spec)
            continue
        if not isinstance(spec, dict):
            raise SchemaLoadError(f"{where}: property '{name}' must be a type string or a mapping.")
        unknown = set(spec) - _PROPERTY_KEYS
        if unknown:
            raise SchemaLoadError(f"{where}: property '{name}' has unknown key(s) {sorted(unknown)}.")
        enum = spec.get("enum")
        what = f"{where}: property '{name}'"
        props[name] = PropertySpec(
            name=name,
            type=str(spec.get("type") or ("string" if enum else "any")),
            required=bool(spec.get("required", False)),
            enum=tuple(enum) if isinstance(enum, list) and enum else None,
            dynamic=bool(spec.get("dynamic", True)),
            deprecated=bool(spec.get("deprecated", False)),
            since=_whole(spec.get("since"), f"{what}: since"),
            until=_whole(spec.get("until"), f"{what}: until"),
            pattern=_text(spec.get("pattern"), f"{what}: pattern"),
            min_length=_whole(spec.get("min_length"), f"{what}: min_length"),
            max_length=_whole(spec.get("max_length"), f"{what}: max_length"),
            min_items=_whole(spec.get("min_items"), f"{what}: min_items"),
            title=_text(spec.get("title"), f"{what}: title"),
            default=spec.get("default"),
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


def _bundled_catalog() -> Catalog:
    from ._bundled import bundled

    return bundled().catalog
