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
    blocks: list[str] = []
    size = 0
    for name in wanted:
        block = _describe(schema, name, common)
        if size + len(block) + 1 > budget:
            break
        blocks.append(block)
        size += len(block) + 1
    if not blocks:
        return PluginFacts("", ())
    left_out = len(wanted) - len(blocks)
    more = f"\n[… {left_out} more types left out]" if left_out else ""
    shared = f"Not listed below: what every task or trigger takes ({', '.join(sorted(common))})."
    return PluginFacts(f"{shared}\n" + "\n".join(blocks) + more, tuple(wanted[: len(blocks)]), left_out)


def _describe(schema: FlowSchema, name: str, common: frozenset[str]) -> str:
    """`- TYPE: title` then its required properties and the others (not those every task or trigger has)."""
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


@functools.cache
def _common_properties(kestra_version: int) -> frozenset[str]:
    """What every task (or every trigger) has, from the bundled catalog's families: said once, not per type."""
    catalog = bundled_schema(kestra_version).catalog
    if catalog is None:
        return frozenset()
    shared: set[str] = set()
    for family in ("task", "trigger"):
        types = catalog.family(family, kestra_version)
        if types:
            shared |= frozenset.intersection(*(frozenset(t.properties) for t in types))
    return frozenset(shared - {"id", "type"})
