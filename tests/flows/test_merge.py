"""A live (hosted) or server schema merged with the bundled catalog for the user's Kestra version: the plugins
come from the live schema, the flow model and the version rules stay ours, the catalog fills in what the live
schema lacks (and says so); every type the merged schema defines is checked strictly."""

from __future__ import annotations

import copy
import json
from functools import cache

import pytest

from copilot.flows import FlowSchema, validate_flow
from copilot.flows._merge import families, merge
from copilot.flows._schema import _check_schema
from copilot.flows._types import YamlMap, YamlValue
from tests.conftest import real_flows, shared_path
from tests.flows.mutations import mutations_of
from tests.flows.test_bundled import _data, _verdicts

LIVE = "Kestra's live schema (https://api.kestra.io/v1/plugins/schemas/flow, fetched 2026-12-05)"
CORE = "io.kestra.plugin.core"
ACME = "io.kestra.plugin.acme"
TASKS = (f"{CORE}.log.Log", f"{ACME}.Thing", f"{ACME}.Group", f"{CORE}.flow.Loop", f"{ACME}.Split-2")
RUNNERS = (f"{ACME}.runner.Local", f"{ACME}.runner.Pod")


def _ref(name: str) -> YamlMap:
    return {"$ref": f"#/definitions/{name}"}


def _wrapped(name: str) -> YamlMap:
    """How Kestra's schema wraps a reference to carry annotations."""
    return {"allOf": [_ref(name), {"$dynamic": False, "$group": "core"}]}


def _plugin(type_name: str, properties: YamlMap, required: tuple[str, ...] = ()) -> YamlMap:
    """A 2.x-era plugin definition, as Kestra's hosted schema has it: the common properties of its kind
    (`workerSelector`, not 1.x's `workerGroup`), a `$dynamic` `anyOf` timeout, its `type` pinned by `const`."""
    common: YamlMap = {
        "id": {"type": "string", "minLength": 1, "pattern": "^[a-zA-Z0-9][a-zA-Z0-9_-]*"},
        "type": {"const": type_name},
        "allowFailure": {"type": "boolean", "$dynamic": False, "$group": "core"},
        "timeout": {"anyOf": [{"type": "string", "format": "duration"}, {"type": "string"}], "$dynamic": True},
        "retry": {"anyOf": [_wrapped("io.kestra.core.models.tasks.retrys.Constant-2")]},
        "workerSelector": {"type": "object", "$group": "core"},
    }
    return {
        "type": "object",
        "properties": {**common, **properties},
        "required": sorted({"id", "type", *required}),
        "title": f"The {type_name.rsplit('.', 1)[-1]} plugin.",
    }


