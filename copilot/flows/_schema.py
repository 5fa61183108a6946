"""A Kestra flow JSON schema, compiled once, with the lookups the validator needs.

Schemas come from three places, all in Kestra's own format (draft-07, `anyOf` of task definitions
discriminated by `type`): a connected server's `/api/v1/plugins/schemas/flow`, a file or URL the user
gives, or the one generated from the bundled catalog. This module only turns a schema *dict* into a
`FlowSchema`; reading files and URLs is done by `copilot.schema_store`.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jsonschema_rs  # the compiled validator; python-jsonschema stays the reference (and explains errors)

from ._errors import SchemaLoadError
from ._types import YamlList, YamlMap, YamlValue
from ._values import as_dict, as_list

if TYPE_CHECKING:  # python-jsonschema is loaded when a flow is invalid (to explain why) or a schema is checked
    from jsonschema import Draft7Validator, FormatChecker
    from jsonschema.exceptions import ValidationError

    from ._catalog import Catalog

__all__ = ["FlowSchema", "LazyDefinitions", "PluginSources", "SchemaFacts", "bundled_schema"]

# What the validator derives from a schema, kept with it: its type index (type value → definition), the
# definitions a pruned schema may leave out (definition → the `type:` values it requires), and each
# discriminated definition's `type_values` (so choosing a task's branch among a thousand reads one definition).
SchemaFacts = tuple[dict[str, str], dict[str, frozenset[str]], dict[str, tuple[str, ...]]]

KESTRA_VERSIONS = (1, 2)
ABSTRACT_MODELS = "io.kestra.core.models."  # the package of Kestra's abstract task, trigger, condition
OFFLINE_CATALOG = "the offline catalog"  # what a bundled schema's type-not-in-catalog says it looked in
# A few documents are each checked by a validator compiled from the part of the schema they can reach (a
# few milliseconds); from this many on, the whole schema is compiled once (~80 ms) and reused.
WHOLE_AFTER = 8
PRUNED_KEPT = 16  # compiled pruned validators kept, by the set of `type:` values they were pruned for


@functools.cache
def _reference_classes() -> tuple[type[Draft7Validator], FormatChecker]:
    """python-jsonschema's draft-07 validator reading `pattern`s as Java regexes, and the format checker of
    the meta-schema check (its `regex` format, Java's too)."""
    import jsonschema
    import regex

    java = functools.lru_cache(maxsize=512)(regex.compile)

    def pattern_keyword(
        validator: Draft7Validator, pattern: str, instance: YamlValue, schema: YamlMap
    ) -> Iterator[ValidationError]:
        """`pattern` with Java regex syntax (`\\p{Ll}` …), which Python's `re` cannot compile."""
        if isinstance(instance, str) and not java(pattern).search(instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")

    formats = jsonschema.FormatChecker(formats=())

    @formats.checks("regex", raises=regex.error)
    def is_java_regex(instance: object) -> bool:
        return not isinstance(instance, str) or bool(java(instance))

    kestra: type[Draft7Validator] = jsonschema.validators.extend(
        jsonschema.Draft7Validator, {"pattern": pattern_keyword}
    )
    return kestra, formats


DRAFT_07 = ("http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-07/schema")


def _check_schema(schema: YamlMap) -> None:
    """Draft-07 meta-schema check, reading `pattern`s as Java regexes. The compiled meta-schema check and a
    pass over the patterns accept a good schema in milliseconds (a full Kestra schema: seconds for the
    reference check); the reference check words what is wrong, or overrules a doubt."""
    if _passes_quickly(schema):
        return
    import jsonschema

    _, formats = _reference_classes()
    meta = jsonschema.Draft7Validator(jsonschema.Draft7Validator.META_SCHEMA, format_checker=formats)
    error = jsonschema.exceptions.best_match(meta.iter_errors(schema))
    if error is not None:
        raise jsonschema.SchemaError.create_from(error)


def _passes_quickly(schema: YamlMap) -> bool:
    """A draft-07 schema the compiled meta-schema check accepts, whose every `pattern` (and `patternProperties`
    key) compiles as a Java regex: what the reference check accepts. False: ask the reference check."""
    import regex

    if schema.get("$schema") not in DRAFT_07:
        return False
    try:
        if not jsonschema_rs.meta.is_valid(schema):
            return False
    except Exception:  # a schema it cannot read: the reference check says why
        return False
    java = functools.lru_cache(maxsize=None)(regex.compile)
    stack: list[YamlValue] = [schema]
    try:
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                pattern = node.get("pattern")
                if isinstance(pattern, str):
                    java(pattern)
                keys = node.get("patternProperties")
                if isinstance(keys, dict):
                    for key in keys:
                        java(key)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    except regex.error:  # maybe a `pattern` in an example's data, not a schema's: the reference check decides
        return False
    return True


def _compiled(schema: YamlMap) -> jsonschema_rs.Draft7Validator | None:
    try:
        return jsonschema_rs.Draft7Validator(schema, validate_formats=False)
    except Exception:  # a schema the compiled validator cannot take: the reference one alone judges
        return None


def _type_values_in(instance: YamlValue, found: set[str]) -> set[str]:
    """Every string a mapping of `instance` has under `type`: the only definitions it can select."""
    stack = [instance]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            kind = node.get("type")
            if isinstance(kind, str):
                found.add(kind)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@dataclass(frozen=True)
class PluginSources:
    """Who defines the plugin types of a schema merged from two sources (copilot.flows._merge)."""

    types: dict[str, str]  # plugin type → the label of the source that defines it
    primary: str  # the live or server schema's label
    fallback: str | None  # the bundled catalog's label when it fills in what the primary lacks
    filled: frozenset[str]  # the definitions the fallback filled in


class LazyDefinitions(Mapping[str, YamlValue]):
    """A schema's definitions kept pickled one by one, each read when first looked up: a fresh process that
    validates one flow against a thousand-plugin schema reads the few dozen definitions the flow reaches."""

    def __init__(self, packed: dict[str, bytes]) -> None:
        self._packed = packed
        self._read: dict[str, YamlValue] = {}

    @classmethod
    def pack(cls, definitions: Mapping[str, YamlValue]) -> dict[str, bytes]:
        return {name: pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL) for name, value in definitions.items()}

    def __getitem__(self, name: str) -> YamlValue:
        if name not in self._read:
            self._read[name] = pickle.loads(self._packed[name])  # KeyError for a name it lacks, as a dict
        return self._read[name]

    def __contains__(self, name: object) -> bool:
        return name in self._packed

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)


