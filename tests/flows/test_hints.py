"""The hints of the validator read as advice a user can act on: a property of the other Kestra version says so and
names this version's counterpart, either way; "did you mean" offers a type of the same package (or a near miss of
the whole name), never another plugin's type of the same class name; an unchecked type says how to have it checked
(Kestra's live schema, when the bundled catalog judged)."""

from __future__ import annotations

import json
from functools import cache

import pytest

from copilot.flows import FlowSchema, bundled_schema, validate_flow
from copilot.flows._merge import merge
from copilot.flows._where import did_you_mean_type
from tests.fakes.hosted_schema import full_flow_schema
from tests.flows.test_merge import LIVE, _hosted_2x

HEAD = "id: hello\nnamespace: company.team\n"
LOG_TASK = "tasks:\n  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"


def _said(flow: str, schema: FlowSchema, version: int = 1) -> list[tuple[str, str, str]]:
    """(code, message, hint) of each diagnostic."""
    return [(d.code, d.message, d.hint or "") for d in validate_flow(flow, schema, kestra_version=version).diagnostics]


def _hint(flow: str, schema: FlowSchema, version: int, code: str) -> str:
    (hint,) = [hint for said, _, hint in _said(flow, schema, version) if said == code]
    return hint


@cache
def _live(version: int) -> FlowSchema:
    """Kestra's live schema (a 2.x-era one: its plugins take `workerSelector`) merged for `version`."""
    return merge(FlowSchema(json.loads(_hosted_2x()), source=LIVE), version)


@cache
def _full() -> FlowSchema:
    """A schema of every documented plugin, taken as it is (as `--schema FILE` takes one)."""
    return FlowSchema(full_flow_schema(), source="full.json", checked=True)


# --- a property of the other Kestra version -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("task", "schema"),
    [
        ("io.kestra.plugin.core.log.Log\n    message: hi", lambda: bundled_schema(1)),  # the catalog's own type
        ("io.kestra.plugin.acme.Thing", lambda: _live(1)),  # a type only the live schema has: its family's rule
    ],
)
def test_a_2x_property_in_1x_says_so_and_names_the_1x_counterpart(task: str, schema: object) -> None:
    flow = HEAD + f"tasks:\n  - id: a\n    type: {task}\n    workerSelector: {{}}\n"
    hint = _hint(flow, schema(), 1, "unknown-property")  # type: ignore[operator]
    assert hint == "`workerSelector` is a Kestra 2.x property; in Kestra 1.x use `workerGroup`."


def test_the_1x_hints_mirror_the_2x_ones_on_the_flow_and_on_triggers() -> None:
    flow = (
        HEAD
        + "workerSelector: {}\n"
        + LOG_TASK
        + (
            "triggers:\n  - id: every_day\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '0 9 * * *'\n"
            "    when: '{{ true }}'\n"
            "  - id: after\n    type: io.kestra.plugin.core.trigger.Flow\n    dependsOn: []\n    window: {}\n"
        )
    )
    hints = [hint for code, _, hint in _said(flow, bundled_schema(1)) if code == "unknown-property"]
    assert hints == [
        "`workerSelector` is a Kestra 2.x property; in Kestra 1.x use `workerGroup`.",
        "`when` is a Kestra 2.x property; in Kestra 1.x use `conditions`.",
        "`dependsOn` is a Kestra 2.x property; in Kestra 1.x use `preconditions`.",
        "`window` is a Kestra 2.x property, not a Kestra 1.x one: remove it.",  # no 1.x counterpart
    ]
    old = HEAD + LOG_TASK.replace("message: hi", "message: hi\n    workerGroup: {key: gpu}")
    assert _hint(old, bundled_schema(2), 2, "unknown-property") == (
        "Kestra 2.x replaced `workerGroup` with `workerSelector`."  # the migration guide's, as before
    )


def test_a_property_no_version_has_is_still_to_be_removed() -> None:
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.acme.Thing\n    colour: red\n"
    assert _hint(flow, _live(1), 1, "unknown-property").startswith("Remove it;")
    task_when = HEAD + LOG_TASK.replace("message: hi", "message: hi\n    when: x")  # a trigger's, not a task's
    assert _hint(task_when, bundled_schema(1), 1, "unknown-property").startswith("Remove it;")