@cache
def _hosted_2x() -> str:
    """A hosted schema that follows Kestra 2.x: its Flow root has no `pluginDefaults`, its plugins
    `workerSelector`, its Log no 1.x alias; it has `Loop` (2.x only) and plugins the catalog lacks (acme.*),
    one of them in Kestra's `-1`/`-2` shape, a flowable whose `tasks` list every task (Kestra inlines the
    family), a task runner family under `taskRunner`. Its inputs and retry policies are the real sample's."""
    sample = json.loads(shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json").read_text())
    definitions: YamlMap = {
        name: value
        for name, value in sample["definitions"].items()
        if name.startswith(("io.kestra.core.models.flows.input.", "io.kestra.core.models.tasks.retrys."))
        or name.startswith(("io.kestra.core.models.flows.DependsOn", "java."))
    }
    every_task: YamlMap = {"anyOf": [_ref(name) if i % 2 else _wrapped(name) for i, name in enumerate(TASKS)]}
    runners: YamlMap = {"anyOf": [_wrapped(name) for name in RUNNERS], "$dynamic": False}
    definitions[f"{CORE}.log.Log"] = _plugin(
        f"{CORE}.log.Log",
        {"message": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}},
        ("message",),
    )
    definitions[f"{ACME}.Thing"] = _plugin(
        f"{ACME}.Thing",
        {
            "count": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"\{\{"}], "$dynamic": True},
            "options": {"type": "object", "properties": {"depth": {"type": "integer"}, "mode": {"type": "string"}}},
            "taskRunner": runners,
        },
    )
    definitions[f"{ACME}.Group"] = _plugin(
        f"{ACME}.Group", {"tasks": {"type": "array", "items": copy.deepcopy(every_task), "minItems": 1}}, ("tasks",)
    )
    definitions[f"{CORE}.flow.Loop"] = _plugin(
        f"{CORE}.flow.Loop", {"values": {"type": "array"}, "tasks": {"type": "array", "items": every_task}}
    )
    split = _plugin(f"{ACME}.Split", {"rows": {"type": "integer"}})
    split["properties"]["type"] = {"enum": [f"{ACME}.Split", f"{ACME}.Splitter"]}
    definitions[f"{ACME}.Split-1"] = split
    definitions[f"{ACME}.Split-2"] = {
        "allOf": [
            _ref(f"{ACME}.Split-1"),
            {"type": "object", "properties": {"type": {"const": f"{ACME}.Split"}}, "required": ["type"]},
        ]
    }
    for name in RUNNERS:
        definitions[name] = {
            "type": "object",
            "properties": {"type": {"const": name}, "image": {"type": "string"}},
            "required": ["type"],
        }
    definitions[f"{CORE}.trigger.Flow"] = _plugin(
        f"{CORE}.trigger.Flow", {"dependsOn": {"type": "array"}, "when": {"type": "string"}}
    )
    definitions[f"{ACME}.Webhook"] = _plugin(f"{ACME}.Webhook", {"key": {"type": "string"}}, ("key",))
    inputs = sample["definitions"]["io.kestra.core.models.flows.Flow"]["properties"]["inputs"]
    definitions["io.kestra.core.models.flows.Flow"] = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "namespace": {"type": "string"},
            "description": {"type": "string"},
            "inputs": inputs,
            "tasks": {"type": "array", "items": copy.deepcopy(every_task), "minItems": 1},
            "errors": {"type": "array", "items": copy.deepcopy(every_task)},
            "triggers": {"type": "array", "items": {"anyOf": [_ref(f"{CORE}.trigger.Flow"), _ref(f"{ACME}.Webhook")]}},
            "retry": {"anyOf": [_ref("io.kestra.core.models.tasks.retrys.Constant-2")]},
            "workerSelector": {"type": "object"},
            "draft": {"type": "boolean"},
        },
        "required": ["id", "namespace", "tasks"],
    }
    return json.dumps(
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$ref": "#/definitions/io.kestra.core.models.flows.Flow",
            "definitions": definitions,
        }
    )


@cache
def _merged(version: int) -> FlowSchema:
    return merge(FlowSchema(json.loads(_hosted_2x()), source=LIVE), version)


def _said(flow: str, version: int) -> list[tuple[str, str, str]]:
    result = validate_flow(flow, _merged(version), kestra_version=version)
    return [(d.severity.value, d.code, d.message + " " + (d.hint or "")) for d in result.diagnostics]


def _codes(flow: str, version: int) -> list[str]:
    return [code for severity, code, _ in _said(flow, version) if severity == "error"]


HEAD = "id: hello\nnamespace: company.team\n"


# --- the families, from the live schema's own structure ---------------------------------------------------------
def test_the_families_are_read_from_where_the_flow_and_its_plugins_use_them() -> None:
    found = families(FlowSchema(json.loads(_hosted_2x()), source=LIVE))
    assert found["task"] == list(TASKS) and found["task-runner"] == list(RUNNERS)
    assert found["trigger"] == [f"{CORE}.trigger.Flow", f"{ACME}.Webhook"] and found["condition"] == []


