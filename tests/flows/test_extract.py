from copilot.flows._extract import extract_flow_yaml, extract_yaml_blocks

FLOW = """\
id: hello
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.name }}"
"""


def test_chatter_around_a_yaml_fence() -> None:
    reply = f"Here is your flow:\n\n```yaml\n{FLOW}```\n\nIt logs a greeting. Let me know if you need changes!\n"
    assert extract_flow_yaml(reply) == FLOW
    assert extract_yaml_blocks(reply) == [FLOW]


def test_windows_line_endings_become_newlines() -> None:
    reply = f"Here is your flow:\r\n```yaml\r\n{FLOW.replace(chr(10), chr(13) + chr(10))}```\r\n"
    assert extract_flow_yaml(reply) == FLOW


def test_yml_and_tilde_and_untagged_fences() -> None:
    assert extract_flow_yaml(f"```yml\n{FLOW}```") == FLOW
    assert extract_flow_yaml(f"~~~yaml\n{FLOW}~~~\n") == FLOW
    assert extract_flow_yaml(f"Flow:\n```\n{FLOW}```\n") == FLOW
    assert extract_flow_yaml(f"````YAML title=flow.yml\n{FLOW}````\n") == FLOW


def test_content_is_kept_byte_identical() -> None:
    flow = (
        "# my flow\n"
        "id: hello   \n"
        "namespace: 'company.team'\n"
        "\n"
        "tasks:\n"
        "  - id: log  # say it\n"
        "    type: io.kestra.plugin.core.log.Log\n"
        "    message: |\n"
        "      line one\n"
        "\n"
        "      line three\n"
    )
    assert extract_flow_yaml(f"```yaml\n\n\n{flow}\n   \n```") == flow


def test_two_fences_only_the_second_is_a_flow() -> None:
    snippet = "inputs:\n  - id: name\n    type: STRING\n"
    reply = f"First declare the input:\n```yaml\n{snippet}```\nThen the whole flow:\n```yaml\n{FLOW}```\n"
    assert extract_flow_yaml(reply) == FLOW
    assert extract_yaml_blocks(reply) == [snippet, FLOW]


def test_first_fence_is_the_flow_and_a_later_one_is_a_snippet() -> None:
    reply = f"```yaml\n{FLOW}```\nYou could also add:\n```yaml\nretry:\n  type: constant\n```\n"
    assert extract_flow_yaml(reply) == FLOW


def test_several_flows_the_last_complete_one_wins() -> None:
    fixed = FLOW.replace("company.team", "company.data")
    reply = f"Before:\n```yaml\n{FLOW}```\nAfter the fix:\n```yaml\n{fixed}```\n"
    assert extract_flow_yaml(reply) == fixed


def test_a_closed_flow_beats_a_later_one_cut_by_the_stream() -> None:
    cut = "id: hello\nnamespace: company.team\ntasks:\n  - id: log\n"
    assert extract_flow_yaml(f"```yaml\n{FLOW}```\nOr:\n```yaml\n{cut}") == FLOW


def test_fence_never_closed() -> None:
    assert extract_flow_yaml(f"Sure! Here it is:\n\n```yaml\n{FLOW}") == FLOW
    # the stream stopped in the middle of the closing fence
    assert extract_flow_yaml(f"```yaml\n{FLOW}``") == FLOW


def test_fence_indented_inside_a_list() -> None:
    indented = "".join(f"   {line}\n" if line else "\n" for line in FLOW.splitlines())
    reply = f"1. Save this flow:\n\n   ```yaml\n{indented}   ```\n2. Execute it from the UI.\n"
    assert extract_flow_yaml(reply) == FLOW


def test_a_fence_inside_a_block_scalar_does_not_close_the_block() -> None:
    flow = (
        "id: doc\n"
        "namespace: company.team\n"
        "tasks:\n"
        "  - id: log\n"
        "    type: io.kestra.plugin.core.log.Log\n"
        "    message: |\n"
        "      ```\n"
        "      code\n"
        "      ```\n"
    )
    assert extract_flow_yaml(f"```yaml\n{flow}```\n") == flow


def test_bare_yaml_without_a_fence() -> None:
    assert extract_flow_yaml(FLOW) == FLOW
    assert extract_flow_yaml(FLOW + "\n\n  \n") == FLOW


def test_bare_yaml_with_chatter_before_and_after() -> None:
    flow = (
        "id: hello\n"
        "namespace: company.team\n"
        "\n"
        "tasks:\n"
        "- id: log\n"
        "  type: io.kestra.plugin.core.log.Log\n"
        "  message: hi\n"
        "schedule:\n"
        "  cron: daily\n"
    )
    reply = (
        f"Here is your flow:\n\n{flow}\n"
        "## Explanation\n"
        "Note: the namespace must exist before you deploy.\n"
        "- it logs a message\n"
    )
    assert extract_flow_yaml(reply) == flow
    assert extract_flow_yaml(f"Here is your flow:\n\n{flow}\n- it logs a message\n") == flow


def test_invalid_yaml_meant_as_the_flow_is_returned_for_the_validator() -> None:
    broken = "id: hello\nnamespace: company.team\ntasks:\n  - id: log\n\ttype: io.kestra.plugin.core.log.Log\n"
    assert extract_flow_yaml(f"Here you go:\n```yaml\n{broken}```\n") == broken
    # the broken flow has more flow keys than the valid snippet next to it
    assert extract_flow_yaml(f"```yaml\n{broken}```\n```yaml\nretry:\n  type: constant\n```\n") == broken


def test_tasks_alone_marks_an_invalid_block_as_the_flow() -> None:
    broken = "tasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: {{ inputs.name }}\n"
    assert extract_flow_yaml(f"```\n{broken}```") == broken


def test_no_yaml_at_all() -> None:
    assert extract_flow_yaml("Which namespace should the flow live in? Note: it must exist.") is None
    assert extract_yaml_blocks("Which namespace should the flow live in?") == []
    assert extract_flow_yaml("") is None


def test_a_snippet_that_is_not_a_flow_is_not_returned() -> None:
    reply = "Add this to the task:\n```yaml\nretry:\n  type: constant\n  maxAttempts: 3\n```\n"
    assert extract_flow_yaml(reply) is None
    assert extract_yaml_blocks(reply) == ["retry:\n  type: constant\n  maxAttempts: 3\n"]


def test_fences_of_other_languages_are_ignored() -> None:
    reply = 'Validate it with:\n```\nkestra flow validate flow.yml\n```\n```json\n{"id": "x"}\n```\n'
    assert extract_flow_yaml(reply) is None
    assert extract_yaml_blocks(reply) == []
    assert extract_flow_yaml(f"```bash\nkestra flow validate flow.yml\n```\n```yaml\n{FLOW}```") == FLOW
