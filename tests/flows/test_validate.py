import json
from pathlib import Path

import pytest

from copilot.flows import FlowSchema, load_catalog, validate_flow
from copilot.flows._catalog import Catalog
from tests.conftest import shared_path

FLOW_YAML = (Path(__file__).resolve().parents[2] / "copilot" / "flows" / "catalog" / "flow.yaml").read_text()

PLUGINS = """
complete: [io.kestra.plugin.core]
objects:
  HttpOptions:
    properties:
      connectTimeout: duration
      followRedirects: boolean
types:
  io.kestra.plugin.core.log.Log:
    kind: task
    extends: [task]
    aliases: [io.kestra.core.tasks.log.Log]
    properties:
      message: {type: "string | list[string]", required: true}
      level: {enum: [ERROR, WARN, INFO, DEBUG, TRACE]}
  io.kestra.plugin.core.http.Request:
    kind: task
    extends: [task]
    properties:
      uri: {type: string, required: true}
      method: {enum: [GET, POST, PUT, DELETE]}
      options: "@HttpOptions"
  io.kestra.plugin.core.flow.Parallel:
    kind: flowable
    extends: [flowable]
    properties:
      tasks: {type: tasks, required: true}
      concurrent: integer
  io.kestra.plugin.core.flow.ForEach:
    kind: flowable
    extends: [flowable]
    until: 1
    properties:
      values: {type: "list[any] | string", required: true}
      tasks: {type: tasks, required: true}
  io.kestra.plugin.core.trigger.Schedule:
    kind: trigger
    extends: [trigger]
    properties:
      cron: {type: string, required: true}
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog([("flow.yaml", FLOW_YAML), ("plugins.yaml", PLUGINS)])


@pytest.fixture(scope="module")
def schema(catalog: Catalog) -> FlowSchema:
    return FlowSchema.from_catalog(catalog, 1)


def check(schema: FlowSchema, text: str, version: int = 1) -> list[tuple[int | None, str]]:
    return [(d.line, d.code) for d in validate_flow(text, schema, kestra_version=version).errors]


GOOD = """\
id: hello
namespace: company.team
inputs:
  - id: count
    type: INT
    defaults: 3
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.count }}"
  - id: fan_out
    type: io.kestra.plugin.core.flow.Parallel
    concurrent: "{{ inputs.count }}"
    tasks:
      - id: call
        type: io.kestra.plugin.core.http.Request
        uri: https://example.com
        options:
          connectTimeout: PT10S
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 * * *"
"""


def test_a_good_flow_is_valid(schema: FlowSchema) -> None:
    result = validate_flow(GOOD, schema)
    assert result.valid, [d.format() for d in result.diagnostics]
    assert result.diagnostics == []


def test_invented_property_is_an_error_with_a_suggestion(schema: FlowSchema) -> None:
    text = GOOD.replace("        uri: https://example.com\n", "        uri: https://example.com\n        methd: GET\n")
    [diagnostic] = validate_flow(text, schema).errors
    assert (diagnostic.line, diagnostic.code) == (18, "unknown-property")
    assert "task 'call'" in diagnostic.message and diagnostic.hint == "Did you mean `method`?"
    assert diagnostic.path == "tasks[1].tasks[0].methd"


def test_unknown_key_in_a_nested_object_is_caught(schema: FlowSchema) -> None:
    text = GOOD.replace("          connectTimeout: PT10S\n", "          connectTimeout: PT10S\n          retries: 3\n")
    assert check(schema, text) == [(20, "unknown-property")]


def test_a_property_one_level_too_high_is_sent_where_it_belongs(schema: FlowSchema) -> None:
    text = GOOD.replace(
        "        uri: https://example.com\n", "        uri: https://example.com\n        followRedirects: true\n"
    )
    [diagnostic] = validate_flow(text, schema).errors
    assert diagnostic.code == "unknown-property" and diagnostic.path == "tasks[1].tasks[0].followRedirects"
    assert diagnostic.hint is not None and diagnostic.hint.startswith(
        "It belongs under `options`: `options.followRedirects`. Known properties: "
    )


def test_the_bundled_catalog_knows_where_skip_leading_rows_goes() -> None:
    text = """\
