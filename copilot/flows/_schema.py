"""A Kestra flow JSON schema, compiled once, with the lookups the validator needs.

Schemas come from three places, all in Kestra's own format (draft-07, `anyOf` of task definitions
discriminated by `type`): a connected server's `/api/v1/plugins/schemas/flow`, a file or URL the user
gives, or the one generated from the bundled catalog. This module only turns a schema *dict* into a
`FlowSchema`; reading files and URLs is done by `copilot.schema_store`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import jsonschema
import jsonschema_rs  # the compiled validator; python-jsonschema stays the reference (and explains errors)
import regex
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from ._catalog import Catalog, load_catalog
from ._errors import SchemaLoadError
from ._schemagen import generate_flow_schema
from ._types import YamlList, YamlMap, YamlValue
from ._values import as_dict, as_list

__all__ = ["FlowSchema", "bundled_schema"]

KESTRA_VERSIONS = (1, 2)


@functools.lru_cache(maxsize=512)
def _java_regex(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


def _pattern_keyword(
    validator: Draft7Validator, pattern: str, instance: YamlValue, schema: YamlMap
) -> Iterator[ValidationError]:
    """`pattern` with Java regex syntax (`\\p{Ll}` …), which Python's `re` cannot compile."""
    if isinstance(instance, str) and not _java_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


KestraValidator = jsonschema.validators.extend(Draft7Validator, {"pattern": _pattern_keyword})

_META_FORMATS = jsonschema.FormatChecker(formats=())


@_META_FORMATS.checks("regex", raises=regex.error)
def _is_java_regex(instance: object) -> bool:
    return not isinstance(instance, str) or bool(_java_regex(instance))


def _check_schema(schema: YamlMap) -> None:
    """Draft-07 meta-schema check, reading `pattern`s as Java regexes."""
    meta = Draft7Validator(Draft7Validator.META_SCHEMA, format_checker=_META_FORMATS)
    error = jsonschema.exceptions.best_match(meta.iter_errors(schema))
    if error is not None:
        raise jsonschema.SchemaError.create_from(error)


