from copilot.flows._diff import Change, DiffSummary, diff_flows

BASE = """\
id: etl
namespace: company.team
labels:
  team: data
inputs:
  - id: month
    type: STRING
    defaults: "2024-01"
variables:
  env: dev
tasks:
  - id: extract
    type: io.kestra.plugin.core.log.Log
    message: extracting
  - id: load
    type: io.kestra.plugin.core.log.Log
    message: loading
    timeout: PT1H
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 * * *"
"""


def summary(old: str, new: str) -> list[str]:
    return diff_flows(old, new).summary.lines()


def test_identical_texts() -> None:
    result = diff_flows(BASE, BASE)
    assert result.changed is False
    assert result.unified == ""
    assert result.summary == DiffSummary()
    assert str(result.summary) == ""


def test_line_endings_alone_are_not_a_change() -> None:
    result = diff_flows(BASE, BASE.replace("\n", "\r\n"))
    assert result.changed is False and result.unified == "" and result.summary.changes == ()


def test_unified_diff_uses_the_labels_and_three_lines_of_context() -> None:
    result = diff_flows(BASE, BASE.replace("loading", "loading rows"), old_label="a.yml", new_label="b.yml")
    assert result.changed is True
    assert result.unified == (
        "--- a.yml\n"
        "+++ b.yml\n"
        "@@ -14,7 +14,7 @@\n"
        "     message: extracting\n"
        "   - id: load\n"
        "     type: io.kestra.plugin.core.log.Log\n"
        "-    message: loading\n"
        "+    message: loading rows\n"
        "     timeout: PT1H\n"
        " triggers:\n"
        "   - id: daily\n"
    )
    assert result.summary.lines() == ['~ task load: message loading → "loading rows"']


def test_missing_newline_at_end_of_file_is_marked() -> None:
    result = diff_flows("id: a\n", "id: b")
    expected = "--- previous\n+++ current\n@@ -1 +1 @@\n-id: a\n+id: b\n\\ No newline at end of file\n"
    assert result.unified == expected


def test_namespace_change() -> None:
    result = diff_flows(BASE, BASE.replace("namespace: company.team", "namespace: company.data"))
    assert result.summary.changes == (
        Change("changed", "flow", "etl", details=("namespace company.team → company.data",)),
    )
    assert str(result.summary) == "~ flow: namespace company.team → company.data"


def test_flow_level_fields_added_removed_and_long() -> None:
    new = BASE.replace("id: etl\n", "id: etl\ndescription: " + "x" * 80 + "\ndisabled: true\n")
    old = BASE.replace("id: etl\n", "id: etl\ndescription: short\nconcurrency:\n  limit: 1\n")
    assert summary(old, new) == ["~ flow: description changed; concurrency removed; disabled added"]


def test_task_type_change() -> None:
    new = BASE.replace(
        "    type: io.kestra.plugin.core.log.Log\n    message: extracting\n",
        "    type: io.kestra.plugin.core.debug.Return\n    format: extracting\n",
    )
    assert summary(BASE, new) == [
        "~ task extract: type io.kestra.plugin.core.log.Log → io.kestra.plugin.core.debug.Return; "
        "message removed; format added"
    ]


def test_retry_added_and_timeout_removed() -> None:
    new = BASE.replace(
        "    timeout: PT1H\n", "    retry:\n      type: constant\n      interval: PT1M\n      maxAttempts: 3\n"
    )
    result = diff_flows(BASE, new)
    assert result.summary.changes == (
        Change("changed", "task", "load", "tasks[1]", details=("timeout removed", "retry added")),
    )
    assert result.summary.lines() == ["~ task load: timeout removed; retry added"]


def test_task_added_in_front_does_not_move_the_others() -> None:
    new = BASE.replace(
        "tasks:\n",
        "tasks:\n  - id: download\n    type: io.kestra.plugin.core.http.Download\n    uri: https://example.com/a.csv\n",
    )
    assert summary(BASE, new) == ["+ task download (io.kestra.plugin.core.http.Download) at tasks[0]"]


