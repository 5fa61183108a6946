"""What a front end looks up without a model or a server, typed: a plugin type described from the bundled
catalog (`describe_plugin`), plugin types found by words (`find_plugins`), and the shape of a retrieval
index's hit (`SearchHit`, made by `Workspace.search`).

    description = describe_plugin("io.kestra.plugin.core.http.Request", kestra_version=1)
    matches = find_plugins("load bigquery", kestra_version=1)

The catalog is the project's compact one (copilot/flows/catalog/); given the schema in force
(`Workspace.flow_schema`: Kestra's live schema when there is one), a type the catalog lacks is described
and found from it — what is described is what `validate` accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import CopilotError
from .flows._values import as_dict

if TYPE_CHECKING:
    from .flows import Catalog, FlowSchema, PropertySpec

__all__ = [
    "ObjectInfo",
    "PluginDescription",
    "PluginMatch",
    "PropertyInfo",
    "SearchHit",
    "UnknownPlugin",
    "describe_plugin",
    "find_plugins",
]

_OBJECT_REF = re.compile(r"@([A-Za-z][A-Za-z0-9_.-]*)")
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


class UnknownPlugin(CopilotError):
    """The catalog has no such plugin type (the hint names the nearest ones)."""


@dataclass(frozen=True)
class PropertyInfo:
    name: str
    type: str  # a type expression: `string`, `list[task]`, `duration`, `@HttpOptions` (an object below) …
    required: bool = False
    enum: list[object] | None = None  # YAML scalars
    default: object = None  # documentation: what Kestra uses when it is left out
    deprecated: bool = False
    dynamic: bool = True  # Pebble `{{ … }}` accepted
    title: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """A named object a property's type refers to (`@Name`), with its own properties (one level)."""

    name: str
    properties: list[PropertyInfo]


@dataclass(frozen=True)
class PluginDescription:
    type: str  # the name to write as the task's `type:`
    kind: str  # task, flowable, trigger, condition, task-runner …
    title: str
    kestra_version: int
    properties: list[PropertyInfo]
    objects: list[ObjectInfo] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)  # old names Kestra still accepts
    deprecated: bool = False
    asked_as: str | None = None  # the alias it was asked by, when it was
    # What every plugin of its kind has (a task's allowFailure, retry, timeout …), by name only: described
    # once in Kestra's docs, not again with each plugin.
    common_properties: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PluginMatch:
    type: str
    kind: str
    title: str
    score: int  # how many of the words it matches


@dataclass(frozen=True)
class SearchHit:
    """One chunk of the retrieval index: a page section, a plugin's doc, a flow or a blueprint."""

    rank: int
    kind: str  # doc | plugin-doc | flow | blueprint
    title: str
    source: str  # the index source's name, e.g. kestra-docs
    location: str  # the path or URL it came from, with #anchor
    score: float
    text: str  # credentials redacted
    plugin_types: list[str] = field(default_factory=list)


def _property(spec: PropertySpec) -> PropertyInfo:
    return PropertyInfo(
        name=spec.name,
        type=spec.type,
        required=spec.required,
        enum=list(spec.enum) if spec.enum else None,
        default=spec.default,
        deprecated=spec.deprecated,
        dynamic=spec.dynamic,
        title=spec.title,
    )


def _catalog() -> Catalog:
    from .flows import load_catalog

    return load_catalog()