class FlowSchema:
    """A compiled flow schema plus an index of its discriminated definitions (type value → definition)."""

    def __init__(
        self,
        schema: YamlMap,
        *,
        source: str,
        kestra_version: int = 1,
        catalog: Catalog | None = None,
    ) -> None:
        definitions = schema.get("definitions") if isinstance(schema, dict) else None
        if not isinstance(definitions, dict):
            raise SchemaLoadError(
                f"{source} is not a Kestra flow schema: it has no `definitions`.",
                hint="Give the JSON that /api/v1/plugins/schemas/flow returns.",
            )
        self.raw = schema
        self.source = source
        self.kestra_version = kestra_version
        # The catalog this schema was generated from, or None for a server's (or user's) schema.
        self.catalog = catalog
        self.definitions: YamlMap = definitions
        self._discriminators: dict[int, tuple[YamlList, list[tuple[str, ...]]]] = {}
        try:
            _check_schema(schema)
            validator_class = jsonschema.validators.extend(KestraValidator, {"anyOf": self._any_of_keyword})
            self._reference: Draft7Validator = validator_class(schema)
        except jsonschema.SchemaError as exc:
            raise SchemaLoadError(f"{source} is not a valid JSON schema: {exc.message}") from exc
        self._fast: jsonschema_rs.Draft7Validator | None
        try:
            self._fast = jsonschema_rs.Draft7Validator(schema, validate_formats=False)
        except Exception:  # a schema the compiled validator cannot take: the reference one alone judges
            self._fast = None
        self.type_index = self._index_types()

    @property
    def is_bundled(self) -> bool:
        return self.catalog is not None

    # --- validation -------------------------------------------------------------------------------
    def is_valid(self, instance: YamlValue) -> bool:
        if self._fast is not None:
            return bool(self._fast.is_valid(instance))
        return bool(self._reference.is_valid(instance))

    def iter_errors(self, instance: YamlValue, schema: YamlMap | None = None) -> Iterator[ValidationError]:
        validator = self._reference if schema is None else self._reference.evolve(schema=schema)
        return validator.iter_errors(instance)

    def _any_of_keyword(
        self, validator: Draft7Validator, branches: YamlList, instance: YamlValue, schema: YamlMap
    ) -> Iterator[ValidationError]:
        """`anyOf` that only tries the branches a typed node's `type:` can select. Same verdict and
        errors as draft-07's `anyOf` (a branch whose `type` const differs fails anyway), without building
        hundreds of "wrong type" errors for each task of a large schema."""
        all_errors: list[ValidationError] = []
        for index in self._candidate_branches(branches, instance):
            branch = branches[index]
            if not isinstance(branch, (dict, bool)):
                continue  # not a schema (the meta-schema check refuses it)
            errors = list(validator.descend(instance, branch, schema_path=index))
            if not errors:
                return
            all_errors.extend(errors)
        yield ValidationError(f"{instance!r} is not valid under any of the given schemas", context=all_errors)

    def _candidate_branches(self, branches: YamlList, instance: YamlValue) -> list[int] | range:
        type_name = instance.get("type") if isinstance(instance, dict) else None
        if not isinstance(type_name, str):
            return range(len(branches))
        return [i for i, values in enumerate(self.branch_type_values(branches)) if not values or type_name in values]

    def branch_type_values(self, branches: YamlList) -> list[tuple[str, ...]]:
        """`type_values` of each branch of an `anyOf`, computed once per branch list."""
        cached = self._discriminators.get(id(branches))
        if cached is None or cached[0] is not branches:  # the identity check guards against id reuse
            cached = (branches, [self.type_values(branch) for branch in branches])
            self._discriminators[id(branches)] = cached
        return cached[1]

    def reference_validator(self) -> Draft7Validator:
        return self._reference

    # --- schema navigation ------------------------------------------------------------------------
    def resolve(self, schema: YamlValue) -> YamlValue:
        """Follow `$ref`s to `#/definitions/…` until a concrete schema."""
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/definitions/"):
                return {}
            schema = self.definitions.get(ref[len("#/definitions/") :], {})
            seen += 1
            if seen > 64:
                return {}
        return schema

    def flatten(self, schema: YamlValue) -> list[YamlMap]:
        """The schema and everything it `allOf`s, with references resolved."""
        out: list[YamlMap] = []
        stack = [schema]
        while stack:
            current = self.resolve(stack.pop())
            if not isinstance(current, dict):
                continue
            out.append(current)
            stack.extend(reversed(as_list(current.get("allOf"))))
        return out

    def type_values(self, schema: YamlValue) -> tuple[str, ...]:
        """The `type:` values a discriminated definition accepts ("" tuple when it is not one)."""
        consts: list[str] = []
        enums: list[str] = []
        for member in self.flatten(schema):
            type_schema = as_dict(self.resolve(as_dict(member.get("properties")).get("type")))
            const, enum = type_schema.get("const"), type_schema.get("enum")
            if isinstance(const, str):
                consts.append(const)
            elif isinstance(enum, list):
                enums.extend(v for v in enum if isinstance(v, str))
        return tuple(consts) if consts else tuple(enums)

    def _index_types(self) -> dict[str, str]:
        """Type value → definition. A `const` wins over an `enum`: Kestra's `-1` input definitions list
        every input type in an enum, while the `-2` wrapper that is really used pins one with `const`."""
        by_const: dict[str, str] = {}
        by_enum: dict[str, str] = {}
        for name in self.definitions:
            ref: YamlMap = {"$ref": f"#/definitions/{name}"}
            values = self.type_values(ref)
            target = by_const if self._has_type_const(ref) else by_enum
            for value in values:
                target.setdefault(value, name)
        return {**by_enum, **by_const}

    def _has_type_const(self, schema: YamlValue) -> bool:
        return any(
            "const" in as_dict(self.resolve(as_dict(member.get("properties")).get("type")))
            for member in self.flatten(schema)
        )

    # --- construction -------------------------------------------------------------------------------
    @classmethod
    def from_catalog(cls, catalog: Catalog, kestra_version: int = 1) -> FlowSchema:
        if kestra_version not in KESTRA_VERSIONS:
            raise SchemaLoadError(f"Kestra version must be one of {KESTRA_VERSIONS}, not {kestra_version}.")
        return cls(
            generate_flow_schema(catalog, kestra_version),
            source=f"bundled catalog (Kestra {kestra_version}.x)",
            kestra_version=kestra_version,
            catalog=catalog,
        )


@functools.cache
def bundled_schema(kestra_version: int = 1) -> FlowSchema:
    """The schema generated from the bundled catalog, compiled once per Kestra major version."""
    return FlowSchema.from_catalog(load_catalog(), kestra_version)