# --- did you mean: the same package, or a near miss of the whole name ---------------------------------------
KNOWN = [
    "io.kestra.plugin.gcp.bigquery.Load",
    "io.kestra.plugin.email.RealTimeTrigger",
    "io.kestra.plugin.aws.s3.Trigger",
    "io.kestra.plugin.core.log.Log",
    "io.kestra.plugin.jdbc.postgresql.Query",
    "io.kestra.plugin.mongodb.Load",
]


@pytest.mark.parametrize(
    ("type_name", "suggested"),
    [
        ("io.kestra.plugin.mongodb.Load", None),  # not among KNOWN below: a real plugin, not bigquery's Load
        ("io.kestra.plugin.kafka.RealtimeTrigger", None),  # nor email's RealTimeTrigger
        ("io.kestra.plugin.aws.sqs.Trigger", None),  # nor aws.s3's
        ("io.kestra.plugin.core.log.Lgo", "io.kestra.plugin.core.log.Log"),  # the same package
        ("io.kestra.plugin.mongdb.Load", "io.kestra.plugin.mongodb.Load"),  # one segment a letter off
        ("io.kestra.plugin.jdbc.postgres.Query", "io.kestra.plugin.jdbc.postgresql.Query"),
        ("io.kestra.plugin.Core.log.Log", "io.kestra.plugin.core.log.Log"),  # the case
        ("io.kestra.plugin.core.Log", "io.kestra.plugin.core.log.Log"),  # a package segment left out
    ],
)
def test_a_type_is_suggested_from_its_own_package_or_for_a_near_miss_only(
    type_name: str, suggested: str | None
) -> None:
    known = [t for t in KNOWN if t != type_name]
    assert did_you_mean_type(type_name, known) == suggested


@pytest.mark.parametrize(
    "flow",
    [
        HEAD + "tasks:\n  - id: load\n    type: io.kestra.plugin.mongodb.Load\n",
        HEAD + LOG_TASK + "triggers:\n  - id: on_message\n    type: io.kestra.plugin.kafka.RealtimeTrigger\n",
    ],
)
def test_a_real_plugin_the_catalog_lacks_is_not_offered_another_plugins_type(flow: str) -> None:
    ((code, _, hint),) = _said(flow, bundled_schema(1))
    assert code == "type-not-in-catalog" and "Did you mean" not in hint, hint


def test_a_misspelt_package_is_offered_the_real_one_by_a_full_schema() -> None:
    flow = HEAD + "tasks:\n  - id: load\n    type: io.kestra.plugin.mongdb.Load\n"
    ((code, _, hint),) = _said(flow, _full())
    assert code == "unknown-type" and hint == "Did you mean `io.kestra.plugin.mongodb.Load`?"


# --- how to have an unchecked type checked ------------------------------------------------------------------
def test_when_the_bundled_catalog_judges_the_hint_names_kestras_live_schema() -> None:
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.private.Mine\n"
    hint = _hint(flow, bundled_schema(1), 1, "type-not-in-catalog")
    assert hint.startswith("Kestra's live schema is off or could not be fetched;") and "--server or --schema" in hint
    past_it = _hint(flow, _live(1), 1, "type-not-in-catalog")  # the live schema lacks it too: only a server knows
    assert past_it == "Validate against a Kestra server (--server or --schema) for a full check."


def test_a_users_schema_is_named_not_called_the_servers_plugins() -> None:
    flow = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.private.Mine\n"
    ((code, message, _),) = _said(flow, _full())
    assert code == "unknown-type" and "it is not in full.json:" in message and "server" not in message
    server = merge(FlowSchema(json.loads(_hosted_2x()), source="the flow schema of Kestra 2.0.0"), 1, fill=False)
    ((code, message, _),) = _said(flow, server)
    assert code == "unknown-type" and "it is not among the server's plugins:" in message
