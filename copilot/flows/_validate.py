"""Validate a flow the way Kestra's server would: schema, strict keys, types, semantic rules, lints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ._defaults import check_plugin_defaults
from ._diagnostics import Diagnostic, Severity, has_errors, passes, sort_diagnostics
from ._errors import FlowSyntaxError
from ._parse import MAX_DOCUMENT_BYTES, ParsedFlow, parse_flow
from ._schema import FlowSchema, bundled_schema
from ._structure import check_structure
from ._types import YamlMap, YamlValue

__all__ = ["ValidationResult", "validate_flow", "validate_parsed"]


@dataclass(frozen=True)
class ValidationResult:
    diagnostics: list[Diagnostic]
    parsed: ParsedFlow[YamlMap] | None = None
    schema_source: str = ""
    kestra_version: int = 1
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """Kestra accepts the flow: no `error`. A `policy` finding does not make it invalid (see `passes`)."""
        return not has_errors(self.diagnostics)

    @property
    def passes(self) -> bool:
        """Valid, and no `policy` finding: what `validate` and the assistant require by default."""
        return passes(self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def policy(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.POLICY]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


def validate_flow(
    text: str,
    schema: FlowSchema | None = None,
    *,
    kestra_version: int | None = None,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> ValidationResult:
    """Validate flow text. Never raises for bad input: problems come back as diagnostics."""
    version = kestra_version or (schema.kestra_version if schema else 1)
    schema = schema or bundled_schema(version)
    try:
        parsed = parse_flow(text, max_bytes=max_bytes)
    except FlowSyntaxError as exc:
        return ValidationResult([exc.to_diagnostic()], None, schema.source, version)
    return ValidationResult(validate_parsed(parsed, schema, version), parsed, schema.source, version)


def validate_parsed(parsed: ParsedFlow[YamlMap], schema: FlowSchema, version: int) -> list[Diagnostic]:
    from ._rules import check_rules  # semantic rules beyond the schema

    diagnostics = list(parsed.problems)
    structure = check_structure(parsed, schema, version)
    diagnostics.extend(structure.diagnostics)
    if not schema.is_valid(parsed.data):
        from ._schema_errors import translate_errors  # python-jsonschema explains: loaded for an invalid flow

        diagnostics.extend(translate_errors(schema.iter_errors(parsed.data), parsed, schema))
    for path, value, family in structure.detached:
        from ._schema_errors import translate_errors

        # Typed children under a node of unknown type: validate each on its own.
        diagnostics.extend(
            translate_errors(schema.iter_errors(value, _standalone(schema, family)), parsed, schema, path)
        )
    diagnostics.extend(check_plugin_defaults(parsed, schema, version))
    diagnostics.extend(check_rules(parsed, version))
    return sort_diagnostics(diagnostics)


def _standalone(schema: FlowSchema, sub: YamlValue) -> Mapping[str, object]:
    """A sub-schema that can still resolve `#/definitions/…` references."""
    return {**(sub if isinstance(sub, dict) else {}), "definitions": schema.definitions}
