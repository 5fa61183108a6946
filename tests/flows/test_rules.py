"""One failing flow and one close passing variant per semantic rule (code and line checked)."""

import pytest

from copilot.flows import parse_flow
from copilot.flows._cron import cron_error
from copilot.flows._rules import check_rules
from copilot.flows._rules_tasks import parse_duration

LOG = "io.kestra.plugin.core.log.Log"


def findings(text: str, code: str, version: int = 1) -> list[int | None]:
    return [d.line for d in check_rules(parse_flow(text), version) if d.code == code]


def flow(body: str, *, head: str = "id: etl\nnamespace: company.team\n") -> str:
    return head + body


CASES = [
    # (code, failing flow, line, passing variant, versions the rule applies to)
    (
        "duplicate-id",
        flow(
            f"tasks:\n  - id: a\n    type: {LOG}\n    message: x\nerrors:\n  - id: a\n    type: {LOG}\n    message: y\n"
        ),
        8,
        flow(
            f"tasks:\n  - id: a\n    type: {LOG}\n    message: x\nerrors:\n  - id: b\n    type: {LOG}\n    message: y\n"
        ),
    ),
    (
        "duplicate-trigger-id",
        flow("tasks: []\ntriggers:\n  - id: t\n    type: x.Schedule\n  - id: t\n    type: x.Webhook\n"),
        7,
        flow("tasks: []\ntriggers:\n  - id: t\n    type: x.Schedule\n  - id: u\n    type: x.Webhook\n"),
    ),
    (
        "duplicate-input",
        flow("inputs:\n  - id: a\n    type: STRING\n  - id: a\n    type: INT\ntasks: []\n"),
        6,
        flow("inputs:\n  - id: a\n    type: STRING\n  - id: b\n    type: INT\ntasks: []\n"),
    ),
    (
        "recursive-subflow",
        flow(
            "tasks:\n  - id: again\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: company.team\n    flowId: etl\n"
        ),
        4,
        flow(
            "tasks:\n  - id: again\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: company.team\n    flowId: other\n"
        ),
    ),
    (
        "input-unknown-dependency",
        flow("inputs:\n  - id: a\n    type: STRING\n    dependsOn:\n      inputs: [b]\ntasks: []\n"),
        7,
        flow(
            "inputs:\n  - id: b\n    type: STRING\n  - id: a\n    type: STRING\n    dependsOn:\n      inputs: [b]\ntasks: []\n"
        ),
    ),
    (
        "input-dependency-cycle",
        flow(
            "inputs:\n  - id: a\n    type: STRING\n    dependsOn:\n      inputs: [b]\n"
            "  - id: b\n    type: STRING\n    dependsOn:\n      inputs: [a]\ntasks: []\n"
        ),
        6,
        flow(
            "inputs:\n  - id: a\n    type: STRING\n  - id: b\n    type: STRING\n    dependsOn:\n      inputs: [a]\ntasks: []\n"
        ),
    ),
    (
        "system-label",
        flow("labels:\n  system.owner: me\ntasks: []\n"),
        4,
        flow("labels:\n  system.readOnly: 'true'\ntasks: []\n"),
    ),
    (
        "invalid-input-reference",
        flow(
            f"inputs:\n  - id: my-day\n    type: DATE\ntasks:\n  - id: a\n    type: {LOG}\n    message: '{{{{ inputs.my-day }}}}'\n"
        ),
        9,
        flow(
            f"inputs:\n  - id: my-day\n    type: DATE\ntasks:\n  - id: a\n    type: {LOG}\n    message: \"{{{{ inputs['my-day'] }}}}\"\n"
        ),
    ),
    (
        "reserved-flow-id",
        flow("tasks: []\n", head="id: kill\nnamespace: company.team\n"),
        1,
        flow("tasks: []\n", head="id: kill_switch\nnamespace: company.team\n"),
    ),
    (
        "invalid-validator",
        flow("inputs:\n  - id: a\n    type: STRING\n    validator: 'a(b'\ntasks: []\n"),
        6,
        flow("inputs:\n  - id: a\n    type: STRING\n    validator: 'a(b)'\ntasks: []\n"),
    ),
    (
        "invalid-item-type",
        flow("inputs:\n  - id: a\n    type: ARRAY\n    itemType: ARRAY\ntasks: []\n"),
        6,
        flow("inputs:\n  - id: a\n    type: ARRAY\n    itemType: STRING\ntasks: []\n"),
    ),
    (
        "default-not-required",
        flow("inputs:\n  - id: a\n    type: STRING\n    defaults: x\n    required: false\ntasks: []\n"),
        7,
        flow("inputs:\n  - id: a\n    type: STRING\n    defaults: x\ntasks: []\n"),
    ),
    (
        "invalid-file-default",
        flow("inputs:\n  - id: a\n    type: FILE\n    defaults: /tmp/data.csv\ntasks: []\n"),
        6,
        flow("inputs:\n  - id: a\n    type: FILE\n    defaults: nsfile:///data.csv\ntasks: []\n"),
    ),
    (
        "unknown-dependency",
        flow(
            "tasks:\n  - id: dag\n    type: io.kestra.plugin.core.flow.Dag\n    tasks:\n"
            f"      - task:\n          id: a\n          type: {LOG}\n          message: x\n        dependsOn: [nope]\n"
        ),
        11,
        flow(
            "tasks:\n  - id: dag\n    type: io.kestra.plugin.core.flow.Dag\n    tasks:\n"
            f"      - task:\n          id: a\n          type: {LOG}\n          message: x\n"
        ),
    ),
    (
        "dag-cycle",
        flow(
            "tasks:\n  - id: dag\n    type: io.kestra.plugin.core.flow.Dag\n    tasks:\n"
            f"      - task: {{id: a, type: {LOG}, message: x}}\n        dependsOn: [b]\n"
            f"      - task: {{id: b, type: {LOG}, message: x}}\n        dependsOn: [a]\n"
        ),
        6,
        flow(
            "tasks:\n  - id: dag\n    type: io.kestra.plugin.core.flow.Dag\n    tasks:\n"
            f"      - task: {{id: a, type: {LOG}, message: x}}\n"
            f"      - task: {{id: b, type: {LOG}, message: x}}\n        dependsOn: [a]\n"
        ),
    ),
    (
        "switch-empty",
        flow("tasks:\n  - id: s\n    type: io.kestra.plugin.core.flow.Switch\n    value: x\n    cases: {}\n"),
        4,
        flow(
            f"tasks:\n  - id: s\n    type: io.kestra.plugin.core.flow.Switch\n    value: x\n    defaults:\n      - id: d\n        type: {LOG}\n        message: m\n"
        ),
    ),
    (
        "working-directory-empty",
        flow("tasks:\n  - id: w\n    type: io.kestra.plugin.core.flow.WorkingDirectory\n    tasks: []\n"),
        4,
        flow(
            f"tasks:\n  - id: w\n    type: io.kestra.plugin.core.flow.WorkingDirectory\n    tasks:\n      - id: a\n        type: {LOG}\n        message: m\n"
        ),
    ),
    (
        "retry-interval",
        flow(
            f"tasks:\n  - id: a\n    type: {LOG}\n    message: m\n    retry:\n      type: constant\n      interval: PT1H\n      maxDuration: PT10M\n"
        ),
        9,
        flow(
            f"tasks:\n  - id: a\n    type: {LOG}\n    message: m\n    retry:\n      type: constant\n      interval: PT1M\n      maxDuration: PT10M\n"
        ),
    ),
    (
        "invalid-cron",
        flow(
            "tasks: []\ntriggers:\n  - id: monthly\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '0 9 32 * *'\n"
        ),
        7,
        flow(
            "tasks: []\ntriggers:\n  - id: monthly\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '0 9 1 * *'\n"
        ),
    ),
    (
        "invalid-timezone",
        flow(
            "tasks: []\ntriggers:\n  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '@daily'\n    timezone: Europe/Pariss\n"
        ),
        8,
        flow(
            "tasks: []\ntriggers:\n  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '@daily'\n    timezone: Europe/Paris\n"
        ),
    ),
]