def test_task_removed() -> None:
    new = BASE.replace("  - id: extract\n    type: io.kestra.plugin.core.log.Log\n    message: extracting\n", "")
    assert summary(BASE, new) == ["- task extract (io.kestra.plugin.core.log.Log) at tasks[0]"]


def test_tasks_wrapped_into_a_parallel_are_moved_not_removed_and_added() -> None:
    new = BASE.replace(
        """\
tasks:
  - id: extract
    type: io.kestra.plugin.core.log.Log
    message: extracting
  - id: load
    type: io.kestra.plugin.core.log.Log
    message: loading
    timeout: PT1H
""",
        """\
tasks:
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: extract
        type: io.kestra.plugin.core.log.Log
        message: extracting
      - id: load
        type: io.kestra.plugin.core.log.Log
        message: loading now
        timeout: PT1H
""",
    )
    result = diff_flows(BASE, new)
    assert result.summary.lines() == [
        "+ task both (io.kestra.plugin.core.flow.Parallel) at tasks[0]",
        "> task extract moved tasks[0] → tasks[0].tasks[0]",
        '> task load moved tasks[1] → tasks[0].tasks[1]; message loading → "loading now"',
    ]
    assert [(c.kind, c.old_path, c.path) for c in result.summary.moved] == [
        ("moved", "tasks[0]", "tasks[0].tasks[0]"),
        ("moved", "tasks[1]", "tasks[0].tasks[1]"),
    ]
    assert result.summary.removed == () and len(result.summary.added) == 1


def test_reordered_siblings_report_the_task_that_moved() -> None:
    flow = "id: f\nnamespace: n\ntasks:\n" + "".join(
        f"  - id: {name}\n    type: io.kestra.plugin.core.log.Log\n    message: {name}\n" for name in "abc"
    )
    a_last = (
        flow.replace("  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: a\n", "")
        + "  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: a\n"
    )
    assert summary(flow, a_last) == ["> task a moved tasks[0] → tasks[2]"]


NESTED = """\
id: branches
namespace: company.team
tasks:
  - id: check
    type: io.kestra.plugin.core.flow.If
    condition: "{{ inputs.ok }}"
    then:
      - id: yes
        type: io.kestra.plugin.core.log.Log
        message: ok
    else:
      - id: no
        type: io.kestra.plugin.core.log.Log
        message: not ok
  - id: route
    type: io.kestra.plugin.core.flow.Switch
    value: "{{ inputs.kind }}"
    cases:
      A:
        - id: a
          type: io.kestra.plugin.core.log.Log
          message: a
    defaults:
      - id: other
        type: io.kestra.plugin.core.log.Log
        message: other
  - id: dag
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task:
          id: first
          type: io.kestra.plugin.core.log.Log
          message: first
      - task:
          id: second
          type: io.kestra.plugin.core.log.Log
          message: second
        dependsOn:
          - first
errors:
  - id: alert
    type: io.kestra.plugin.core.log.Log
    message: failed
"""


def test_nested_tasks_are_matched_by_id_everywhere() -> None:
    new = (
        NESTED.replace("message: not ok", "message: nope")
        .replace("message: a\n", "message: A\n")
        .replace("message: second", "message: 2nd")
        .replace("message: failed", "message: boom")
    )
    result = diff_flows(NESTED, new)
    assert result.summary.lines() == [
        '~ task no: message "not ok" → nope',
        "~ task a: message a → A",
        '~ task second: message second → "2nd"',
        "~ task alert: message failed → boom",
    ]
    assert [c.path for c in result.summary.changes] == [
        "tasks[0].else[0]",
        "tasks[1].cases.A[0]",
        "tasks[2].tasks[1].task",
        "errors[0]",
    ]


def test_task_moved_between_branches_and_dag_dependencies_changed() -> None:
    new = NESTED.replace(
        "    then:\n      - id: yes\n        type: io.kestra.plugin.core.log.Log\n        message: ok\n    else:\n",
        "    else:\n      - id: yes\n        type: io.kestra.plugin.core.log.Log\n        message: ok\n",
    ).replace("        dependsOn:\n          - first\n", "")
    assert summary(NESTED, new) == [
        "> task yes moved tasks[0].then[0] → tasks[0].else[0]",
        "~ task dag: tasks changed",
    ]


