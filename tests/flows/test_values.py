"""The one walk of a flow's plugin types, shared by the capability summary, the eval scorers and the index."""

from copilot.flows import parse_flow, plugin_types

FLOW = """\
id: etl
namespace: company.team
inputs:
  - id: day
    type: STRING
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2]
    tasks:
      - id: run
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands: [echo hi]
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 * * *"
pluginDefaults:
  - type: io.kestra.plugin.jdbc.postgresql
    values: {url: jdbc:postgresql://db/x}
"""


def test_every_plugin_type_in_document_order_and_no_input_types() -> None:
    assert plugin_types(parse_flow(FLOW).data) == [
        "io.kestra.plugin.core.flow.ForEach",
        "io.kestra.plugin.scripts.shell.Commands",
        "io.kestra.plugin.core.runner.Process",
        "io.kestra.plugin.core.trigger.Schedule",
        "io.kestra.plugin.jdbc.postgresql",
    ]
    assert plugin_types(None) == [] and plugin_types("io.kestra.x") == []


def test_flow_needs_finds_the_kv_keys_and_secrets_its_expressions_read() -> None:
    from copilot.flows import KvRead, flow_needs

    text = """message: |
  {{ kv('A') }} {{ kv("B", 'team.other') }} {{ kv(key='C', errorOnMissing=false) }}
  {{ kv(inputs.key) }} {{ secret('TOKEN') }} {{ secret( "TOKEN" ) }} {{ kv('A') }}
"""
    needs = flow_needs(text)
    assert needs.kv == (KvRead("A", None, True), KvRead("B", "team.other", True), KvRead("C", None, False))
    assert needs.secrets == ("TOKEN",)  # once; an expression key is known only at run time


def test_same_flow_ignores_layout_and_comments_and_prose_leaves_the_flow_out() -> None:
    from copilot.flows import reply_prose, same_flow

    assert same_flow("id: a\nnamespace: b\n", "id: a  # the id\nnamespace: 'b'\n")
    assert not same_flow("id: a\nnamespace: b\n", "id: a\nnamespace: c\n")
    reply = "The table is missing: create it.\n\n```yaml\nid: a\nnamespace: b\ntasks: []\n```\n\nThen run again."
    assert reply_prose(reply) == "The table is missing: create it.\n\nThen run again."