def describe_plugin(type_name: str, *, kestra_version: int, schema: FlowSchema | None = None) -> PluginDescription:
    """`type_name` (or an old alias of it) as the catalog knows it for Kestra `kestra_version`.x, else as
    `schema` (the schema in force) defines it: its properties (required first), and the objects they refer to,
    resolved one level. UnknownPlugin names the nearest types when there is none."""
    catalog = _catalog()
    name = type_name.strip()
    found = catalog.lookup(name)
    if found is None and schema is not None and name in schema.plugin_types():
        return _from_schema(schema, name, catalog, kestra_version)
    if found is None or not found.exists_in(kestra_version) or found.kind not in _PLUGIN_KINDS:
        short = name.rsplit(".", 1)[-1].lower()  # `Log`: the types of that class name first
        names = [t.name for t in catalog.plugin_types(kestra_version)] + [*(schema.plugin_types() if schema else ())]
        same_class = [other for other in dict.fromkeys(names) if other.rsplit(".", 1)[-1].lower() == short]
        words = " ".join(_words_of(name)[-2:])
        found_by_words = [m.type for m in find_plugins(words, kestra_version=kestra_version, limit=3, schema=schema)]
        nearest = list(dict.fromkeys([*sorted(same_class), *found_by_words]))[:3]
        said = f"Kestra {kestra_version}.x" + (" (it exists in another version)" if found is not None else "")
        where = "the catalog" if schema is None or schema.is_bundled else schema.looked_in
        raise UnknownPlugin(
            f"No plugin type {name!r} for {said} in {where}.",
            hint=(f"Did you mean {', '.join(nearest)}? " if nearest else "")
            + "Find types by words with find_plugins."
            + (
                " The bundled catalog covers the core plugins and the common ones; a type from another plugin is "
                "checked by validate with the server check."
                if schema is None or schema.is_bundled
                else ""
            ),
        )
    common = _common_properties(catalog, found.kind, kestra_version)
    every = [_property(spec) for spec in found.properties.values() if spec.exists_in(kestra_version)]
    properties = sorted(
        (p for p in every if p.name not in common or p.required), key=lambda p: (not p.required, p.name)
    )
    return PluginDescription(
        type=found.name,
        kind=found.kind,
        title=found.title,
        kestra_version=kestra_version,
        properties=properties,
        objects=_objects(catalog, properties, kestra_version),
        aliases=list(found.aliases),
        deprecated=found.deprecated,
        asked_as=name if name != found.name else None,
        common_properties=sorted(p.name for p in every if p.name in common and not p.required),
    )


def _from_schema(schema: FlowSchema, name: str, catalog: Catalog, version: int) -> PluginDescription:
    """A plugin type the catalog lacks, as the schema in force defines it (its family gives its kind)."""
    from .flows._merge import families
    from .flows._plugindef import plugin_definition, type_expression

    found = plugin_definition(schema, name)
    assert found is not None  # a plugin type of the schema
    definition = schema.type_index[name]
    kind = next((family for family, members in families(schema).items() if definition in members), "task")
    common = _common_properties(catalog, kind, version)
    every = [
        PropertyInfo(
            name=key,
            type=type_expression(schema, value),
            required=key in found.required,
            enum=[*enum] if isinstance(enum := as_dict(schema.resolve(value)).get("enum"), list) else None,
            default=as_dict(value).get("default"),
            deprecated=as_dict(value).get("$deprecated") is True,
            dynamic=as_dict(value).get("$dynamic") is not False,
            title=title if isinstance(title := as_dict(value).get("title"), str) else None,
        )
        for key, value in found.properties.items()
        if key not in ("id",)
    ]
    properties = sorted(
        (p for p in every if p.name not in common or p.required), key=lambda p: (not p.required, p.name)
    )
    return PluginDescription(
        type=found.canonical,
        kind=kind,
        title=found.title,
        kestra_version=version,
        properties=properties,
        deprecated=found.deprecated,
        asked_as=name if name != found.canonical else None,
        common_properties=sorted(p.name for p in every if p.name in common and not p.required),
    )


def _common_properties(catalog: Catalog, kind: str, version: int) -> frozenset[str]:
    """The properties every plugin type of `kind`'s family has (what its base gives them all)."""
    from .flows._catalog import FAMILY_KINDS

    family = next((name for name, kinds in FAMILY_KINDS.items() if kind in kinds), None)
    types = catalog.family(family, version) if family else []
    names = [frozenset(t.properties) for t in types]
    return frozenset.intersection(*names) if len(names) > 1 else frozenset()


_PLUGIN_KINDS = frozenset({"task", "flowable", "trigger", "condition", "task-runner"})


