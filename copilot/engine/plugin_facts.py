"""The plugin facts a turn puts in front of the model: for the plugin types that matter to it (those of the
current flow, of the request, of the retrieved sources and, for a repair, of the failing flow and its
findings), each type's title, required properties and property names, from the schema in force
(Workspace.flow_schema: Kestra's live schema when there is one, the bundled catalog otherwise).

The text is compact (a character budget: the types of the flow first, then the others in the order they
were found, so the same turn always gives the same text) and goes to the model fenced as data (prompt.as_data):
a hosted schema's titles are text from outside.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..flows import FlowSchema, bundled_schema
from ..flows._plugindef import plugin_definition

__all__ = ["PLUGIN_FACTS_CHARS", "PluginFacts", "plugin_facts", "plugin_types_in"]

PLUGIN_FACTS_CHARS = 4000  # the part's budget: ~1,000 tokens, a dozen types
MAX_TITLE_CHARS = 160
_FAMILIES = ("task", "trigger")  # the families whose common properties are said once
_TYPE_NAME = re.compile(r"(?<![\w.])(?:[a-z][a-z0-9_]*\.)+[A-Z][A-Za-z0-9_]*")


@dataclass(frozen=True)
class PluginFacts:
    text: str  # "" when no type the schema knows matters to the turn
    types: tuple[str, ...]  # the types described, in order
    left_out: int = 0  # types that matter but did not fit the budget


def plugin_types_in(texts: Iterable[str]) -> list[str]:
    """Every name that looks like a plugin type (`io.kestra.plugin.core.log.Log`), in order, once."""
    return list(dict.fromkeys(name for text in texts for name in _TYPE_NAME.findall(text)))


def plugin_facts(
    schema: FlowSchema | None,
    texts: Sequence[str],
    *,
    kestra_version: int = 1,
    skip: Iterable[str] = (),
    budget: int = PLUGIN_FACTS_CHARS,
) -> PluginFacts:
    """The facts of the plugin types named in `texts` (in that order) that `schema` defines (the bundled one
    when None), but those of `skip` (already given), within `budget` characters."""
    schema = schema or bundled_schema(kestra_version)
    definitions = _plugin_definitions(schema)
    skipped = set(skip)
    wanted = [
        name for name in plugin_types_in(texts) if name not in skipped and schema.type_index.get(name) in definitions
    ]
    common = _common_properties(schema.kestra_version)
    members = _family_members(schema)
    blocks: list[str] = []
    families: set[str] = set()
    size = 0
    for name in wanted:
        definition = schema.type_index[name]
        family = next((f for f, names in members.items() if definition in names), None)  # a condition: none
        block = _describe(schema, name, common[family] if family else frozenset())
        if size + len(block) + 1 > budget:
            break
        blocks.append(block)
        families.update([family] if family else [])
        size += len(block) + 1
    if not blocks:
        return PluginFacts("", ())
    left_out = len(wanted) - len(blocks)
    more = f"\n[… {left_out} more types left out]" if left_out else ""
    shared = "; ".join(
        f"what every {family} takes ({', '.join(sorted(common[family]))})"
        for family in _FAMILIES
        if family in families and common[family]
    )
    head = f"Not listed below: {shared}.\n" if shared else ""
    return PluginFacts(head + "\n".join(blocks) + more, tuple(wanted[: len(blocks)]), left_out)


def _describe(schema: FlowSchema, name: str, common: frozenset[str]) -> str:
    """`- TYPE: title` then its required properties and the others (not those every type of its family has)."""
    found = plugin_definition(schema, name)
    assert found is not None  # `plugin_facts` describes the types the schema defines
    title = found.title
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1] + "…"
    required = sorted(found.required - {"id"})
    others = [p for p in sorted(found.properties) if p != "id" and p not in found.required and p not in common]
    canonical = found.canonical
    lines = [f"- {name}" + (f" (now {canonical})" if canonical != name else "") + (f": {title}" if title else "")]
    lines.append(f"  required: {', '.join(required) or '(none)'}")
    if others:
        lines.append(f"  other properties: {', '.join(others)}")
    return "\n".join(lines)


@functools.lru_cache(maxsize=4)
def _plugin_definitions(schema: FlowSchema) -> frozenset[str]:
    """The definitions of the schema's plugin types (an alias selects the same one), once per schema."""
    return frozenset(schema.type_index[name] for name in schema.plugin_types())


@functools.lru_cache(maxsize=4)
def _family_members(schema: FlowSchema) -> dict[str, frozenset[str]]:
    """The definitions of the schema's tasks and of its triggers, read from where its Flow root lists them
    (conditions and task runners are neither: they take none of the common properties said once)."""
    from ..flows._merge import families

    found = families(schema)
    return {family: frozenset(found.get(family, ())) for family in _FAMILIES}


@functools.cache
def _common_properties(kestra_version: int) -> dict[str, frozenset[str]]:
    """What every task, and every trigger, takes in Kestra `kestra_version`.x, from the bundled catalog's families:
    said once, not per type (a property of the other version, like 2.x's `workerSelector` in 1.x, is not)."""
    catalog = bundled_schema(kestra_version).catalog
    shared = dict.fromkeys(_FAMILIES, frozenset[str]())
    if catalog is None:
        return shared
    for family in shared:
        types = catalog.family(family, kestra_version)
        if types:
            common = frozenset.intersection(
                *(frozenset(p.name for p in t.properties.values() if p.exists_in(kestra_version)) for t in types)
            )
            shared[family] = common - {"id", "type"}
    return shared
