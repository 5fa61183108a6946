"""Trigger and input rules (webhooks, preconditions, windows, 2.x literal values and FORM inputs, label
keys): one failing flow and one close passing variant each, for the Kestra version the rule applies to."""

import pytest

from copilot.flows import parse_flow
from copilot.flows._rules import check_rules
from copilot.flows._rules_inputs import value_problem

HEAD = "id: etl\nnamespace: company.team\n"
WEBHOOK = "io.kestra.plugin.core.trigger.Webhook"
FLOW_TRIGGER = "io.kestra.plugin.core.trigger.Flow"
SCHEDULE = "io.kestra.plugin.core.trigger.Schedule"


def findings(text: str, code: str, version: int) -> list[int | None]:
    return [d.line for d in check_rules(parse_flow(text), version) if d.code == code]


def triggers(body: str) -> str:
    return HEAD + "tasks: []\ntriggers:\n" + body


def precondition(where: str = "", window: str = "", pre_id: str = "pre") -> str:
    return (
        f"  - id: upstream_{pre_id}\n    type: {FLOW_TRIGGER}\n    preconditions:\n      id: {pre_id}\n"
        "      flows:\n        - namespace: company.team\n          flowId: extract\n" + where + window
    )


CASES = [
    # (code, version, failing flow, line, passing variant)
    (
        "webhook-condition",
        1,
        triggers(
            f"  - id: hook\n    type: {WEBHOOK}\n    key: abc\n    conditions:\n"
            "      - type: io.kestra.plugin.core.condition.MultipleCondition\n        id: m\n        conditions: {}\n"
        ),
        9,
        triggers(
            f"  - id: hook\n    type: {WEBHOOK}\n    key: abc\n    conditions:\n"
            "      - type: io.kestra.plugin.core.condition.ExecutionNamespace\n        namespace: company\n"
        ),
    ),
    (
        "webhook-content-type",
        1,
        triggers(f"  - id: hook\n    type: {WEBHOOK}\n    key: abc\n    responseContentType: text/html\n"),
        8,
        triggers(f"  - id: hook\n    type: {WEBHOOK}\n    key: abc\n    responseContentType: text/plain\n"),
    ),
    (
        "duplicate-precondition-id",
        1,
        triggers(precondition(pre_id="pre") + precondition(pre_id="pre").replace("upstream_pre", "other")),
        15,
        triggers(precondition(pre_id="pre") + precondition(pre_id="pre2")),
    ),
    (
        "invalid-precondition-filter",
        1,
        triggers(
            precondition(
                where="      where:\n        - id: prod\n          filters:\n"
                "            - field: NAMESPACE\n              type: IN\n              value: company\n"
            )
        ),
        17,
        triggers(
            precondition(
                where="      where:\n        - id: prod\n          filters:\n"
                "            - field: NAMESPACE\n              type: IN\n              values: [company]\n"
            )
        ),
    ),
    (
        "invalid-time-window",
        1,
        triggers(
            precondition(window="      timeWindow:\n        type: SLIDING_WINDOW\n        deadline: '09:00:00'\n")
        ),
        14,
        triggers(precondition(window="      timeWindow:\n        type: SLIDING_WINDOW\n        window: PT1H\n")),
    ),
    (
        "invalid-time-window",
        2,
        triggers(
            f"  - id: after\n    type: {FLOW_TRIGGER}\n    dependsOn:\n      - flowId: a\n        namespace: n\n"
            "    window:\n      deadline: '09:00:00'\n      lookback: PT1H\n"
        ),
        10,
        triggers(
            f"  - id: after\n    type: {FLOW_TRIGGER}\n    dependsOn:\n      - flowId: a\n        namespace: n\n"
            "    window:\n      deadline: '09:00:00'\n      timezone: Europe/Paris\n"
        ),
    ),
    (
        "invalid-flow-dependency",
        2,
        triggers(
            f"  - id: after\n    type: {FLOW_TRIGGER}\n    mode: AT_LEAST\n    minSatisfied: 3\n"
            "    dependsOn:\n      - flowId: a\n        namespace: n\n      - flowId: b\n        namespace: n\n"
        ),
        8,
        triggers(
            f"  - id: after\n    type: {FLOW_TRIGGER}\n    mode: AT_LEAST\n    minSatisfied: 2\n"
            "    dependsOn:\n      - flowId: a\n        namespace: n\n      - flowId: b\n        namespace: n\n"
        ),
    ),
    (
        "invalid-literal-value",
        2,
        HEAD + "inputs:\n  - id: n\n    type: INT\n    defaults: ten\ntasks: []\n",
        6,
        HEAD + "inputs:\n  - id: n\n    type: INT\n    defaults: 10\ntasks: []\n",
    ),
    (
        "invalid-literal-value",
        2,
        HEAD
        + "inputs:\n  - id: env\n    type: SELECT\n    values: [dev, prod]\ntasks: []\ntriggers:\n"
        + f"  - id: nightly\n    type: {SCHEDULE}\n    cron: '@daily'\n    inputs:\n      env: staging\n",
        13,
        HEAD
        + "inputs:\n  - id: env\n    type: SELECT\n    values: [dev, prod]\ntasks: []\ntriggers:\n"
        + f"  - id: nightly\n    type: {SCHEDULE}\n    cron: '@daily'\n    inputs:\n      env: prod\n",
    ),
    (
        "invalid-literal-value",
        2,
        HEAD + "tasks: []\noutputs:\n  - id: when\n    type: DATE\n    value: yesterday\n",
        7,
        HEAD + 'tasks: []\noutputs:\n  - id: when\n    type: DATE\n    value: "{{ now() }}"\n',
    ),
    (
        "invalid-form-input",
        2,
        HEAD + "inputs:\n  - id: a\n    type: FORM\n    inputs:\n      - id: b\n        type: FORM\ntasks: []\n",
        8,
        HEAD + "inputs:\n  - id: a\n    type: FORM\n    inputs:\n      - id: b\n        type: STRING\ntasks: []\n",
    ),
    (
        "invalid-form-input",
        2,
        HEAD
        + "inputs:\n  - id: a\n    type: FORM\n    inputs:\n      - id: b\n        type: STRING\n"
        + "  - id: a.b\n    type: STRING\ntasks: []\n",
        9,
        HEAD
        + "inputs:\n  - id: a\n    type: FORM\n    inputs:\n      - id: b\n        type: STRING\n"
        + "  - id: ab\n    type: STRING\ntasks: []\n",
    ),
    (
        "invalid-form-input",
        2,
        HEAD + "inputs:\n  - id: a\n    type: FORM\n    defaults: {}\n    inputs: []\ntasks: []\n",
        6,
        HEAD + "inputs:\n  - id: a\n    type: FORM\n    inputs: []\ntasks: []\n",
    ),
    (
        "invalid-label-key",
        1,
        HEAD + "labels:\n  Team: data\ntasks: []\n",
        4,
        HEAD + "labels:\n  team: data\ntasks: []\n",
    ),
]


