"""Turn python-jsonschema errors into short, line-pinned diagnostics.

A bad task in Kestra's schema fails an `anyOf` over every task class, and jsonschema's message is the
useless "is not valid under any of the given schemas". Here an `anyOf` is opened up: when the value has a
`type:` the branch that type selects is reported (its real errors, recursively); otherwise the branch
whose JSON type fits is; when none fits, one message lists what would have been accepted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from jsonschema._utils import Unset  # what the stubs type a field of an error made by hand as
from jsonschema.exceptions import ValidationError

from ._defaults import defaulted_keys
from ._diagnostics import Diagnostic
from ._parse import ParsedFlow, Path
from ._schema import FlowSchema
from ._schemagen import PEBBLE_PATTERN
from ._types import YamlMap, YamlValue
from ._values import as_list
from ._where import describe_location, did_you_mean, sentence

__all__ = ["translate_errors"]

_ARTICLE_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true/false)",
    "array": "a list",
    "object": "a mapping",
    "null": "empty",
}


def translate_errors(
    errors: Iterable[ValidationError], parsed: ParsedFlow[YamlMap], schema: FlowSchema, prefix: Path = ()
) -> list[Diagnostic]:
    translator = _Translator(parsed, schema, prefix)
    out: list[Diagnostic] = []
    for error in errors:
        out.extend(translator.translate(error))
    return out


def _describe_value(value: YamlValue) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "…"
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "empty (null)"


class _Translator:
    def __init__(self, parsed: ParsedFlow[YamlMap], schema: FlowSchema, prefix: Path) -> None:
        self.parsed = parsed
        self.schema = schema
        self.prefix = prefix

    def _defaulted(self, path: Path, key: str) -> bool:
        node = self.parsed.get(path)
        node_type = node.get("type") if isinstance(node, dict) else None
        return isinstance(node_type, str) and key in defaulted_keys(self.parsed.data, node_type, self.schema)

    def _named_input(self, path: Path) -> bool:
        node = self.parsed.get(path)
        in_inputs = len(path) >= 2 and path[-2] in ("inputs", "onResume")
        return in_inputs and self.schema.kestra_version < 2 and isinstance(node, dict) and "name" in node

    def _where(self, path: Path) -> str:
        return describe_location(self.parsed.data, path)

    def translate(self, error: ValidationError) -> list[Diagnostic]:
        path: Path = (*self.prefix, *error.absolute_path)
        instance = _instance(error)
        validator = error.validator
        if validator in ("anyOf", "oneOf"):
            return self._any_of(error, path)
        if validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else str(error.validator_value)
            if missing == "type":
                return []  # reported by the structure walker, with context
            if missing == "id" and self._named_input(path):
                return []  # Kestra 1.x still reads the deprecated `name` of an input as its id
            if self._defaulted(path, missing):
                return []  # a flow-level plugin default supplies it, as Kestra injects them first
            return [
                self.parsed.diagnostic(
                    "missing-property",
                    path,
                    f"{sentence(self._where(path))} is missing the required property `{missing}`.",
                    f"Add `{missing}:`.",
                )
            ]
        if validator == "type":
            expected = _schema_value(error)
            names = [str(n) for n in (expected if isinstance(expected, list) else [expected])]
            if "string" in names and isinstance(instance, (bool, int, float)):
                return []  # Jackson coerces a YAML number or boolean into a String property
            wanted = " or ".join(_ARTICLE_TYPES.get(n, n) for n in names)
            return [
                self.parsed.diagnostic(
                    "wrong-type",
                    path,
                    f"{sentence(self._where(path))} must be {wanted}, not {_describe_value(instance)}.",
                    _type_hint(names, instance),
                )
            ]
        if validator in ("enum", "const"):
            allowed = as_list(_schema_value(error)) if validator == "enum" else [_schema_value(error)]
            if path and path[-1] == "type":
                return []  # the discriminator; the structure walker explains unknown types
            suggestion = did_you_mean(str(instance), [str(a) for a in allowed])
            shown = ", ".join(str(a) for a in allowed[:12]) + ("…" if len(allowed) > 12 else "")
            return [
                self.parsed.diagnostic(
                    "invalid-value",
                    path,
                    f"{sentence(self._where(path))} must be one of {shown}; got {_describe_value(instance)}.",
                    f"Did you mean `{suggestion}`?" if suggestion else None,
                )
            ]
        if validator == "pattern":
            return [self._pattern(error, path)]
        if validator == "minItems":
            return [
                self.parsed.diagnostic(
                    "empty-list",
                    path,
                    f"{sentence(self._where(path))} must not be empty.",
                    "Add at least one item.",
                )
            ]
        if validator in ("minLength", "maxLength"):
            limit = error.validator_value
            text = "must not be empty" if validator == "minLength" else f"is longer than {limit} characters"
            return [self.parsed.diagnostic("invalid-value", path, f"{sentence(self._where(path))} {text}.")]
        if validator == "not":
            if isinstance(instance, dict) and "type" in instance:
                return []  # an empty family: the structure walker reports the unknown type
            return [
                self.parsed.diagnostic("invalid-value", path, f"{sentence(self._where(path))} is not allowed here.")
            ]
        return [self.parsed.diagnostic("schema", path, f"{sentence(self._where(path))}: {error.message}")]

    def _pattern(self, error: ValidationError, path: Path) -> Diagnostic:
        key = path[-1] if path else ""
        value = _instance(error)
        if key in ("id", "namespace", "key"):
            rules = {
                "id": "start with a letter or digit and use only letters, digits, `_` and `-`"
                " (flow ids may also contain `.`)",
                "namespace": "be lower-case, start with a letter or digit and use only `a-z 0-9 . _ -`",
                "key": "start with a lower-case letter and use only letters, digits, `.`, `_` and `-`",
            }[str(key)]
            return self.parsed.diagnostic(
                "invalid-id",
                path,
                f"{sentence(self._where(path))} {value!r} is not valid: it must {rules}.",
                f"For example `{_slug(str(value), lower=key != 'id')}`.",
            )
        return self.parsed.diagnostic(
            "invalid-value",
            path,
            f"{sentence(self._where(path))} {_describe_value(value)} does not match `{error.validator_value}`.",
        )

    def _plain_string(self, branch: YamlValue) -> bool:
        members = self.schema.flatten(branch)
        return bool(members) and all(
            m.get("type") == "string" and not {"pattern", "enum", "const"} & m.keys() for m in members
        )

    # --- anyOf ------------------------------------------------------------------------------------
    def _any_of(self, error: ValidationError, path: Path) -> list[Diagnostic]:
        branches = as_list(_schema_value(error))
        by_branch: dict[int, list[ValidationError]] = defaultdict(list)
        for sub in error.context or []:
            by_branch[int(sub.schema_path[0])].append(sub)
        instance = _instance(error)
        if isinstance(instance, (bool, int, float)) and any(self._plain_string(b) for b in branches):
            return []  # Jackson coerces a YAML number or boolean into a String property
        type_values = self.schema.branch_type_values(branches)  # computed once per branch list
        if isinstance(instance, dict) and any(type_values):
            chosen = next((i for i, values in enumerate(type_values) if instance.get("type") in values), None)
            if chosen is None:
                return []  # unknown or missing type: the structure walker reports it
            return self._translate_all(by_branch[chosen])
        fitting = [i for i, branch in enumerate(branches) if not _fails_at_root(by_branch[i], ("type",))]
        if len(fitting) == 1 and not _is_pebble_alternative(branches[fitting[0]]):
            return self._translate_all(by_branch[fitting[0]])
        real = [i for i in fitting if not _is_pebble_alternative(branches[i])]
        if len(real) == 1 and isinstance(instance, str) and _fails_at_root(by_branch[real[0]], ("enum", "const")):
            return self._translate_all(by_branch[real[0]])
        wanted = " or ".join(dict.fromkeys(self._describe_schema(b) for b in branches))
        return [
            self.parsed.diagnostic(
                "wrong-type",
                path,
                f"{sentence(self._where(path))} must be {wanted}; got {_describe_value(instance)}.",
            )
        ]

    def _translate_all(self, errors: list[ValidationError]) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        for sub in errors:
            out.extend(self.translate(sub))
        return out

    def _describe_schema(self, schema: YamlValue) -> str:
        if _is_pebble_alternative(schema):
            return 'a Pebble expression such as "{{ inputs.x }}"'
        members = self.schema.flatten(schema)
        for member in members:
            if "enum" in member:
                return "one of " + ", ".join(str(v) for v in as_list(member.get("enum"))[:8])
            declared = member.get("type")
            if declared == "array":
                items = member.get("items")
                inner = self._describe_schema(items) if isinstance(items, dict) else "values"
                return f"a list of {_plural(inner)}"
            if isinstance(declared, str):
                return _ARTICLE_TYPES.get(declared, declared)
            if "properties" in member:
                values = self.schema.type_values(member)
                return f"a `{values[0]}` object" if values else "a mapping"
            if alternatives := as_list(member.get("anyOf")):
                return " or ".join(self._describe_schema(b) for b in alternatives[:3])
        return "a value"


def _plural(description: str) -> str:
    for article in ("a ", "an "):
        if description.startswith(article):
            noun = description[len(article) :]
            return noun if noun.endswith("s") else noun + "s"
    return description


def _fails_at_root(errors: list[ValidationError], validators: tuple[str, ...]) -> bool:
    return any(e.validator in validators and not e.relative_path for e in errors)


def _is_pebble_alternative(schema: YamlValue) -> bool:
    return (
        isinstance(schema, dict) and schema.get("type") == "string" and PEBBLE_PATTERN in str(schema.get("pattern", ""))
    )


def _type_hint(expected: list[str], value: YamlValue) -> str | None:
    if "string" in expected and isinstance(value, (list, dict)):
        return "Write it as one string; use a YAML block (`|`) for several lines."
    if "array" in expected and not isinstance(value, list):
        return "Write it as a YAML list (`- item` on each line)."
    if "object" in expected and isinstance(value, str):
        return "Write it as a mapping (`key: value` lines indented under it)."
    return None


def _slug(value: str, *, lower: bool) -> str:
    import re

    text = value.lower() if lower else value
    text = re.sub(r"[^A-Za-z0-9_.-]+" if lower else r"[^A-Za-z0-9_-]+", "_", text).strip("_.-")
    return text or "my_id"


def _schema_value(error: ValidationError) -> YamlValue:
    """The schema's value for the keyword that failed (a type name or list, an enum, anyOf's branches)."""
    value = error.validator_value
    if isinstance(value, Unset):  # only an error made by hand, never one the validator reports
        return None
    keyword: YamlValue = value  # a part of the schema: JSON
    return keyword


def _instance(error: ValidationError) -> YamlValue:
    """The value that failed: a part of the flow."""
    value = error.instance
    if isinstance(value, Unset):  # only an error made by hand, never one the validator reports
        return None
    instance: YamlValue = value
    return instance