@pytest.mark.parametrize(("code", "bad", "line", "good"), CASES, ids=[c[0] for c in CASES])
def test_rule_fails_at_the_right_line_and_its_close_variant_passes(code: str, bad: str, line: int, good: str) -> None:
    assert findings(bad, code) == [line]
    assert findings(good, code) == []


def test_version_gated_rules() -> None:
    kill = flow("tasks: []\n", head="id: kill\nnamespace: company.team\n")
    assert findings(kill, "reserved-flow-id", 1) == [1]
    assert findings(kill, "reserved-flow-id", 2) == []  # Kestra 2.x dropped the reserved ids
    scheduled = flow(
        "inputs:\n  - id: month\n    type: STRING\ntasks: []\ntriggers:\n"
        "  - id: monthly\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '0 9 1 * *'\n"
    )
    assert findings(scheduled, "trigger-missing-inputs", 1) == []
    assert findings(scheduled, "trigger-missing-inputs", 2) == [8]
    supplied = scheduled + "    inputs:\n      month: '2024-01'\n"
    assert findings(supplied, "trigger-missing-inputs", 2) == []
    multiselect = flow("inputs:\n  - id: a\n    type: MULTISELECT\n    itemType: SELECT\ntasks: []\n")
    assert findings(multiselect, "invalid-item-type", 1) == []
    assert findings(multiselect, "invalid-item-type", 2) == [6]


@pytest.mark.parametrize(
    ("cron", "ok"),
    [
        ("0 9 1 * *", True),
        ("*/15 * * * *", True),
        ("0 0 * * MON-FRI", True),
        ("0 0 L * ?", True),
        ("@monthly", True),
        ("0 9 1 * * *", False),
        ("61 * * * *", False),
        ("0 0 * * 8", False),
        ("0 0 */0 * *", False),
        ("0 0 5-1 * *", False),
    ],
)
def test_cron_expressions(cron: str, ok: bool) -> None:
    assert (cron_error(cron) is None) is ok


def test_durations() -> None:
    assert parse_duration("PT1H30M") == 5400
    assert parse_duration("P1DT1S") == 86401
    assert parse_duration(30) == 30
    assert parse_duration("PT") is None and parse_duration("{{ x }}") is None