id: taxi
namespace: company.team
tasks:
  - id: load
    type: io.kestra.plugin.gcp.bigquery.LoadFromGcs
    from: ["gs://bucket/trips.csv"]
    destinationTable: project.dataset.trips
    format: CSV
    skipLeadingRows: 1
    maxAttempts: 3
"""
    skip, attempts = validate_flow(text).errors
    assert (skip.line, skip.code) == (9, "unknown-property")
    assert skip.hint is not None and "It belongs under `csvOptions`: `csvOptions.skipLeadingRows`." in skip.hint
    # A typed family (retry) is not guessed at: its properties depend on the `type` chosen.
    assert attempts.hint is not None and attempts.hint.startswith("Remove it;") and "retry." not in attempts.hint


def test_misspelled_core_type_is_an_error_with_did_you_mean(schema: FlowSchema) -> None:
    [diagnostic] = validate_flow(GOOD.replace("core.log.Log", "core.log.Lgo"), schema).errors
    assert (diagnostic.line, diagnostic.code) == (9, "unknown-type")
    assert diagnostic.hint == "Did you mean `io.kestra.plugin.core.log.Log`?"


def test_type_outside_the_catalog_is_only_a_warning(schema: FlowSchema) -> None:
    text = GOOD.replace("io.kestra.plugin.core.http.Request", "io.kestra.plugin.aws.s3.Upload")
    result = validate_flow(text, schema)
    assert result.valid
    assert [(d.line, d.code) for d in result.warnings] == [(16, "type-not-in-catalog")]


def test_wrong_branch_is_reported_by_its_own_errors_not_an_anyof_wall(schema: FlowSchema) -> None:
    text = GOOD.replace('    message: "{{ inputs.count }}"\n', "    level: LOUD\n")
    errors = validate_flow(text, schema).errors
    assert [(d.line, d.code) for d in errors] == [(8, "missing-property"), (10, "invalid-value")]
    assert "`message`" in errors[0].message
    assert "not valid under any" not in " ".join(d.message for d in errors)


def test_list_where_a_string_is_required(schema: FlowSchema) -> None:
    text = GOOD.replace("        uri: https://example.com", "        uri: [a, b]")
    [diagnostic] = validate_flow(text, schema).errors
    assert (diagnostic.line, diagnostic.code) == (17, "wrong-type")
    assert "must be a string, not a list" in diagnostic.message


def test_dynamic_integer_takes_pebble_but_not_prose(schema: FlowSchema) -> None:
    assert check(schema, GOOD.replace('concurrent: "{{ inputs.count }}"', "concurrent: '4'")) == []
    assert check(schema, GOOD.replace('concurrent: "{{ inputs.count }}"', "concurrent: four")) == [(13, "wrong-type")]


def test_missing_type_and_wrong_kind(schema: FlowSchema) -> None:
    no_type = GOOD.replace("    type: io.kestra.plugin.core.log.Log\n", "")
    assert check(schema, no_type) == [(8, "missing-type")]
    trigger_as_task = GOOD.replace(
        "    type: io.kestra.plugin.core.log.Log\n", "    type: io.kestra.plugin.core.trigger.Schedule\n"
    )
    assert check(schema, trigger_as_task) == [(9, "wrong-kind")]


def test_empty_tasks_and_bad_ids(schema: FlowSchema) -> None:
    assert check(schema, "id: a\nnamespace: b\ntasks: []\n") == [(3, "empty-list")]
    bad = GOOD.replace("namespace: company.team", "namespace: Company Team").replace("- id: say", "- id: say it")
    assert check(schema, bad) == [(2, "invalid-id"), (8, "invalid-id")]


def test_version_2_refuses_removed_types_and_aliases(catalog: Catalog) -> None:
    v2 = FlowSchema.from_catalog(catalog, 2)
    foreach = "id: a\nnamespace: b\ntasks:\n  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n    values: [1]\n    tasks:\n      - id: x\n        type: io.kestra.plugin.core.log.Log\n        message: hi\n"
    [diagnostic] = validate_flow(foreach, v2).errors
    assert (diagnostic.line, diagnostic.code) == (5, "unknown-type")
    assert "Loop" in (diagnostic.hint or "")
    alias = GOOD.replace("io.kestra.plugin.core.log.Log", "io.kestra.core.tasks.log.Log")
    assert check(FlowSchema.from_catalog(catalog, 1), alias) == []
    [diagnostic] = validate_flow(alias, v2).errors
    assert diagnostic.code == "unknown-type" and "io.kestra.plugin.core.log.Log" in (diagnostic.hint or "")


def test_plugin_defaults_are_gone_in_version_2(catalog: Catalog) -> None:
    text = GOOD + "pluginDefaults:\n  - type: io.kestra.plugin.core.log.Log\n    values:\n      level: INFO\n"
    assert check(FlowSchema.from_catalog(catalog, 1), text) == []
    [diagnostic] = validate_flow(text, FlowSchema.from_catalog(catalog, 2)).errors
    assert (diagnostic.line, diagnostic.code) == (24, "unknown-property")
    assert "removed" in (diagnostic.hint or "")


def test_duplicate_ids_and_secrets(schema: FlowSchema) -> None:
    text = GOOD.replace("- id: call", "- id: say").replace("uri: https://example.com", "uri: https://u:p@x.io")
    text = text.replace('    message: "{{ inputs.count }}"', '    message: "{{ inputs.count }}"\n    description: x')
    result = validate_flow(text, schema)
    assert [(d.line, d.code) for d in result.errors] == [(16, "duplicate-id")]
    assert [(d.line, d.code) for d in result.policy] == [(18, "hardcoded-secret")]  # a URL of any scheme
    leaked = GOOD.replace("uri: https://example.com", "uri: 'postgresql://admin:s3cret@db:5432/prod'")
    result = validate_flow(leaked, schema)
    assert result.valid and not result.passes  # Kestra accepts it; the project's policy does not
    [diagnostic] = result.policy
    assert (diagnostic.line, diagnostic.code, diagnostic.severity) == (17, "hardcoded-secret", "policy")
    assert "secret(" in (diagnostic.hint or "")


def test_syntax_error_is_a_diagnostic_not_an_exception(schema: FlowSchema) -> None:
    result = validate_flow("id: a\nnamespace: b\ntasks:\n  - id: x\n   type: y\n", schema)
    assert not result.valid and result.parsed is None
    assert [(d.line, d.code) for d in result.diagnostics] == [(5, "yaml-syntax")]


def test_kestras_real_schema_sample_goes_through_the_same_path() -> None:
    raw = json.loads(shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json").read_text())
    sample = FlowSchema(raw, source="sample")
    assert not sample.is_bundled
    assert sample.type_index["io.kestra.core.tasks.log.Log"] == "io.kestra.plugin.core.log.Log"
    good = "id: a\nnamespace: b\nlabels:\n  team: data\ntasks:\n  - id: x\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    assert validate_flow(good, sample).diagnostics == []
    # the schema's Java regex (\p{Ll}) works: label keys must start lower-case
    bad_label = good.replace("labels:\n  team: data\n", "labels:\n  - key: Team\n    value: data\n")
    assert [(d.line, d.code) for d in validate_flow(bad_label, sample).errors] == [(4, "invalid-id")]
    # with a server's schema every unknown type is an error, and keys are strict
    unknown = good.replace("core.log.Log", "core.log.Logger").replace("message: hi", "message: hi\n    colour: red")
    assert [(d.line, d.code) for d in validate_flow(unknown, sample).errors] == [(7, "unknown-type")]
    strict = good.replace("message: hi", "message: hi\n    colour: red")
    assert [(d.line, d.code) for d in validate_flow(strict, sample).errors] == [(9, "unknown-property")]


PLUGIN_DEFAULTS = """\
id: defaults
namespace: company.team
pluginDefaults:
  - type: {default_type}
    values:
      uri: https://example.com