def _objects(catalog: Catalog, properties: list[PropertyInfo], version: int) -> list[ObjectInfo]:
    names = dict.fromkeys(ref for p in properties for ref in _OBJECT_REF.findall(p.type))
    objects = []
    for name in names:
        found = catalog.objects.get(name)
        if found is not None:
            inner = [_property(spec) for spec in found.properties.values() if spec.exists_in(version)]
            objects.append(ObjectInfo(name, sorted(inner, key=lambda p: (not p.required, p.name))))
    return objects


def _words_of(text: str) -> list[str]:
    """`io.kestra.plugin.gcp.bigquery.Load` → io, kestra, plugin, gcp, bigquery, load; `CopyIn` → copy, in."""
    return [word.lower() for word in _WORD.findall(text)]


def find_plugins(
    words: str, *, kestra_version: int, limit: int = 10, schema: FlowSchema | None = None
) -> list[PluginMatch]:
    """The plugin types for Kestra `kestra_version`.x — the catalog's, and those `schema` (the schema in force)
    adds — that match the most of `words` in their name or title (each word counts once; a type must match at
    least one), best first."""
    wanted = {w for w in _words_of(words) if w not in ("io", "kestra", "plugin")}
    if not wanted:
        return []
    matches = []
    known: set[str] = set()
    for plugin in _catalog().plugin_types(kestra_version):
        known.add(plugin.name)
        score = _score(plugin.name, plugin.title, wanted)
        if score:
            matches.append(PluginMatch(plugin.name, plugin.kind, plugin.title, score))
    if schema is not None and not schema.is_bundled:
        matches += _schema_matches(schema, wanted, known)
    matches.sort(key=lambda m: (-m.score, m.type))
    return matches[:limit]


def _schema_matches(schema: FlowSchema, wanted: set[str], known: set[str]) -> list[PluginMatch]:
    from .flows._merge import families
    from .flows._plugindef import plugin_definition

    kinds = {member: family for family, members in families(schema).items() for member in members}
    matches = []
    for name in schema.plugin_types():
        if name in known:
            continue
        found = plugin_definition(schema, name)
        score = _score(name, found.title if found else "", wanted)
        if score and found is not None:
            kind = kinds.get(schema.type_index[name], "task")
            matches.append(PluginMatch(name, kind, found.title, score))
    return matches


def _score(type_name: str, title: str, wanted: set[str]) -> int:
    named = _words_of(type_name)
    said = _words_of(title)
    # A word in the type's name weighs more than one in its title (a class name says what it is).
    return sum(2 if _among(word, named) else 1 if _among(word, said) else 0 for word in wanted)


def _among(word: str, words: list[str]) -> bool:
    """`word` is one of `words`, or (4 letters or more) begins one: postgres → postgresql, schedul → schedule."""
    return any(other == word or (len(word) >= 4 and other.startswith(word)) for other in words)


_PROPERTY_HEADING = re.compile(r"^#{2,6}\s+`([A-Za-z_][\w.-]*)`\s*$")


def property_notes(pages: Iterable[str]) -> dict[str, str]:
    """What a plugin's doc says of each property (its "#### `name`" sections: the first paragraph that is
    not a `- Java type:` / `- Default:` line), from its plugin-doc pages or chunks."""
    notes: dict[str, str] = {}
    for page in pages:
        name: str | None = None
        paragraph: list[str] = []
        for line in [*page.splitlines(), "#### `\0`"]:  # a last heading ends the last section
            heading = _PROPERTY_HEADING.match(line.strip())
            if heading or line.startswith("#"):
                if name and paragraph and name not in notes:
                    notes[name] = " ".join(paragraph)[:400]
                name, paragraph = (heading.group(1) if heading else None), []
            elif name and line.strip() and not line.lstrip().startswith("- ") and name not in notes:
                paragraph.append(line.strip())
            elif name and not line.strip() and paragraph and name not in notes:
                notes[name] = " ".join(paragraph)[:400]
    return notes
