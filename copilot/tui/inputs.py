"""A flow's `inputs`, as the test-run form shows and reads them: each typed by its declared Kestra type.

    field = InputField.from_spec({"id": "count", "type": "INT", "defaults": 3})
    field.coerce("5")   → 5          field.coerce("five") → ValueError("count: an INT is a whole number …")
    wire(5) → "5"       wire(True) → "true"       wire(["a", "b"]) → '["a", "b"]'

Reading parses the text by the type (a number, a boolean, JSON, a list); whether the value is one the
input accepts (bounds, `validator`, dates, SELECT choices…) is the flow validator's own rule
(`flows.value_problem`), so the form and `validate` never disagree. Kestra reads execution inputs from a
multipart body — text parts it parses by the input's type — so a checked value goes out in the form
Kestra parses: booleans as `true`/`false`, arrays and JSON as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..flows import YamlMap, YamlValue

__all__ = ["InputField", "typed_inputs", "wire"]

TRUE = {"true", "yes", "y", "on", "1"}
FALSE = {"false", "no", "n", "off", "0"}
# What an empty field means per type, shown as the field's placeholder.
PLACEHOLDERS = {
    "INT": "a whole number",
    "FLOAT": "a number",
    "BOOLEAN": "true or false",
    "BOOL": "true or false",
    "ARRAY": 'a, b, c  or  ["a", "b"]',
    "MULTISELECT": "a, b  (comma-separated)",
    "JSON": '{"key": "value"}',
    "DATETIME": "2024-01-31T10:00:00Z",
    "DATE": "2024-01-31",
    "TIME": "10:00:00",
    "DURATION": "PT1H",
}


def wire(value: YamlValue) -> str:
    """The text Kestra parses back into `value` for the input's type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def typed_inputs(specs: list[YamlMap], argument: str) -> dict[str, str]:
    """`/run month=2024-01 count=3`: each value read as its input's type (as the form reads it), in the
    text Kestra parses. ValueError (or CopilotError for a token without `=`) says what is wrong."""
    from ..cli_kestra import parse_pairs

    fields = {f.name: f for f in map(InputField.from_spec, specs)}
    given = parse_pairs(argument.split(), "=", "/run")
    unknown = sorted(set(given) - set(fields))
    if unknown:
        known = ", ".join(fields) or "none"
        raise ValueError(f"The flow has no input {', '.join(unknown)} (its inputs: {known}).")
    typed = {name: fields[name].coerce(text) for name, text in given.items()}
    return {name: wire(value) for name, value in typed.items() if value is not None}


@dataclass(frozen=True)
class InputField:
    name: str
    type: str = "STRING"
    required: bool = False
    default: YamlValue = None
    values: tuple[str, ...] = ()  # SELECT, ENUM, MULTISELECT
    item_type: str = "STRING"  # ARRAY
    description: str = ""
    definition: YamlMap = field(default_factory=dict, compare=False)  # the input as the flow declares it

    @classmethod
    def from_spec(cls, spec: YamlMap) -> InputField:
        default = spec.get("defaults", spec.get("default"))
        choices = spec.get("values", spec.get("options"))
        return cls(
            name=str(spec.get("id") or spec.get("name")),
            type=str(spec.get("type") or "STRING").upper(),
            required=bool(spec.get("required", True)) and default is None,
            default=default,
            values=tuple(str(v) for v in choices) if isinstance(choices, list) else (),
            item_type=str(spec.get("itemType") or "STRING").upper(),
            description=str(spec.get("description") or ""),
            definition=dict(spec),
        )

    @property
    def kind(self) -> str:
        """The type as shown: `ARRAY of INT`, `SELECT (a | b)`."""
        if self.type == "ARRAY":
            return f"ARRAY of {self.item_type}"
        if self.values:
            return f"{self.type} ({' | '.join(self.values)})"
        return self.type

    @property
    def initial(self) -> str:
        """The field's starting text: the default, written as it would be typed."""
        return "" if self.default is None else wire(self.default)

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS.get(self.type, "")

    def coerce(self, raw: str) -> YamlValue:
        """The value typed as the input's type; None for an empty optional field. ValueError says why not."""
        text = raw.strip()
        if not text:
            if self.required:
                raise ValueError(f"{self.name}: required.")
            return None
        from ..flows import value_problem

        try:
            value = self._items(text) if self.type in ("ARRAY", "MULTISELECT") else self._one(self.type, text)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        problem = value_problem(self.type, value, self.definition)
        if problem:
            raise ValueError(f"{self.name}: {problem}.")
        return value

    def _one(self, kind: str, text: str) -> YamlValue:
        """The text parsed as a value of `kind` (text stays text for the types Kestra reads as text)."""
        if kind == "INT":
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"an INT is a whole number, not {text!r}.") from None
        if kind == "FLOAT":
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"a FLOAT is a number, not {text!r}.") from None
        if kind in ("BOOLEAN", "BOOL"):
            if text.lower() in TRUE | FALSE:
                return text.lower() in TRUE
            raise ValueError(f"a {kind} is true or false, not {text!r}.")
        if kind == "JSON":
            try:
                value: YamlValue = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"not valid JSON ({exc}).") from None
            return value
        return text

    def _items(self, text: str) -> list[YamlValue]:
        items: YamlValue
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"not a valid JSON array ({exc}).") from None
            if not isinstance(items, list):
                raise ValueError("a JSON array is written [ … ].")
        else:
            items = [item.strip() for item in text.split(",") if item.strip()]
        if self.type == "MULTISELECT":
            return [str(item) for item in items]
        return [self._item(item) for item in items]

    def _item(self, item: YamlValue) -> YamlValue:
        """An ARRAY item as its `itemType`: text is parsed, a JSON value must already be of the type."""
        kind = self.item_type
        if isinstance(item, str):
            return self._one(kind, item)
        fits = {
            "INT": isinstance(item, int) and not isinstance(item, bool),
            "FLOAT": isinstance(item, int | float) and not isinstance(item, bool),
            "BOOLEAN": isinstance(item, bool),
            "BOOL": isinstance(item, bool),
            "JSON": True,
        }.get(kind, not isinstance(item, list | dict))
        if not fits:
            raise ValueError(f"{json.dumps(item)} is not an item of type {kind}.")
        if kind == "FLOAT" and isinstance(item, int | float):
            return float(item)
        return wire(item) if kind == "STRING" else item
