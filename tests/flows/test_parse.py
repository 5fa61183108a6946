import math

import pytest

from copilot.flows._errors import FlowSyntaxError
from copilot.flows._parse import MAX_ALIAS_EXPANSION, format_path, parse_flow, parse_yaml

FLOW = """\
id: hello
namespace: company.team
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: hi
  - id: second
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.name }}"
"""


def test_positions_of_keys_and_list_items() -> None:
    parsed = parse_flow(FLOW)
    assert parsed.data["tasks"][1]["id"] == "second"
    assert parsed.position(("namespace",)).line == 2
    assert parsed.position(("tasks", 1)).line == 7
    assert parsed.position(("tasks", 1, "format")).line == 9
    assert parsed.position(("tasks", 1, "format")).column == 5
    # a path that does not exist falls back to its nearest parent
    assert parsed.position(("tasks", 1, "nothing", "here")).line == 7


def test_yaml_1_2_scalars_like_jackson() -> None:
    data = parse_flow(
        "id: a\nnamespace: b\ntasks: []\n"
        "x1: on\nx2: yes\nx3: 2024-01-31\nx4: true\nx5: 0x1F\nx6: .inf\nx7: ~\nx8: 1.5\n"
    ).data
    assert data["x1"] == "on" and data["x2"] == "yes"  # YAML 1.1 booleans stay strings
    assert data["x3"] == "2024-01-31"  # dates stay text
    assert data["x4"] is True and data["x5"] == 31 and math.isinf(data["x6"])
    assert data["x7"] is None and data["x8"] == 1.5


def test_duplicate_keys_are_reported_not_fatal() -> None:
    parsed = parse_flow("id: a\nnamespace: b\nid: c\ntasks: []\n")
    assert parsed.data["id"] == "c"
    [problem] = parsed.problems
    assert problem.code == "duplicate-key" and problem.line == 3 and "line 1" in problem.message


@pytest.mark.parametrize(
    ("text", "words", "line"),
    [
        ("id: a\n  namespace: b\n", "syntax", 2),
        ("id: a\ntasks:\n\t- id: x\n", "syntax", 3),
        ("- a\n- b\n", "list", 1),
        ("just text\n", "single value", 1),
        ("", "empty", None),
        ("id: a\n---\nid: b\n", "several YAML documents", 2),
        ("a: &x [*x]\n", "recursive", 1),
    ],
)
def test_bad_input_gets_a_clear_error(text: str, words: str, line: int | None) -> None:
    with pytest.raises(FlowSyntaxError) as caught:
        parse_flow(text)
    assert words in str(caught.value)
    assert caught.value.line == line
    assert caught.value.to_diagnostic().code == "yaml-syntax"


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    with pytest.raises(FlowSyntaxError) as caught:
        parse_yaml("\n".join(lines))
    assert "alias bomb" in str(caught.value)
    assert MAX_ALIAS_EXPANSION < 9**9


def test_a_few_aliases_are_fine() -> None:
    parsed = parse_flow("id: a\nnamespace: b\nx: &m {k: 1}\ny: *m\ntasks: []\n")
    assert parsed.data["y"] == {"k": 1}
    assert parsed.position(("y",)).line == 4


def test_size_limit_and_depth_limit() -> None:
    with pytest.raises(FlowSyntaxError, match="limit"):
        parse_flow("id: a\n" + "# pad\n" * 10, max_bytes=20)
    with pytest.raises(FlowSyntaxError, match="nested"):
        parse_yaml("[" * 300 + "]" * 300)


def test_format_path() -> None:
    assert format_path(("tasks", 2, "sql")) == "tasks[2].sql"
    assert format_path(()) == ""
    assert format_path(("inputs", 0)) == "inputs[0]"
