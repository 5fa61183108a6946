"""The full-format flow schema of tests/fakes/hosted_schema.py: a valid draft-07 schema in Kestra's format for
every plugin type Kestra documents, that judges Kestra's own blueprints as the real one would, and catches an
invented property on a plugin the bundled catalog lacks — directly and served as the hosted live schema.
Generated once per test session (about a second), checked against the meta-schema once (a few seconds)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from copilot.config import Settings
from copilot.flows import FlowSchema, bundled_schema, validate_flow
from copilot.workspace import Workspace
from tests.conftest import shared_path
from tests.fakes.hosted_schema import (
    HostedSchema,
    classify,
    doc_pages,
    full_flow_schema,
    full_flow_schema_bytes,
    parse_java,
)

SNOWFLAKE = "io.kestra.plugin.jdbc.snowflake.Query"
MONGO_FIND = "io.kestra.plugin.mongodb.Find"
ELASTIC_SEARCH = "io.kestra.plugin.elasticsearch.Search"


@pytest.fixture(scope="module")
def full() -> FlowSchema:
    shared_path("kestra-plugin-docs", "reference")
    return FlowSchema(full_flow_schema(), source="full-format test schema")  # checked against draft-07 here


@pytest.fixture(scope="module")
def hosted() -> Iterator[HostedSchema]:
    shared_path("kestra-plugin-docs", "reference")
    with HostedSchema(full_flow_schema_bytes()) as server:
        yield server


def _flow(*task_lines: str) -> str:
    return "id: f\nnamespace: company.team\ntasks:\n" + "\n".join(task_lines) + "\n"


SNOWFLAKE_TASK = (
    "  - id: q",
    f"    type: {SNOWFLAKE}",
    "    url: jdbc:snowflake://acme.snowflakecomputing.com",
    "    username: me",
    "    password: \"{{ secret('SNOWFLAKE_PASSWORD') }}\"",
    "    sql: SELECT 1",
    "    fetchType: FETCH_ONE",
)


# --- the schema itself -------------------------------------------------------------------------------------
def test_it_passes_the_meta_schema_and_defines_every_documented_plugin_type(full: FlowSchema) -> None:
    documented = set(doc_pages())
    assert len(documented) >= 1000
    assert documented <= set(full.type_index)  # every page's type, by its `type` const
    assert full.definitions[SNOWFLAKE]["properties"]["type"] == {"const": SNOWFLAKE}


def test_it_keeps_the_real_samples_flow_model_and_tasks() -> None:
    sample = json.loads(shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json").read_text())
    schema = full_flow_schema()
    for name in ("io.kestra.plugin.core.log.Log", "io.kestra.core.models.flows.input.StringInput-2"):
        assert schema["definitions"][name] == sample["definitions"][name]
    flow = schema["definitions"]["io.kestra.core.models.flows.Flow"]["properties"]
    assert set(flow) == set(sample["definitions"]["io.kestra.core.models.flows.Flow"]["properties"])


def test_definitions_are_written_as_kestras_generator_writes_them() -> None:
    definitions = full_flow_schema()["definitions"]
    snowflake = definitions[SNOWFLAKE]
    assert (
        snowflake["title"] and "##### Examples" in snowflake["markdownDescription"] and "rows" in snowflake["outputs"]
    )
    props = snowflake["properties"]
    assert props["sql"]["type"] == "string" and props["sql"]["$dynamic"] is True
    # a dynamic scalar also takes a Pebble expression; the default is said as Kestra says it
    assert [b["type"] for b in props["fetchSize"]["anyOf"]] == ["integer", "string"]
    assert props["fetchSize"]["default"] == 10000
    assert "Default value is : `10000`" in props["fetchSize"]["anyOf"][0]["markdownDescription"]
    assert props["allowFailure"]["$group"] == "core"  # the common task properties, from the sample's Log
    assert {"id", "sql", "type"} <= set(snowflake["required"])
    schedule = definitions["io.kestra.plugin.core.trigger.Schedule"]["properties"]
    assert schedule["stopAfter"]["items"]["enum"][0] == "CREATED" and "conditions" in schedule


def test_java_types_map_to_json_types() -> None:
    assert parse_java("Property<Map<String,List<Integer>>>").args[0].args[1].args[0].name == "Integer"
    assert parse_java("String[]").name == "List"
    duration = full_flow_schema()["definitions"]["io.kestra.plugin.core.flow.Sleep"]["properties"]["duration"]
    assert {"type": "string", "format": "duration"}.items() <= (duration.get("anyOf") or [duration])[0].items()


@pytest.mark.parametrize(
    ("type_name", "kind"),
    [
        ("io.kestra.plugin.core.trigger.Schedule", "trigger"),
        ("io.kestra.plugin.amqp.Trigger", "trigger"),  # one example shows it under `tasks`, by mistake
        ("io.kestra.plugin.core.condition.ExecutionStatus", "condition"),
        ("io.kestra.plugin.scripts.runner.docker.Docker", "runner"),
        ("io.kestra.plugin.ai.provider.GoogleGemini", "provider"),
        ("io.kestra.plugin.core.flow.Parallel", "task"),
        ("io.kestra.plugin.core.execution.Fail", "task"),
    ],
)
def test_each_type_is_classified_by_where_kestras_examples_put_it(type_name: str, kind: str) -> None:
    shared_path("kestra-plugin-docs", "reference")
    assert classify(type_name) == kind


def test_each_kind_is_accepted_where_it_belongs(full: FlowSchema) -> None:
    text = (
        _flow(
            "  - id: par",
            "    type: io.kestra.plugin.core.flow.Parallel",
            "    tasks:",
            "      - id: py",
            "        type: io.kestra.plugin.scripts.python.Script",
            "        script: print(1)",
            "        taskRunner:",
            "          type: io.kestra.plugin.scripts.runner.docker.Docker",
            "  - id: agent",
            "    type: io.kestra.plugin.ai.agent.AIAgent",
            "    prompt: hi",
            "    provider:",
            "      type: io.kestra.plugin.ai.provider.GoogleGemini",
            "      apiKey: \"{{ secret('GEMINI') }}\"",
            "      modelName: gemini-2.5-flash",
        )
        + "triggers:\n  - id: on_fail\n    type: io.kestra.plugin.core.trigger.Flow\n    conditions:\n"
        + "      - type: io.kestra.plugin.core.condition.ExecutionStatus\n        in: [FAILED]\n"
    )
    result = validate_flow(text, full)
    assert result.valid, [d.format() for d in result.diagnostics]
    wrong = validate_flow(text.replace("core.trigger.Flow", "core.log.Log"), full)
    assert not wrong.valid  # a task is no trigger


# --- real flows ---------------------------------------------------------------------------------------------
def _false_errors(full: FlowSchema) -> Counter[str]:
    """Unknown-type / unknown-property errors on Kestra's dev blueprints (all meant to be accepted), by cause."""
    documented = set(doc_pages()) | set(bundled_schema(1).type_index)
    causes: Counter[str] = Counter()
    with shared_path("kestra-flows", "dev.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            for d in validate_flow(json.loads(line)["yaml"], full).diagnostics:
                if d.code == "unknown-type":
                    named = re.search(r"type `([^`]+)`", d.message)
                    documented_type = named is not None and named.group(1) in documented
                    causes["generator: a documented type" if documented_type else "docs: type not documented"] += 1
                elif d.code == "unknown-property":
                    flow_model = "`retry`" in d.message or " in input " in d.message
                    causes["sample: 1.3 flow model" if flow_model else "docs: property not documented"] += 1
    return causes


def test_real_blueprints_meet_few_false_errors_and_none_from_the_generator(full: FlowSchema) -> None:
    causes = _false_errors(full)
    assert causes["generator: a documented type"] == 0, causes
    assert causes["docs: property not documented"] <= 12, causes  # dbt's inputFiles, GCP's serviceAccount…


# --- what it catches that the bundled catalog cannot --------------------------------------------------------
@pytest.mark.parametrize(
    ("task", "invented"),
    [
        (
            (
                "  - id: search",
                f"    type: {ELASTIC_SEARCH}",
                "    connection:",
                "      hosts: [http://localhost:9200]",
                "    indexes: [my_index]",
                "    request: {query: {match_all: {}}}",
            ),
            "    fetchSizes: 100",
        ),
        (
            (
                "  - id: find",
                f"    type: {MONGO_FIND}",
                "    connection:",
                '      uri: "mongodb://localhost:27017"',
                "    database: shop",
                "    collection: orders",
            ),
            "    query_filter: {}",
        ),
    ],
)
def test_an_invented_property_on_a_plugin_the_catalog_lacks_is_caught(
    full: FlowSchema, task: tuple[str, ...], invented: str
) -> None:
    bundled = bundled_schema(1)
    type_name = task[1].split("type: ")[1]
    assert type_name not in bundled.type_index
    text = _flow(*task)
    assert validate_flow(text, full).valid, [d.format() for d in validate_flow(text, full).diagnostics]
    mutated = _flow(*task, invented)
    key = invented.strip().split(":")[0]
    caught = [d for d in validate_flow(mutated, full).diagnostics if d.code == "unknown-property"]
    assert caught and key in caught[0].message
    assert not any(d.code == "unknown-property" for d in validate_flow(mutated, bundled).diagnostics)


def test_served_as_the_hosted_live_schema_it_judges_through_the_product(hosted: HostedSchema, tmp_path: Path) -> None:
    settings = Settings(live_schema=True, live_schema_url=hosted.url, cache_dir=tmp_path / "cache")
    loaded = Workspace(settings).flow_schema(1)
    assert loaded.note is None and loaded.schema.source.startswith("Kestra's live schema (")
    mutated = _flow(*SNOWFLAKE_TASK, "    queryTags: nightly")  # a near-miss of Snowflake's queryTag
    codes = [d.code for d in validate_flow(mutated, loaded.schema).diagnostics]
    assert "unknown-property" in codes
    Workspace(settings).flow_schema(1)  # a second process: the cached copy, no request within the day
    assert len(hosted.requests) == 1