def test_the_merged_schema_names_its_sources_and_which_defines_each_plugin_type() -> None:
    schema = _merged(1)
    assert schema.source == f"{LIVE} for plugins, with the Kestra 1.x flow model"
    types = schema.plugin_types()
    assert types[f"{ACME}.Thing"] == LIVE and types[f"{ACME}.runner.Pod"] == LIVE and types[f"{ACME}.Split"] == LIVE
    assert types[f"{CORE}.flow.ForEach"] == "bundled catalog (Kestra 1.x)"  # the live one lacks it
    assert f"{CORE}.flow.Loop" not in types  # Kestra 2.x only
    bundled = FlowSchema.from_catalog(schema.catalog, 1) if schema.catalog else None
    assert bundled is not None and set(bundled.plugin_types().values()) == {"bundled catalog (Kestra 1.x)"}
    assert len(bundled.plugin_types()) == len(bundled.catalog.plugin_types(1)) if bundled.catalog else False


def test_the_merged_schemas_pass_the_draft07_meta_schema() -> None:
    for version in (1, 2):
        _check_schema(_merged(version).raw)


# --- the flow model and the version rules are ours ---------------------------------------------------------------
def test_a_1x_flow_is_not_failed_for_2x_flow_rules() -> None:
    flow = HEAD + (
        "pluginDefaults:\n  - type: io.kestra.plugin.core.log.Log\n    values: {message: hi}\n"
        "tasks:\n  - id: a\n    type: io.kestra.plugin.acme.Thing\n    workerGroup: {key: gpu}\n"
        "triggers:\n  - id: t\n    type: io.kestra.plugin.core.trigger.Flow\n"
        "    preconditions: {id: p, flows: [{namespace: company.team, flowId: up}]}\n"
    )
    assert _codes(flow, 1) == []
    assert _codes(flow, 2).count("unknown-property") == 3  # pluginDefaults, workerGroup, preconditions: 1.x only


def test_a_2x_only_property_is_unknown_in_1x() -> None:
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.acme.Thing\n    workerSelector: {}\n"
    assert _codes(flow, 1) == ["unknown-property"] and _codes(flow, 2) == []


def test_1x_aliases_keep_working_and_2x_refuses_them() -> None:
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.core.tasks.log.Log\n    message: hi\n"
    assert _codes(flow, 1) == []
    ((_, code, message),) = [said for said in _said(flow, 2) if said[0] != "info"]
    assert code == "unknown-type" and "old name of `io.kestra.plugin.core.log.Log`" in message


def test_a_type_excluded_by_version_stays_excluded() -> None:
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.core.flow.Loop\n    values: [1]\n    tasks: []\n"
    ((_, code, message),) = _said(flow, 1)
    assert code == "unknown-type" and "does not exist in Kestra 1.x" in message
    assert _codes(flow, 2) == []


# --- strict checks for every type the merged schema defines -------------------------------------------------------
def test_a_live_only_types_invented_property_is_caught_with_a_did_you_mean() -> None:
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.acme.Thing\n    cuont: 3\n"
    ((severity, code, message),) = _said(flow, 1)
    assert (severity, code) == ("error", "unknown-property") and "Did you mean `count`?" in message


def test_nested_objects_dynamic_values_and_the_split_definition_shape_are_checked() -> None:
    flow = HEAD + (
        "tasks:\n  - id: a\n    type: io.kestra.plugin.acme.Thing\n    count: '{{ inputs.n }}'\n"
        "    options: {depth: 2, dept: 3}\n"
        "  - id: b\n    type: io.kestra.plugin.acme.Split\n    rows: 2\n    rowz: 3\n"
    )
    said = [(code, message) for _, code, message in _said(flow, 1)]
    assert [code for code, _ in said] == ["unknown-property", "unknown-property"]
    assert "`dept` in `options` of task 'a'" in said[0][1] and "Did you mean `rows`?" in said[1][1]