@pytest.mark.parametrize(
    ("code", "version", "bad", "line", "good"), CASES, ids=[f"{c[0]}-v{c[1]}-{i}" for i, c in enumerate(CASES)]
)
def test_rule_fails_at_the_right_line_and_its_close_variant_passes(
    code: str, version: int, bad: str, line: int, good: str
) -> None:
    assert findings(bad, code, version) == [line]
    assert findings(good, code, version) == []


@pytest.mark.parametrize(
    ("code", "bad"),
    [
        ("duplicate-precondition-id", triggers(precondition() + precondition().replace("upstream_pre", "x"))),
        ("invalid-literal-value", HEAD + "inputs:\n  - id: n\n    type: INT\n    defaults: ten\ntasks: []\n"),
        ("invalid-form-input", HEAD + "inputs:\n  - id: a\n    type: FORM\n    defaults: {}\ntasks: []\n"),
    ],
)
def test_rules_are_gated_on_their_kestra_version(code: str, bad: str) -> None:
    versions = [v for v in (1, 2) if findings(bad, code, v)]
    assert len(versions) == 1  # preconditions are 1.x only; literal and FORM checks are 2.x only


@pytest.mark.parametrize(
    ("kind", "value", "definition", "ok"),
    [
        ("INT", 5, {}, True),
        ("INT", "5", {}, True),
        ("INT", 5.5, {}, False),
        ("INT", 12, {"max": 10}, False),
        ("FLOAT", "2.5", {"min": 1}, True),
        ("BOOL", "yes", {}, False),
        ("BOOLEAN", True, {}, True),
        ("DATETIME", "2025-01-31T09:00:00Z", {}, True),
        ("DATETIME", "31/01/2025", {}, False),
        ("DATE", "2025-02-30", {}, False),
        ("TIME", "09:30", {}, True),
        ("DURATION", "PT15M", {}, True),
        ("DURATION", "15 minutes", {}, False),
        ("JSON", '{"a": 1}', {}, True),
        ("JSON", "{a: 1}", {}, False),
        ("STRING", "abc", {"validator": "[a-z]+"}, True),
        ("STRING", "abc1", {"validator": "[a-z]+"}, False),
        ("SELECT", "x", {"values": ["x", "y"]}, True),
        ("SELECT", "z", {"values": ["x", "y"], "allowCustomValue": True}, True),
        ("MULTISELECT", ["x", "z"], {"values": ["x", "y"]}, False),
        ("ARRAY", [1, 2], {"itemType": "INT"}, True),
        ("ARRAY", [1, "b"], {"itemType": "INT"}, False),
        ("URI", "anything", {}, True),
    ],
)
def test_literal_values_are_parsed_as_their_type(kind: str, value: object, definition: dict, ok: bool) -> None:
    assert (value_problem(kind, value, definition) is None) is ok


def test_a_form_and_an_input_under_its_path_conflict() -> None:
    text = HEAD + "inputs:\n  - id: a\n    type: FORM\n    inputs: []\n  - id: a.c\n    type: STRING\ntasks: []\n"
    assert findings(text, "invalid-form-input", 2) == [7]


def test_enterprise_features_are_warnings_gated_on_version() -> None:
    grouped = HEAD + "tasks:\n  - id: a\n    type: x.Log\n    workerGroup:\n      key: gpu\n"
    [warning] = [d for d in check_rules(parse_flow(grouped), 1) if d.code == "enterprise-only"]
    assert (warning.line, warning.severity) == (6, "warning")
    assert findings(grouped, "enterprise-only", 2) == []  # 2.x uses worker selectors
    quotas = HEAD + "quotas: []\ntasks: []\n"
    assert (findings(quotas, "enterprise-only", 1), findings(quotas, "enterprise-only", 2)) == ([], [3])