class FlowSchema:
    """A compiled flow schema plus an index of its discriminated definitions (type value → definition).
    `checked`: the schema is known to pass the draft-07 meta-schema (the bundled one: the tests check it)."""

    def __init__(
        self,
        schema: YamlMap,
        *,
        source: str,
        kestra_version: int = 1,
        catalog: Catalog | Callable[[], Catalog] | None = None,
        checked: bool = False,
        facts: SchemaFacts | None = None,
        plugins: PluginSources | None = None,
        origin: str = "file",
    ) -> None:
        definitions = schema.get("definitions") if isinstance(schema, dict) else None
        if not isinstance(definitions, dict | LazyDefinitions):
            raise SchemaLoadError(
                f"{source} is not a Kestra flow schema: it has no `definitions`.",
                hint="Give the JSON that /api/v1/plugins/schemas/flow returns.",
            )
        self._raw = schema
        # The schema without its definitions: where validation starts (the whole is only read when asked for).
        self.root: YamlMap = {key: value for key, value in schema.items() if key != "definitions"}
        self.source = source
        # Where it comes from, as a front end names it: bundled (the catalog shipped), live (Kestra's hosted
        # schema), server (a Kestra server's), file (a user's file or URL); a merged schema, its plugins' source.
        self.origin = origin
        self.kestra_version = kestra_version
        # The catalog this schema was generated from (or how to get it), None for a server's or a user's.
        self._catalog = catalog
        self._plugins = plugins
        self._plugin_types: dict[str, str] | None = dict(plugins.types) if plugins else None
        self.definitions: Mapping[str, YamlValue] = definitions
        self._discriminators: dict[int, tuple[YamlList, list[tuple[str, ...]]]] = {}
        if not checked:  # a schema from a server or a file; the bundled one is checked by the tests
            import jsonschema

            try:
                _check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise SchemaLoadError(f"{source} is not a valid JSON schema: {exc.message}") from exc
        self._reference: Draft7Validator | None = None
        self._whole: jsonschema_rs.Draft7Validator | None = None
        self._whole_failed = False
        self._pruned: dict[frozenset[str], jsonschema_rs.Draft7Validator | None] = {}
        self._prunable_definitions: dict[str, frozenset[str]] | None = facts[1] if facts else None
        self._type_values: dict[str, tuple[str, ...]] | None = facts[2] if facts else None
        self._checked_documents = 0
        self.type_index = facts[0] if facts else self._index_types()

    @property
    def raw(self) -> YamlMap:
        """The whole schema, every definition read (the compiled whole validator and `schema` need it)."""
        definitions = self._raw["definitions"]
        if isinstance(definitions, LazyDefinitions):
            self._raw = {**self._raw, "definitions": dict(definitions.items())}
        return self._raw

    @property
    def catalog(self) -> Catalog | None:
        """The catalog this schema was generated from; None for a server's or a user's schema."""
        if callable(self._catalog):
            self._catalog = self._catalog()
        return self._catalog

    def facts(self) -> SchemaFacts:
        """What the validator derives from the schema, to keep with it (`facts=` gives it back)."""
        return self.type_index, self._prunable(), self._discriminated()

    def _discriminated(self) -> dict[str, tuple[str, ...]]:
        """Definition → its `type_values`, for every discriminated definition."""
        if self._type_values is None:
            found = {name: self._type_values_of({"$ref": f"#/definitions/{name}"}) for name in self.definitions}
            self._type_values = {name: values for name, values in found.items() if values}
        return self._type_values

    @property
    def is_bundled(self) -> bool:
        return self._catalog is not None and self._plugins is None

    # --- where the plugin types come from --------------------------------------------------------------
    def plugin_types(self) -> dict[str, str]:
        """Plugin type (task, trigger, condition, task runner) → the label of the source that defines it: this
        schema's own for a bundled or a plain one, the live or server schema's or the bundled catalog's for
        a merged one. Found from the schema's structure once, then kept."""
        if self._plugin_types is None:
            from ._merge import plugin_types_of

            self._plugin_types = dict.fromkeys(plugin_types_of(self), self.source)
        # Kestra's abstract models stand in a family with no plugin installed (its reduced schemas): not plugins.
        return {name: source for name, source in self._plugin_types.items() if not name.startswith(ABSTRACT_MODELS)}

    def fallback_note(self, type_name: str) -> str | None:
        """What to say when the bundled catalog, not the live or server schema, defines `type_name` here."""
        plugins = self._plugins
        if plugins is None or plugins.fallback is None or self.type_index.get(type_name) not in plugins.filled:
            return None
        return f"`{type_name}` is not in {plugins.primary}; the {plugins.fallback} judged it."

    @property
    def looked_in(self) -> str:
        """The source(s) a type was looked for in: "the offline catalog", "Kestra's live schema (…) or the
        bundled catalog"."""
        if self._plugins is not None:
            plugins = self._plugins
            return plugins.primary + (f" or the {plugins.fallback}" if plugins.fallback else "")
        return OFFLINE_CATALOG if self._catalog is not None else self.source

    @property
    def closed(self) -> bool:
        """A type it lacks is one Kestra refuses: a server's (or a user's) schema, not filled in by the catalog."""
        return self._catalog is None or (self._plugins is not None and self._plugins.fallback is None)

    # --- validation -------------------------------------------------------------------------------
    def is_valid(self, instance: YamlValue) -> bool:
        fast = self._fast_validator(instance)
        if fast is not None:
            return bool(fast.is_valid(instance))
        return bool(self.reference_validator().is_valid(instance))

    def iter_errors(self, instance: YamlValue, schema: Mapping[str, object] | None = None) -> Iterator[ValidationError]:
        reference = self.reference_validator()
        validator = reference if schema is None else reference.evolve(schema=schema)
        return validator.iter_errors(instance)

    def reference_validator(self) -> Draft7Validator:
        if self._reference is None:
            import jsonschema

            kestra, _ = _reference_classes()
            validator_class = jsonschema.validators.extend(kestra, {"anyOf": self._any_of_keyword})
            self._reference = validator_class({**self.root, "definitions": self.definitions})
        return self._reference

    # --- the compiled validator, whole or pruned -----------------------------------------------------
    def _fast_validator(self, instance: YamlValue) -> jsonschema_rs.Draft7Validator | None:
        """The compiled validator for `instance`: the whole schema's once several documents were checked,
        before that one compiled from the schema pruned to the definitions `instance` can select."""
        self._checked_documents += 1
        if self._whole is not None or self._whole_failed or self._checked_documents > WHOLE_AFTER:
            return self._whole_validator()
        types = frozenset(_type_values_in(instance, set()))
        if types not in self._pruned:
            pruned = self.pruned(types)
            if len(self._pruned) >= PRUNED_KEPT:
                self._pruned.pop(next(iter(self._pruned)))
            self._pruned[types] = _compiled(pruned) if pruned is not None else None
        return self._pruned[types] or self._whole_validator()

    def _whole_validator(self) -> jsonschema_rs.Draft7Validator | None:
        if self._whole is None and not self._whole_failed:
            self._whole = _compiled(self.raw)
            self._whole_failed = self._whole is None
        return self._whole

    def pruned(self, types: frozenset[str]) -> YamlMap | None:
        """The schema with the `anyOf` branches no mapping typed with one of `types` can match left out, and
        the definitions no longer reachable dropped: the same verdict for a document whose `type:` values
        are among `types`, from a schema a fraction of the size. A branch is left out only when it is a
        `$ref` to a definition that must be an object with a `type` among string values none of which is in
        `types`. None when the schema refers to something other than its own definitions (not pruned)."""
        prunable = self._prunable()
        reachable: dict[str, YamlValue] = {}
        queue: list[str] = []

        def needed(branch: YamlValue) -> bool:
            name = _definition_ref(branch)
            return name is None or name not in prunable or bool(prunable[name] & types)

        def copy(node: YamlValue) -> YamlValue:
            if isinstance(node, list):
                return [copy(item) for item in node]
            if not isinstance(node, dict):
                return node
            out: YamlMap = {}
            for key, value in node.items():
                if key == "anyOf" and isinstance(value, list):
                    kept = [branch for branch in value if needed(branch)]
                    value = kept or [False]  # every branch needs a type the document lacks: none can match
                elif key == "$ref":
                    name = _definition_ref(node)
                    if name is None:
                        raise _NotPrunable
                    if name not in reachable:
                        reachable[name] = None
                        queue.append(name)
                out[key] = copy(value)
            return out

        try:
            root = copy(self.root)
            while queue:
                name = queue.pop()
                reachable[name] = copy(self.definitions.get(name, {}))
        except _NotPrunable:
            return None
        assert isinstance(root, dict)
        root["definitions"] = reachable
        return root

    def _prunable(self) -> dict[str, frozenset[str]]:
        """Definition → the `type:` values it requires, for the definitions a pruned schema may leave out:
        an object that requires `type`, pinned by a string `const` or an `enum` of strings."""
        if self._prunable_definitions is None:
            found: dict[str, frozenset[str]] = {}
            for name in self.definitions:
                members = self.flatten({"$ref": f"#/definitions/{name}"})
                if not any(m.get("type") == "object" for m in members):
                    continue
                if not any("type" in as_list(m.get("required")) for m in members):
                    continue
                pinned = [as_dict(self.resolve(as_dict(m.get("properties")).get("type"))) for m in members]
                values = [p["const"] for p in pinned if "const" in p] + [
                    v for p in pinned if "enum" in p for v in as_list(p["enum"])
                ]
                if values and all(isinstance(v, str) for v in values):
                    found[name] = frozenset(v for v in values if isinstance(v, str))
            self._prunable_definitions = found
        return self._prunable_definitions

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
        from jsonschema import ValidationError

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
        name = _definition_ref(schema) if self._type_values is not None and len(as_dict(schema)) == 1 else None
        if name is not None and self._type_values is not None and name in self.definitions:
            return self._type_values.get(name, ())
        return self._type_values_of(schema)

    def _type_values_of(self, schema: YamlValue) -> tuple[str, ...]:
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
        from ._schemagen import generate_flow_schema

        if kestra_version not in KESTRA_VERSIONS:
            raise SchemaLoadError(f"Kestra version must be one of {KESTRA_VERSIONS}, not {kestra_version}.")
        return cls(
            generate_flow_schema(catalog, kestra_version),
            source=f"bundled catalog (Kestra {kestra_version}.x)",
            kestra_version=kestra_version,
            catalog=catalog,
            origin="bundled",
        )


class _NotPrunable(Exception):
    """The schema refers to something other than its own definitions."""


def _definition_ref(node: YamlValue) -> str | None:
    """X of a `{"$ref": "#/definitions/X"}`, else None."""
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and ref.startswith("#/definitions/") and "/" not in ref[len("#/definitions/") :]:
        return ref[len("#/definitions/") :]
    return None


def bundled_schema(kestra_version: int = 1) -> FlowSchema:
    """The schema generated from the bundled catalog for Kestra `kestra_version`.x (read from the cache when
    one is in use, _bundled.py), once per process."""
    from ._bundled import bundled

    if kestra_version not in KESTRA_VERSIONS:
        raise SchemaLoadError(f"Kestra version must be one of {KESTRA_VERSIONS}, not {kestra_version}.")
    return bundled().schema(kestra_version)