def test_a_task_nested_under_a_live_flowable_is_checked_like_a_top_level_one() -> None:
    flow = HEAD + (
        "tasks:\n  - id: g\n    type: io.kestra.plugin.acme.Group\n    tasks:\n"
        "      - id: inner\n        type: io.kestra.plugin.acme.Thing\n        invented: 1\n"
        "      - id: old\n        type: io.kestra.plugin.core.flow.ForEach\n        values: [1]\n"
        "        tasks:\n          - id: deep\n            type: io.kestra.plugin.core.log.Log\n            message: x\n"
    )
    said = _said(flow, 1)
    assert [code for _, code, _ in said] == ["unknown-property", "judged-by-catalog"]
    assert "`invented`" in said[0][2]  # a live task under a live flowable; a bundled one under it is accepted


def test_a_task_runner_is_judged_from_the_merged_family() -> None:
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.acme.Thing\n    taskRunner:\n"
    assert _codes(flow + "      type: io.kestra.plugin.acme.runner.Pod\n      image: x\n", 1) == []
    assert _codes(flow + "      type: io.kestra.plugin.acme.runner.Pod\n      imag: x\n", 1) == ["unknown-property"]


def test_a_bundled_only_type_is_still_judged_and_said_so() -> None:
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.core.flow.ForEach\n    values: [1]\n    tasks:\n"
    flow += "      - id: b\n        type: io.kestra.plugin.core.log.Log\n        message: x\n    concurency: 2\n"
    said = _said(flow, 1)
    assert [(severity, code) for severity, code, _ in said] == [
        ("info", "judged-by-catalog"),
        ("error", "unknown-property"),
    ]
    assert said[0][2].startswith(f"`io.kestra.plugin.core.flow.ForEach` is not in {LIVE}; the bundled catalog")


def test_an_unknown_type_names_the_sources_it_was_looked_for_in_with_a_did_you_mean() -> None:
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.acme.Thingy\n"
    ((_, code, message),) = _said(flow, 1)
    assert code == "unknown-type" and "Did you mean `io.kestra.plugin.acme.Thing`?" in message
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.private.Mine\n"
    ((severity, code, message),) = _said(flow, 1)
    assert (severity, code) == ("warning", "type-not-in-catalog")
    assert f"is not a type {LIVE} or the bundled catalog (Kestra 1.x) knows" in message


def test_a_servers_schema_is_its_plugins_exactly() -> None:
    """A server refuses a plugin it does not have: the catalog does not fill in for it."""
    server = merge(FlowSchema(json.loads(_hosted_2x()), source="the flow schema of Kestra 2.0.0"), 1, fill=False)
    assert set(server.plugin_types().values()) == {"the flow schema of Kestra 2.0.0"}
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.core.flow.ForEach\n    values: [1]\n    tasks: []\n"
    codes = [d.code for d in validate_flow(flow, server, kestra_version=1).diagnostics]
    assert codes == ["unknown-type"]


def test_the_all_bundled_case_says_what_it_said_before() -> None:
    from copilot.flows import bundled_schema

    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.private.Mine\n"
    (said,) = validate_flow(flow, bundled_schema(1)).diagnostics
    assert (
        said.message
        == "`io.kestra.plugin.private.Mine` is not in the offline catalog; its properties were not checked."
    )


# --- the fast validator agrees ----------------------------------------------------------------------------------
@pytest.mark.parametrize("version", [1, 2])
def test_the_pruned_fast_validator_and_the_reference_one_agree_on_the_merged_schema(version: int) -> None:
    schema = _merged(version)
    reference = schema.reference_validator()
    checked = differ = invalid = 0
    for number, record in enumerate(real_flows()):
        samples: list[YamlValue] = [_data(record["yaml"])]
        if number % 16 == 0:
            samples += [_data(m.text) for m in mutations_of(record["yaml"], schema, seed=number)]
        for data in samples:
            if data is None:
                continue
            whole, part = _verdicts(schema, data)
            agree = whole == part and (number % 4 or reference.is_valid(data) == whole)
            checked, differ, invalid = checked + 1, differ + (not agree), invalid + (not whole)
    assert checked > 2000 and invalid > 100 and differ == 0