def test_input_default_change() -> None:
    new = BASE.replace('defaults: "2024-01"', 'defaults: "2024-02"')
    result = diff_flows(BASE, new)
    assert result.summary.changes == (
        Change("changed", "input", "month", "inputs[0]", details=('defaults "2024-01" → "2024-02"',)),
    )
    assert str(result.summary) == '~ input month: defaults "2024-01" → "2024-02"'


def test_triggers_added_removed_changed() -> None:
    new = BASE.replace('cron: "0 9 * * *"', 'cron: "0 10 * * *"\n    disabled: true').replace(
        "triggers:\n",
        "triggers:\n  - id: hook\n    type: io.kestra.plugin.core.trigger.Webhook\n    key: abc123\n",
    )
    assert summary(BASE, new) == [
        "+ trigger hook (io.kestra.plugin.core.trigger.Webhook)",
        '~ trigger daily: cron "0 9 * * *" → "0 10 * * *"; disabled added',
    ]
    no_trigger = BASE.split("triggers:")[0]
    assert summary(BASE, no_trigger) == ["- trigger daily (io.kestra.plugin.core.trigger.Schedule)"]


def test_labels_as_map_or_list_are_the_same_labels() -> None:
    as_list = BASE.replace("labels:\n  team: data\n", "labels:\n  - key: team\n    value: data\n")
    result = diff_flows(BASE, as_list)
    assert result.changed is True and result.summary.changes == ()
    changed = as_list.replace("value: data", "value: platform") + "outputs:\n  - id: n\n    type: INT\n    value: 1\n"
    assert summary(BASE, changed) == ["+ output n (INT)", "~ label team: data → platform"]


def test_variables_and_plugin_defaults() -> None:
    old = BASE + "pluginDefaults:\n  - type: io.kestra.plugin.core.log.Log\n    values:\n      level: INFO\n"
    new = (
        BASE.replace("  env: dev\n", "  env: prod\n  bucket: s3://data\n")
        + "pluginDefaults:\n  - type: io.kestra.plugin.core.log.Log\n    forced: true\n    values:\n      level: INFO\n"
    )
    result = diff_flows(old, new)
    assert result.summary.lines() == [
        "~ variable env: dev → prod",
        "+ variable bucket",
        "~ pluginDefault io.kestra.plugin.core.log.Log: forced added",
    ]
    assert result.summary.changes[1] == Change("added", "variable", "bucket", "variables.bucket")


def test_unparseable_side_gives_a_note_and_still_a_unified_diff() -> None:
    broken = BASE.replace("  - id: load\n", "  - id: load\n\tbad: tab\n")
    result = diff_flows(BASE, broken, new_label="draft")
    assert result.changed is True
    assert result.summary.changes == ()
    assert result.summary.note is not None
    assert result.summary.note.startswith("draft could not be parsed as a flow (line 16): YAML syntax error")
    assert result.summary.note.endswith("— only the text diff is available.")
    assert str(result.summary) == f"! {result.summary.note}"
    assert "+\tbad: tab\n" in result.unified
    assert diff_flows("- just\n- a list\n", BASE).summary.note == (
        "previous could not be parsed as a flow (line 1): The document is a list, not a mapping."
        " — only the text diff is available."
    )


def test_to_dict() -> None:
    data = diff_flows(BASE, BASE.replace("namespace: company.team", "namespace: company.data")).to_dict()
    assert data == {
        "changed": True,
        "summary": {
            "changes": [
                {
                    "kind": "changed",
                    "section": "flow",
                    "id": "etl",
                    "path": "",
                    "old_path": "",
                    "type": None,
                    "details": ["namespace company.team → company.data"],
                }
            ],
            "note": None,
        },
        "unified": "--- previous\n+++ current\n@@ -1,5 +1,5 @@\n id: etl\n-namespace: company.team\n"
        "+namespace: company.data\n labels:\n   team: data\n inputs:\n",
    }
