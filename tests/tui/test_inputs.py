"""Test-run inputs read by their declared Kestra type, and written in the text form Kestra parses."""

import pytest

from copilot.tui.inputs import InputField, wire


def field(**spec: object) -> InputField:
    return InputField.from_spec({"id": "x", **spec})


@pytest.mark.parametrize(
    ("spec", "raw", "value"),
    [
        ({"type": "INT"}, " 42 ", 42),
        ({"type": "INT"}, "-7", -7),
        ({"type": "FLOAT"}, "0.5", 0.5),
        ({"type": "FLOAT"}, "1e3", 1000.0),
        ({"type": "BOOLEAN"}, "Yes", True),
        ({"type": "BOOL"}, "false", False),
        ({"type": "BOOL"}, "0", False),
        ({"type": "ARRAY", "itemType": "INT"}, "1, 2,3", [1, 2, 3]),
        ({"type": "ARRAY", "itemType": "INT"}, '["4", 5]', [4, 5]),
        ({"type": "ARRAY"}, '["a b", "c", 3]', ["a b", "c", "3"]),
        ({"type": "ARRAY", "itemType": "FLOAT"}, "[1, 2.5]", [1.0, 2.5]),
        ({"type": "ARRAY", "itemType": "JSON"}, '[{"k": 1}]', [{"k": 1}]),
        ({"type": "MULTISELECT", "values": ["a", "b", "c"]}, "c, a", ["c", "a"]),
        ({"type": "JSON"}, '{"k": [1, null]}', {"k": [1, None]}),
        ({"type": "JSON"}, "3", 3),
        ({"type": "SELECT", "values": ["INFO", "WARN"]}, "WARN", "WARN"),
        ({"type": "SELECT", "values": ["INFO"], "allowCustomValue": True}, "TRACE", "TRACE"),
        ({"type": "INT", "min": 1, "max": 12}, "12", 12),
        ({"type": "STRING"}, "  spaced  ", "spaced"),
        ({"type": "DATE"}, "2024-01-31", "2024-01-31"),
        ({"type": "INT", "required": False}, "", None),
    ],
)
def test_values_are_typed_by_the_declared_type(spec: dict, raw: str, value: object) -> None:
    assert field(**spec).coerce(raw) == value
    assert type(field(**spec).coerce(raw)) is type(value)


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        ({"type": "INT"}, "4.5", "x: an INT is a whole number, not '4.5'."),
        ({"type": "FLOAT"}, "half", "x: a FLOAT is a number, not 'half'."),
        ({"type": "BOOL"}, "maybe", "x: a BOOL is true or false, not 'maybe'."),
        ({"type": "ARRAY", "itemType": "INT"}, "1, two", "x: an INT is a whole number, not 'two'."),
        ({"type": "ARRAY", "itemType": "INT"}, '[1, {"b": 2}]', 'x: {"b": 2} is not an item of type INT.'),
        ({"type": "ARRAY", "itemType": "INT"}, "[true]", "x: true is not an item of type INT."),
        ({"type": "ARRAY"}, '[["nested"]]', 'x: ["nested"] is not an item of type STRING.'),
        ({"type": "ARRAY"}, "[1,", "x: not a valid JSON array"),
        ({"type": "MULTISELECT", "values": ["a", "b"]}, "a, z", "x: 'z' not among a, b."),
        ({"type": "JSON"}, "{oops", "x: not valid JSON"),
        ({"type": "SELECT", "values": ["INFO", "WARN"]}, "DEBUG", "x: 'DEBUG' is not one of INFO, WARN."),
        # what the flow validator checks, the form checks too (flows.value_problem)
        ({"type": "INT", "min": 1, "max": 12}, "13", "x: it is greater than the maximum 12."),
        ({"type": "STRING", "validator": "\\d{4}-\\d{2}"}, "Jan", "x: 'Jan' does not match the validator"),
        ({"type": "DATE"}, "31/01/2024", "x: '31/01/2024' is not a date such as 2025-01-31."),
        ({"type": "SELECT", "options": ["a", "b"]}, "c", "x: 'c' is not one of a, b."),
        ({"type": "STRING"}, "  ", "x: required."),  # Kestra's inputs are required unless they say otherwise
    ],
)
def test_values_that_do_not_read_say_why(spec: dict, raw: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        field(**spec).coerce(raw)
    assert str(caught.value).startswith(message)


def test_a_default_makes_an_input_optional_and_is_shown_as_typed() -> None:
    tags = field(type="ARRAY", itemType="STRING", defaults=["a", "b"])
    assert not tags.required and tags.initial == '["a", "b"]' and tags.kind == "ARRAY of STRING"
    assert field(type="BOOL", defaults=True).initial == "true"
    assert field(type="INT", defaults=0).initial == "0"  # a falsy default is still a default
    assert field(type="STRING").required and field(type="STRING", required=False).coerce("") is None
    assert field(type="SELECT", values=["a", "b"]).kind == "SELECT (a | b)"


def test_wire_writes_what_kestra_parses() -> None:
    assert [wire(v) for v in (5, 0.5, True, False, ["a", 1], {"k": None}, "text")] == [
        "5",
        "0.5",
        "true",
        "false",
        '["a", 1]',
        '{"k": null}',
        "text",
    ]


def test_run_arguments_are_read_as_the_form_reads_them() -> None:
    from copilot.errors import CopilotError
    from copilot.tui.inputs import typed_inputs

    specs = [
        {"id": "month", "type": "STRING"},
        {"id": "count", "type": "INT", "max": 5},
        {"id": "loud", "type": "BOOL"},
    ]
    assert typed_inputs(specs, "month=2024-01 count=3 loud=yes") == {"month": "2024-01", "count": "3", "loud": "true"}
    with pytest.raises(ValueError, match="count: it is greater than the maximum 5"):
        typed_inputs(specs, "count=9")
    with pytest.raises(ValueError, match=r"no input mnth \(its inputs: month, count, loud\)"):
        typed_inputs(specs, "mnth=2024-01")
    with pytest.raises(CopilotError, match="must look like KEY=VALUE"):
        typed_inputs(specs, "month")  # a token without `=` is refused, not dropped