tasks:
  - id: call
    type: io.kestra.plugin.core.http.Request
"""


@pytest.mark.parametrize("default_type", ["io.kestra.plugin.core.http.Request", "io.kestra.plugin.core.http"])
def test_plugin_default_supplies_a_required_property(schema: FlowSchema, default_type: str) -> None:
    assert check(schema, PLUGIN_DEFAULTS.format(default_type=default_type)) == []


def test_plugin_default_for_another_type_does_not_supply_it(schema: FlowSchema) -> None:
    text = PLUGIN_DEFAULTS.format(default_type="io.kestra.plugin.core.log.Log")
    assert (8, "missing-property") in check(schema, text)


def test_plugin_default_values_must_be_properties_of_the_plugin(schema: FlowSchema) -> None:
    text = PLUGIN_DEFAULTS.format(default_type="io.kestra.plugin.core.http.Request").replace(
        "      uri: https://example.com", "      uri: https://example.com\n      methd: POST"
    )
    result = validate_flow(text, schema)
    [diagnostic] = result.errors
    assert (diagnostic.line, diagnostic.code) == (7, "invalid-plugin-default")
    assert "`methd`" in diagnostic.message and diagnostic.hint == "Did you mean `method`?"


def test_plugin_default_without_values(schema: FlowSchema) -> None:
    text = "id: d\nnamespace: n\npluginDefaults:\n  - type: io.kestra.plugin.core.log.Log\ntasks:\n" + (
        "  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    )
    assert check(schema, text) == [(4, "invalid-plugin-default")]


def test_numbers_and_booleans_are_accepted_in_string_properties(schema: FlowSchema) -> None:
    # Jackson coerces scalars into String fields, so Kestra accepts `message: 42`.
    text = "id: d\nnamespace: n\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: 42\n"
    assert check(schema, text) == []
    assert (6, "wrong-type") in check(schema, text.replace("message: 42", "message: {a: 1}"))


def test_an_input_named_the_old_way_is_accepted_by_kestra_1_only(schema: FlowSchema) -> None:
    text = (
        "id: d\nnamespace: n\ninputs:\n  - name: region\n    type: STRING\ntasks:\n"
        "  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    )
    result = validate_flow(text, schema, kestra_version=1)
    assert result.valid and [d.code for d in result.warnings] == ["deprecated-property"]
    v2 = FlowSchema.from_catalog(load_catalog([("flow.yaml", FLOW_YAML), ("plugins.yaml", PLUGINS)]), 2)
    assert {(4, "missing-property"), (4, "unknown-property")} <= set(check(v2, text, 2))


def _codes(text: str) -> list[tuple[str, str]]:
    return [(d.severity.value, d.code) for d in validate_flow(text).diagnostics]


def test_a_real_type_of_an_incomplete_package_is_not_called_a_misspelling() -> None:
    """`aws.sqs.Trigger` is a real type the catalog does not list, not `aws.s3.Trigger` misspelled."""
    flow = (
        "id: sqs\nnamespace: company.team\ntasks:\n  - id: hi\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: hi\ntriggers:\n  - id: on_message\n    type: io.kestra.plugin.aws.sqs.Trigger\n"
        "    queueUrl: https://sqs.eu-west-1.amazonaws.com/1/q\n"
    )
    assert _codes(flow) == [("warning", "type-not-in-catalog")]
    misspelt = flow.replace("aws.sqs.Trigger", "aws.s3.Triger")  # the same package, one letter off
    assert ("error", "unknown-type") in _codes(misspelt)


def test_below_an_unknown_type_only_its_tasks_are_checked_as_tasks() -> None:
    """A trigger's `conditions` and a chat task's `messages: [{type: SYSTEM}]` are not tasks."""
    flow = (
        "id: unknown_parents\nnamespace: company.team\ntasks:\n"
        "  - id: chat\n    type: io.kestra.plugin.ai.completion.ChatCompletion\n"
        "    messages:\n      - type: SYSTEM\n        content: be brief\n"
        "  - id: wrapper\n    type: io.kestra.plugin.example.Wrapper\n    tasks:\n"
        "      - id: inner\n        type: io.kestra.plugin.core.log.Log\n        mesage: typo\n"
        "triggers:\n  - id: on_event\n    type: io.kestra.plugin.gcp.pubsub.Trigger\n"
        "    conditions:\n      - type: io.kestra.plugin.core.condition.Expression\n        expression: '{{ true }}'\n"
    )
    found = validate_flow(flow).diagnostics
    assert not [d for d in found if d.code == "wrong-kind" or "SYSTEM" in d.message]
    errors = sorted(d.code for d in found if d.severity.value == "error")
    assert errors == ["missing-property", "unknown-property"]  # the known task inside: `mesage`, no `message`
