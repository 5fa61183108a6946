"""The topology tree of a flow."""

import yaml

from copilot.flows import flow_topology

FLOW = """
id: etl
namespace: company.team
inputs:
  - id: month
    type: STRING
    defaults: "2024-01"
triggers:
  - id: monthly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 1 * *"
tasks:
  - id: extract
    type: io.kestra.plugin.core.http.Download
  - id: branches
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: check
        type: io.kestra.plugin.core.flow.If
        condition: "{{ true }}"
        then:
          - id: yes_branch
            type: io.kestra.plugin.core.log.Log
        else:
          - id: no_branch
            type: io.kestra.plugin.core.log.Log
      - id: route
        type: io.kestra.plugin.core.flow.Switch
        value: a
        cases:
          a:
            - id: case_a
              type: io.kestra.plugin.core.log.Log
        defaults:
          - id: other
            type: io.kestra.plugin.core.log.Log
  - id: child
    type: io.kestra.plugin.core.flow.Subflow
    namespace: company.team
    flowId: load
errors:
  - id: alert
    type: io.kestra.plugin.core.log.Log
finally:
  - id: cleanup
    type: io.kestra.plugin.core.log.Log
"""


def test_topology_shows_nesting_branches_and_sections() -> None:
    tree = flow_topology(yaml.safe_load(FLOW))
    assert tree.lines() == [
        "company.team.etl",
        "  inputs",
        "    month: STRING = '2024-01'",
        "  triggers",
        "    monthly (Schedule)",
        "  tasks",
        "    extract (Download)",
        "    branches (Parallel)",
        "      check (If)",
        "        then",
        "          yes_branch (Log)",
        "        else",
        "          no_branch (Log)",
        "      route (Switch)",
        "        default",
        "          other (Log)",
        "        case a",
        "          case_a (Log)",
        "    child (Subflow) → company.team.load",
        "  errors",
        "    alert (Log)",
        "  finally",
        "    cleanup (Log)",
    ]


def test_malformed_flows_still_give_a_tree() -> None:
    assert flow_topology("not a flow").lines() == ["(not a flow)"]
    assert flow_topology({"id": "x", "tasks": "oops"}).lines() == ["?.x", "  tasks"]
    assert flow_topology({"id": "x", "namespace": "n", "tasks": [42]}).lines() == ["n.x", "  tasks", "    (not a task)"]
