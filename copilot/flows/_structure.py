"""Walk a flow alongside its schema: pick each task's definition by `type`, flag unknown keys and types.

Kestra's schema has no `additionalProperties: false`, so a JSON-schema check alone accepts invented
properties — the most common model error, and one the server refuses ("Unrecognized field"). This
walker reads the same `properties` the schema declares and reports every key that is not among them.
It also decides which `anyOf` branch applies (by `type:` for tasks, triggers, inputs…), which is what
lets the error translator report a bad task's real errors instead of "not valid under any schema".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ._diagnostics import Diagnostic, Severity
from ._parse import ParsedFlow, Path
from ._schema import OFFLINE_CATALOG, FlowSchema
from ._types import YamlList, YamlMap, YamlValue
from ._values import as_dict, as_list
from ._versions import other_version_hint, replacement_hint
from ._where import describe_location, did_you_mean, did_you_mean_type, element_kind, sentence

__all__ = ["StructureReport", "check_structure"]

# A typed node's kind (_where.element_kind) → the catalog family whose common properties it has.
_PLUGIN_FAMILY_OF_KIND = {"task": "task", "trigger": "trigger", "condition": "condition", "task runner": "task-runner"}
TASK_LIST_KEYS = frozenset({"tasks", "errors", "finally", "then", "else"})  # where a flowable task holds tasks


@dataclass
class StructureReport:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Typed nodes whose definition is unknown: the JSON-schema pass cannot see below them, so the
    # children that are themselves typed nodes are validated on their own: (path, value, schema).
    detached: list[tuple[Path, YamlValue, YamlValue]] = field(default_factory=list)


def check_structure(parsed: ParsedFlow[YamlMap], schema: FlowSchema, version: int) -> StructureReport:
    walker = _Walker(parsed, schema, version)
    walker.walk(parsed.data, schema.root, ())
    return walker.report


def _json_type(value: YamlValue) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


class _Walker:
    def __init__(self, parsed: ParsedFlow[YamlMap], schema: FlowSchema, version: int) -> None:
        self.parsed = parsed
        self.schema = schema
        self.version = version
        self.report = StructureReport()
        self._noted: set[str] = set()  # the types said to be judged by the bundled catalog

    # --- diagnostics ------------------------------------------------------------------------------
    def _add(
        self, code: str, path: Path, message: str, hint: str | None = None, severity: Severity = Severity.ERROR
    ) -> None:
        self.report.diagnostics.append(self.parsed.diagnostic(code, path, message, hint, severity))

    # --- walking ----------------------------------------------------------------------------------
    def walk(self, value: YamlValue, schema: YamlValue, path: Path) -> None:
        members = self.schema.flatten(schema)
        resolved: list[YamlMap] = []
        for member in members:
            branches = as_list(member.get("anyOf")) or as_list(member.get("oneOf"))
            if member.get("not") == {} and isinstance(value, dict) and "type" in value:
                branches = []  # an empty family (no such types in this version)
                self._choose_by_type(value, [], path)
                return
            if branches:
                chosen = self._choose(value, branches, path)
                if chosen is None:
                    return
                resolved.extend(self.schema.flatten(chosen))
            resolved.append(member)
        if isinstance(value, dict):
            self._walk_mapping(value, resolved, path)
        elif isinstance(value, list):
            items = next((m["items"] for m in resolved if isinstance(m.get("items"), dict)), None)
            if items is not None:
                for index, item in enumerate(value):
                    self.walk(item, items, (*path, index))

    def _walk_mapping(self, value: YamlMap, members: list[YamlMap], path: Path) -> None:
        properties: dict[str, YamlList] = {}
        additional: YamlValue = None
        declares_properties = False
        open_object = False
        for member in members:
            declared = as_dict(member.get("properties"))
            if declared:
                declares_properties = True
                for key, sub in declared.items():
                    properties.setdefault(key, []).append(sub)
            extra = member.get("additionalProperties")
            if isinstance(extra, dict):
                additional = extra
            elif extra is True or "patternProperties" in member:
                open_object = True
        deprecated_keys = {key for key, subs in properties.items() if any(self._is_deprecated(s) for s in subs)}
        for key, child in value.items():
            child_path = (*path, key)
            if key in properties:
                subs = properties[key]
                self.walk(child, subs[0] if len(subs) == 1 else {"allOf": subs}, child_path)
                if key in deprecated_keys:
                    self._add(
                        "deprecated-property",
                        child_path,
                        f"{describe_location(self.parsed.data, child_path)} is deprecated.",
                        "Kestra still accepts it; check the plugin docs for its replacement.",
                        severity=Severity.WARNING,
                    )
            elif additional is not None:
                self.walk(child, additional, child_path)
            elif declares_properties and not open_object:
                self._unknown_key(key, child_path, properties, value)

    def _is_deprecated(self, schema: YamlValue) -> bool:
        return any(m.get("$deprecated") is True for m in self.schema.flatten(schema))

    def _unknown_key(self, key: str, path: Path, properties: dict[str, YamlList], node: YamlMap) -> None:
        owner = describe_location(self.parsed.data, path[:-1])
        known = list(properties)
        homes = self._nested_homes(key, properties)
        suggestion = None if homes else did_you_mean(key, [k for k in known if k != "type"])
        if homes:
            places = " or ".join(f"`{home}.{key}`" for home in homes)
            hint = f"It belongs under `{homes[0]}`: {places}." if len(homes) == 1 else f"It belongs under {places}."
        elif suggestion:
            hint = f"Did you mean `{suggestion}`?"
        else:
            hint = "Remove it; only the documented properties are allowed."
        if suggestion is None and known:
            shown = ", ".join(sorted(k for k in known if k not in ("id", "type"))[:12])
            hint += f" Known properties: {shown}{'…' if len(known) > 14 else ''}."
        version_hint = replacement_hint(key, self.version, context="property")
        if version_hint is None and self._in_other_version_only(key, node, path[:-1]):
            version_hint = other_version_hint(key, self.version, known)
        if version_hint:
            hint = version_hint
        self._add(
            "unknown-property",
            path,
            f'Unknown property `{key}` in {owner}; Kestra refuses it: "Unrecognized field \\"{key}\\"".',
            hint,
        )

    def _in_other_version_only(self, key: str, node: YamlMap, path: Path) -> bool:
        """The catalog has `key` in the other Kestra version only on the type of `node` (at `path`; the flow at the
        root; for a type it lacks, on every type of its family, as the merge has it): `workerSelector` on a 1.x task."""
        catalog = self.schema.catalog
        if catalog is None:
            return False
        type_name = node.get("type")
        found = catalog.lookup(type_name) if path and isinstance(type_name, str) else None
        if not path:
            flow = catalog.objects.get("Flow")
            specs = dict(flow.properties) if flow is not None else {}
        elif found is not None:
            specs = dict(found.properties)
        else:
            from ._merge import common_versioned

            kind = element_kind(path) if isinstance(path[-1], int) else _kind_of_key(path)
            family = _PLUGIN_FAMILY_OF_KIND.get(kind)
            specs = common_versioned(catalog, family) if family and isinstance(type_name, str) else {}
        spec = specs.get(key)
        other = 1 if self.version >= 2 else 2
        return spec is not None and not spec.exists_in(self.version) and spec.exists_in(other)

    def _nested_homes(self, key: str, properties: dict[str, YamlList]) -> list[str]:
        """The known properties whose own object declares `key` (`skipLeadingRows` → `csvOptions`): a property
        written one level too high. Plain objects only: a typed family (a task, a retry) is not a place to
        guess at, since its properties depend on the `type` chosen."""
        homes = []
        for name, subs in properties.items():
            members = [m for sub in subs for m in self.schema.flatten(sub)]
            for member in list(members):
                branches = as_list(member.get("anyOf")) or as_list(member.get("oneOf"))
                if branches and not any(self.schema.branch_type_values(branches)):
                    members.extend(m for branch in branches for m in self.schema.flatten(branch))
            if any(key in as_dict(member.get("properties")) for member in members):
                homes.append(name)
        return sorted(homes)

    # --- anyOf ------------------------------------------------------------------------------------
    def _choose(self, value: YamlValue, branches: YamlList, path: Path) -> YamlValue | None:
        discriminated = list(zip(branches, self.schema.branch_type_values(branches), strict=True))
        if isinstance(value, dict) and any(values for _, values in discriminated):
            return self._choose_by_type(value, discriminated, path)
        kind = _json_type(value)
        compatible = [b for b in branches if self._accepts_json_type(b, kind)]
        if not compatible:
            return None  # a type error; the JSON-schema pass words it
        # Prefer a branch that describes the object (properties) over a bare "object".
        if kind == "object":
            compatible.sort(key=lambda b: not any("properties" in m for m in self.schema.flatten(b)))
        return compatible[0]

    def _accepts_json_type(self, schema: YamlValue, kind: str) -> bool:
        for member in self.schema.flatten(schema):
            declared = member.get("type")
            if declared is None:
                if "properties" in member and kind != "object":
                    return False
                alternatives = as_list(member.get("anyOf")) or as_list(member.get("oneOf"))
                if alternatives and not any(self._accepts_json_type(b, kind) for b in alternatives):
                    return False
                continue
            allowed = set(declared) if isinstance(declared, list) else {declared}
            if kind == "integer" and "number" in allowed:
                continue
            if kind not in allowed:
                return False
        return True

    def _choose_by_type(
        self, value: YamlMap, discriminated: list[tuple[YamlValue, tuple[str, ...]]], path: Path
    ) -> YamlValue | None:
        kind = element_kind(path) if path and isinstance(path[-1], int) else _kind_of_key(path)
        type_name = value.get("type")
        if type_name is None:
            self._add(
                "missing-type",
                path,
                f"{sentence(describe_location(self.parsed.data, path))} has no `type`.",
                f"Every {kind} needs a `type:` naming its plugin class.",
            )
            return None
        if not isinstance(type_name, str):
            self._add("wrong-type", (*path, "type"), f"The `type` of {kind} must be a string.")
            return None
        for branch, values in discriminated:
            if type_name in values:
                definition = self.schema.flatten(branch)
                if any(m.get("$deprecated") is True for m in definition):
                    self._add(
                        "deprecated-type",
                        (*path, "type"),
                        f"`{type_name}` is deprecated.",
                        replacement_hint(type_name, self.version) or "Check the plugin docs for its replacement.",
                        severity=Severity.WARNING,
                    )
                self._note_fallback(type_name, (*path, "type"))
                return branch
        self._unknown_type(type_name, value, [v for _, values in discriminated for v in values], kind, path)
        return None

    def _note_fallback(self, type_name: str, path: Path) -> None:
        """Once per type: the bundled catalog judged it because the live or server schema lacks it."""
        note = self.schema.fallback_note(type_name)
        if note is not None and type_name not in self._noted:
            self._noted.add(type_name)
            self._add("judged-by-catalog", path, note, severity=Severity.INFO)

    def _unknown_type(self, type_name: str, value: YamlMap, known: list[str], kind: str, path: Path) -> None:
        type_path = (*path, "type")
        where = describe_location(self.parsed.data, path)
        catalog = self.schema.catalog
        version_hint = replacement_hint(type_name, self.version)
        other_family = self.schema.type_index.get(type_name)
        catalog_type = catalog.lookup(type_name) if catalog is not None else None

        hint: str | None
        if catalog_type is not None and not (catalog_type.exists_in(self.version) and type_name == catalog_type.name):
            # Known to the catalog, but not under this name in this Kestra version.
            if catalog_type.exists_in(self.version):
                message = f"`{type_name}` is an old name of `{catalog_type.name}`; Kestra {self.version}.x refuses it."
                hint = f"Use `type: {catalog_type.name}`."
            else:
                message = f"`{type_name}` does not exist in Kestra {self.version}.x ({where})."
                hint = version_hint or f"It exists in Kestra {'2' if self.version == 1 else '1'}.x only."
            self._add("unknown-type", type_path, message, hint)
        elif other_family is not None:
            self._add(
                "wrong-kind",
                type_path,
                f"`{type_name}` cannot be used as a {kind} ({where}).",
                f"Check where it belongs: a {kind} must have a {kind} type.",
            )
        elif self.schema.closed or (catalog is not None and catalog.covers_package_of(type_name)) or version_hint:
            suggestion = did_you_mean_type(type_name, known)
            hint = version_hint or (f"Did you mean `{suggestion}`?" if suggestion else None)
            if not self.schema.closed:
                among = "among Kestra's plugins"
            else:  # a server's schema (merged with our flow model), or a user's file or URL taken as it is
                among = "among the server's plugins" if catalog is not None else f"in {self.schema.source}"
                if catalog is not None and hint is None:  # a real plugin, maybe, that the server has not installed
                    said = (
                        "It is a Kestra plugin" if catalog_type is not None else "If it is a Kestra plugin, it is one"
                    )
                    hint = f"{said} this server does not have installed: install it there, or use a plugin it has."
            self._add(
                "unknown-type",
                type_path,
                f'Unknown {kind} type `{type_name}` ({where}); it is not {among}: "Invalid type: {type_name}".',
                hint,
            )
        elif _is_typo(type_name, suggestion := did_you_mean_type(type_name, known)):
            self._add(
                "unknown-type",
                type_path,
                f"Unknown {kind} type `{type_name}` ({where}): no plugin has this name.",
                f"Did you mean `{suggestion}`?",
            )
        else:
            looked = self.schema.looked_in
            not_in = f"is not in {looked}" if looked == OFFLINE_CATALOG else f"is not a type {looked} knows"
            self._add(
                "type-not-in-catalog",
                type_path,
                f"`{type_name}` {not_in}; its properties were not checked.",
                (f"Did you mean `{suggestion}`? " if suggestion else "") + self._full_check(),
                severity=Severity.WARNING,
            )
        self._detach_children(value, path)

    def _full_check(self) -> str:
        """How to have every plugin checked: the bundled catalog judges when the live schema is off or could
        not be had; past the live schema, only a server knows its own plugins."""
        if self.schema.is_bundled:
            return (
                "Kestra's live schema is off or could not be fetched; with it, or with a Kestra server "
                "(--server or --schema), every plugin is checked."
            )
        return "Validate against a Kestra server (--server or --schema) for a full check."

    def _detach_children(self, value: YamlMap, path: Path) -> None:
        """Below an unknown type, still check the tasks it holds (under the keys flowable tasks hold tasks
        in): other lists of typed items (a trigger's `conditions`, a chat task's `messages: [{type: SYSTEM}]`)
        are not tasks, and what they are is the unknown type's to say."""
        family = _family_schema(self.schema, "task")
        if family is None:
            return
        for key, child in value.items():
            if key not in TASK_LIST_KEYS:
                continue
            if isinstance(child, list) and all(isinstance(i, dict) and "type" in i for i in child) and child:
                for index, item in enumerate(child):
                    item_path = (*path, key, index)
                    self.report.detached.append((item_path, item, family))
                    self.walk(item, family, item_path)


def _is_typo(name: str, suggestion: str | None) -> bool:
    """A class name a character or two away from a known type of the same package: a misspelling, not a plugin
    we do not know. Another package is never a typo (`aws.sqs.Trigger` is a real type, not `aws.s3.Trigger`
    misspelled): the catalog does not list every package's types."""
    if suggestion is None or name.rsplit(".", 1)[0] != suggestion.rsplit(".", 1)[0]:
        return False
    return difflib.SequenceMatcher(None, name.rsplit(".", 1)[-1], suggestion.rsplit(".", 1)[-1]).ratio() >= 0.8


def _kind_of_key(path: Path) -> str:
    names = {"taskRunner": "task runner", "retry": "retry policy", "task": "task"}
    return names.get(str(path[-1]), "object") if path else "object"


def _family_schema(schema: FlowSchema, family: str) -> YamlMap | None:
    """The `anyOf` of every task definition, found where the flow's `tasks` items point."""
    for member in schema.flatten(schema.root):
        tasks = as_dict(member.get("properties")).get("tasks")
        if tasks is not None:
            for sub in schema.flatten(tasks):
                items = sub.get("items")
                if isinstance(items, dict):
                    return items
    return None
