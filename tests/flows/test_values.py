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
