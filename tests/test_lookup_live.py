"""describe_plugin and find_plugins (the MCP tools' lookups) with Kestra's live schema in force: a plugin the
bundled catalog lacks is described and found from the schema that judges it (the full-format schema of every
documented plugin, merged with the 1.x flow model as Workspace.flow_schema does)."""

from __future__ import annotations

import pytest

from copilot.flows import FlowSchema, bundled_schema
from copilot.flows._merge import merge
from copilot.lookup import UnknownPlugin, describe_plugin, find_plugins
from tests.fakes.hosted_schema import full_flow_schema

FIND = "io.kestra.plugin.mongodb.Find"  # documented, not in the bundled catalog


@pytest.fixture(scope="module")
def live() -> FlowSchema:
    hosted = FlowSchema(full_flow_schema(), source="Kestra's live schema (x, fetched 2026-12-05)", checked=True)
    return merge(hosted, 1)


def test_a_plugin_only_the_live_schema_has_is_described_from_it(live: FlowSchema) -> None:
    with pytest.raises(UnknownPlugin):
        describe_plugin(FIND, kestra_version=1)  # the catalog alone does not know it
    plugin = describe_plugin(FIND, kestra_version=1, schema=live)
    assert (plugin.type, plugin.kind, plugin.title) == (FIND, "task", "Query documents from MongoDB")
    properties = {p.name: p for p in plugin.properties}
    assert [p.name for p in plugin.properties if p.required] == ["collection", "connection", "database"]
    assert (properties["store"].type, properties["store"].default) == ("boolean", False)
    assert properties["limit"].type == "integer" and properties["limit"].dynamic  # `{{ }}` accepted, not "string"
    assert "retry" in plugin.common_properties and "retry" not in properties  # what every task has: named once


def test_a_bundled_plugin_is_still_described_from_the_catalog(live: FlowSchema) -> None:
    log = "io.kestra.plugin.core.log.Log"
    assert describe_plugin(log, kestra_version=1, schema=live) == describe_plugin(log, kestra_version=1)


def test_find_plugins_finds_live_types_and_an_unknown_one_says_where_it_looked(live: FlowSchema) -> None:
    assert FIND not in [m.type for m in find_plugins("mongodb find", kestra_version=1)]
    assert find_plugins("mongodb find", kestra_version=1, schema=live)[0].type == FIND
    with pytest.raises(UnknownPlugin) as raised:
        describe_plugin("io.kestra.plugin.mongodb.Fnd", kestra_version=1, schema=live)
    assert "in Kestra's live schema (x, fetched 2026-12-05) or the bundled catalog" in str(raised.value)
    assert bundled_schema(1).is_bundled  # and with the bundled schema, the catalog's wording is unchanged
    with pytest.raises(UnknownPlugin, match="in the catalog"):
        describe_plugin("io.kestra.plugin.mongodb.Fnd", kestra_version=1, schema=bundled_schema(1))
