"""A full-format Kestra flow schema for tests and benches, and a loopback server that hosts it.

Kestra publishes its flow schema for every plugin at https://api.kestra.io/v1/plugins/schemas/flow; no copy of
it is here (no network). `full_flow_schema()` builds one in Kestra's own format, as the real sample of
../shared/kestra-api shows it, for every plugin type documented in ../shared/kestra-plugin-docs/reference:

- the Flow root, the input, retry, SLA and HTTP definitions, and the `core.log.Log` / `core.http.Request`
  definitions are the sample's own (real Kestra output, 1.3-era);
- every other documented type gets a definition as Kestra's generator writes one: the common task (or trigger)
  properties read from the sample's Log (AbstractTrigger) definition, `$group: core`; each documented property
  with its JSON type from its Java type (`Property<…>` is `$dynamic`, a dynamic scalar also takes a string:
  `anyOf [T, string]`), `title`, `markdownDescription` (with "Default value is : …"), `default`; the type's
  `title`, its description and examples in `markdownDescription` (`##### Examples`), its `outputs`;
- a type is classified by where Kestra's own examples put it (under `triggers`, `conditions`, `taskRunner`,
  `provider`…; tasks otherwise), by its name when no example says; tasks go in every task list (the Flow's
  `tasks`/`errors`/`finally`/`afterExecution`, flowables' `tasks`/`then`/`else`…), triggers under the Flow's
  `triggers`, conditions under triggers' `conditions`, task runners under `taskRunner`, AI providers under
  `provider`…, each as an `anyOf` of `$ref`s, inline as Kestra writes them;
- the reference pages miss what the plugin sources declare without `@Schema` (a flowable's `tasks`, JDBC's
  `url`…): the properties the bundled catalog knows of a type are added to its definition (the catalog was
  written from Kestra's docs), and a type the catalog knows under older names takes them as `enum` aliases,
  as Kestra's Log (`io.kestra.core.tasks.log.Log`) does.

`HostedSchema` serves any schema bytes on loopback like api.kestra.io does (ETag, 304, a 503 when `body` is None).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml

from tests.fakes.loopback import LoopbackServer, QuietHandler

__all__ = ["HostedSchema", "full_flow_schema", "full_flow_schema_bytes", "plugin_docs_dir", "sample_schema_path"]

SHARED = Path(os.environ.get("KESTRA_COPILOT_SHARED", Path(__file__).resolve().parents[2].parent / "shared")).resolve()
FLOW = "io.kestra.core.models.flows.Flow"
TRIGGER_BASE = "io.kestra.core.models.triggers.AbstractTrigger"
CONDITION_BASE = "io.kestra.core.models.conditions.Condition"
SAMPLE_TASKS = ("io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.http.Request")
TASK_LIST_KEYS = ("tasks", "errors", "finally", "then", "else", "afterExecution")
RETRIES = ("Constant", "Exponential", "Random")

# Kinds of plugin, by the key Kestra's examples put them under.
KIND_OF_KEY = {
    **{key: "task" for key in TASK_LIST_KEYS},
    "task": "task",
    "triggers": "trigger",
    "conditions": "condition",
    "scheduleConditions": "condition",
    "taskRunner": "runner",
}
STATES = [
    "CREATED", "SUBMITTED", "RUNNING", "PAUSED", "RESTARTED", "KILLING", "SUCCESS", "WARNING", "FAILED", "KILLED",
    "CANCELLED", "QUEUED", "RETRYING", "RETRIED", "SKIPPED", "BREAKPOINT", "RESUBMITTED",
]  # fmt: skip
LEVELS = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
_STRINGS = {"String", "CharSequence", "Character", "char", "ZoneId", "Level", "Pattern", "Charset", "UUID"}
_INTEGERS = {"Integer", "Long", "int", "long", "Short", "short", "BigInteger", "Byte", "byte"}
_NUMBERS = {"Double", "Float", "double", "float", "BigDecimal", "Number"}
_BOOLEANS = {"Boolean", "boolean"}
_FORMATS = {
    "Duration": "duration",
    "URI": "uri",
    "URL": "uri",
    "Instant": "date-time",
    "ZonedDateTime": "date-time",
    "OffsetDateTime": "date-time",
    "LocalDateTime": "date-time",
    "Date": "date-time",
    "LocalDate": "date",
    "LocalTime": "time",
}
_LISTS = {"List", "Set", "Collection", "Iterable", "ArrayList"}
_MAPS = {"Map", "HashMap", "LinkedHashMap", "Properties"}
_ENUM_SUFFIXES = (
    "Type", "Mode", "Format", "Level", "Action", "Order", "Sort", "OS", "Kind", "Strategy", "Method", "Algorithm",
    "Vendor", "Disposition", "Scope", "Handling", "Status", "State", "Policy", "Class", "Compression", "Protocol",
    "Position", "Mechanism", "Priority", "Region", "Unit", "Version", "Encoding", "Option", "Drop", "IfExists",
    "Serdes", "On", "Filter", "Role", "Tier", "Operation", "Behavior", "Language", "Dialect", "Direction",
)  # fmt: skip


def sample_schema_path() -> Path:
    return SHARED / "kestra-api" / "kestra-flow-schema-sample-libs-copilot.json"


def plugin_docs_dir() -> Path:
    return SHARED / "kestra-plugin-docs" / "reference"


# --- the reference pages --------------------------------------------------------------------------------------
@dataclass
class DocProperty:
    name: str
    java: str
    required: bool = False
    default: str | None = None
    title: str = ""
    description: str = ""


@dataclass
class DocPage:
    type: str
    title: str = ""
    description: str = ""
    examples: list[tuple[str, str]] = field(default_factory=list)  # (title, yaml)
    properties: dict[str, DocProperty] = field(default_factory=dict)
    outputs: dict[str, DocProperty] = field(default_factory=dict)


_HEADING = re.compile(r"^### `([^`]+)`( \(required\))?\s*$")


def parse_page(text: str) -> DocPage | None:
    front = re.match(r"---\n(.*?)\n---\n", text, re.S)
    kind = re.search(r"^type: (\S+)$", front.group(1), re.M) if front else None
    if kind is None or front is None:
        return None
    page = DocPage(kind.group(1))
    sections = re.split(r"^## (\w+)\s*$", text[front.end() :], flags=re.M)
    intro, named = sections[0], dict(zip(sections[1::2], sections[2::2], strict=True))
    bold = re.search(r"^\*\*(.+?)\*\*\s*$", intro, re.M)
    if bold:
        page.title = bold.group(1).strip()
        page.description = intro[bold.end() :].strip()
    for block in re.split(r"^### ", named.get("Examples", ""), flags=re.M)[1:]:
        title, _, rest = block.partition("\n")
        code = re.search(r"```yaml\n(.*?)```", rest, re.S)
        if code:
            page.examples.append((title.strip(), code.group(1)))
    page.properties = _properties(named.get("Properties", ""))
    page.outputs = _properties(named.get("Outputs", ""))
    return page


def _properties(section: str) -> dict[str, DocProperty]:
    found: dict[str, DocProperty] = {}
    chunks = re.split(r"^(?=### `)", section, flags=re.M)
    for chunk in chunks:
        lines = chunk.split("\n")
        heading = _HEADING.match(lines[0])
        if heading is None:
            continue
        name = heading.group(1).lstrip("_")  # `_else`: Jackson's @JsonProperty("else")
        body = "\n".join(lines[1:]).strip()
        bullets, _, prose = body.partition("\n\n")
        java = re.search(r"- Java type: `([^`]+)`", bullets)
        default = re.search(r"- Default: `([^`]*)`", bullets, re.S)
        paragraphs = [p.strip() for p in prose.split("\n\n") if p.strip()]
        if name in found or java is None:
            continue  # an output written twice (Subflow's `outputs`): the first wins
        found[name] = DocProperty(
            name,
            java.group(1).strip(),
            required=bool(heading.group(2)),
            default=default.group(1).strip() if default else None,
            title=paragraphs[0] if paragraphs else "",
            description="\n\n".join(paragraphs[1:]),
        )
    return found


@functools.cache
def doc_pages() -> dict[str, DocPage]:
    pages: dict[str, DocPage] = {}
    for path in sorted(plugin_docs_dir().glob("*/*.md")):
        page = parse_page(path.read_text(encoding="utf-8"))
        if page is not None:
            pages.setdefault(page.type, page)
    return pages


# --- where Kestra's examples put each type --------------------------------------------------------------------
def _load_example(text: str) -> Any:
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None


def _typed_nodes(node: Any, key: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(the key a typed mapping sits under, the mapping) for every mapping with a string `type`."""
    if isinstance(node, dict):
        if isinstance(node.get("type"), str) and "." in node["type"]:
            yield key, node
        for child_key, value in node.items():
            yield from _typed_nodes(value, str(child_key))
    elif isinstance(node, list):
        for item in node:
            yield from _typed_nodes(item, key)


@dataclass
class Usage:
    keys: Counter[str] = field(default_factory=Counter)  # under which key it is used
    values: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # property → JSON kinds


@functools.cache
def example_usage() -> dict[str, Usage]:
    usage: dict[str, Usage] = defaultdict(Usage)
    for page in doc_pages().values():
        for _, text in page.examples:
            for key, node in _typed_nodes(_load_example(text)):
                seen = usage[node["type"]]
                seen.keys[key] += 1
                for name, value in node.items():
                    seen.values[str(name)][_kind(value)] += 1
    return dict(usage)


def _kind(value: object) -> str:
    for kind, types in (("boolean", bool), ("integer", int), ("number", float), ("string", str)):
        if isinstance(value, types):
            return kind
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else "null"


def classify(type_name: str) -> str:
    """task, trigger, condition, runner, or the key of a sub-plugin family (provider, memory, tools…)."""
    package, _, name = type_name.rpartition(".")
    if name.endswith("Trigger"):  # amqp.Trigger is once shown under `tasks` by mistake
        return "trigger"
    by_examples = classify_by_examples(type_name)
    if by_examples:
        return by_examples
    if ".condition" in package or name.endswith("Condition"):
        return "condition"
    if ".runner" in package:
        return "runner"
    if ("Trigger" in name or package.endswith(".trigger")) and name != "Toggle":
        return "trigger"
    sibling = _package_kinds().get(package)
    if sibling and sibling not in ("task", "trigger"):
        return sibling  # ai.provider.X with no example of its own is a provider like its package
    return "task"


@functools.cache
def _package_kinds() -> dict[str, str]:
    """The kind most types of each package are used as in the examples."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for name in doc_pages():
        kind = classify_by_examples(name)
        if kind:
            counts[name.rpartition(".")[0]][kind] += 1
    return {package: kinds.most_common(1)[0][0] for package, kinds in counts.items()}


def classify_by_examples(type_name: str) -> str | None:
    keys = example_usage().get(type_name, Usage()).keys
    kinds = Counter({KIND_OF_KEY[key]: count for key, count in keys.items() if key in KIND_OF_KEY})
    if kinds:  # a plugin kind wins over any other key (a Fail under a made-up key in one example)
        return kinds.most_common(1)[0][0]
    others = [key for key, _ in keys.most_common() if key not in ("", "cases")]
    return others[0] if others else None


# --- Java types to JSON schema --------------------------------------------------------------------------------
@dataclass(frozen=True)
class JavaType:
    name: str
    args: tuple[JavaType, ...] = ()

    @property
    def simple(self) -> str:
        return self.name.rsplit(".", 1)[-1]


def parse_java(text: str) -> JavaType:
    text = text.replace(" ", "")
    if text.endswith("[]"):
        return JavaType("List", (parse_java(text[:-2]),))
    if "<" not in text:
        return JavaType(text)
    head, inner = text[: text.index("<")], text[text.index("<") + 1 : text.rindex(">")]
    args, depth, start = [], 0, 0
    for index, char in enumerate(inner):
        depth += char == "<"
        depth -= char == ">"
        if char == "," and depth == 0:
            args.append(inner[start:index])
            start = index + 1
    args.append(inner[start:])
    return JavaType(head, tuple(parse_java(arg) for arg in args if arg not in ("?", "")))


class _Families:
    """The `anyOf`s of each kind of plugin, built once the types are classified."""

    def __init__(self, members: dict[str, list[str]], class_family: dict[str, str]) -> None:
        self.members = members
        self.class_family = class_family  # a Java base class (ModelProvider) → its family (provider)

    def any_of(self, family: str) -> dict[str, Any]:
        return {"anyOf": [{"$ref": f"#/definitions/{name}"} for name in self.members.get(family, [])]}


def _retry_any_of(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "anyOf": [
            {"allOf": [{"$ref": f"#/definitions/io.kestra.core.models.tasks.retrys.{name}-2"}, dict(extra)]}
            for name in RETRIES
        ]
    }


def java_schema(java: JavaType, families: _Families, seen_as: Counter[str] | None = None) -> dict[str, Any]:
    """The JSON schema Kestra's generator writes for a Java type (without the Property<…> wrapper)."""
    name = java.simple
    if name == "Property" and java.args:
        return java_schema(java.args[0], families, seen_as)
    if name in ("Optional", "Data") and java.args:
        return java_schema(java.args[0], families, seen_as) if name == "Optional" else {"type": "object"}
    if name in _STRINGS:
        return {"type": "string", "enum": LEVELS} if name == "Level" else {"type": "string"}
    if name in _INTEGERS:
        return {"type": "integer"}
    if name in _NUMBERS:
        return {"type": "number"}
    if name in _BOOLEANS:
        return {"type": "boolean"}
    if name in _FORMATS:
        return {"type": "string", "format": _FORMATS[name]}
    if name == "Object":
        return {}
    if name in _LISTS:
        item = java_schema(java.args[0], families) if java.args else {}
        return {"type": "array", "items": item}
    if name in _MAPS:
        schema: dict[str, Any] = {"type": "object"}
        value = java_schema(java.args[1], families) if len(java.args) == 2 else {}
        if value:  # Switch's `cases`: Map<String, List<Task>> holds tasks
            schema["additionalProperties"] = value
        return schema
    if java.name in ("State.Type", "Type") and "State" in java.name:
        return {"type": "string", "enum": STATES}
    if name in ("Task", "RunnableTask", "FlowableTask", "WorkerTask"):
        return families.any_of("task")
    if name in ("Condition", "ScheduleCondition"):
        return families.any_of("condition")
    if name in ("TaskRunner", "AbstractTrigger"):
        return families.any_of("runner" if name == "TaskRunner" else "trigger")
    if name == "AbstractRetry":
        return _retry_any_of({"$dynamic": False})
    if name == "HttpConfiguration":
        return {"$ref": "#/definitions/io.kestra.core.http.client.configurations.HttpConfiguration"}
    if name == "WorkerGroup":
        return {"$ref": "#/definitions/io.kestra.core.models.tasks.WorkerGroup"}
    if name in families.class_family:
        return families.any_of(families.class_family[name])
    # A class the pages do not describe: an enum when its name or Kestra's examples say so, else an object.
    kinds = seen_as or Counter()
    if kinds and kinds.most_common(1)[0][0] in ("string", "boolean", "integer", "number"):
        return {"type": "string"}
    if name.endswith(_ENUM_SUFFIXES) or (java.name.count(".") == 1 and not kinds):  # Outer.Kind: a nested enum
        return {"type": "string"}
    return {"type": "object"}


def _default(text: str | None) -> object:
    """A `Default:` of the pages as Kestra's schema writes it (a constant's name, ISO durations); None if code."""
    if text is None:
        return None
    text = text.strip()
    if text in ("true", "Boolean.TRUE"):
        return True
    if text in ("false", "Boolean.FALSE"):
        return False
    if re.fullmatch(r"-?\d+L?", text):
        return int(text.rstrip("L"))
    if re.fullmatch(r'"[^"]*"', text):
        return text[1:-1]
    duration = re.fullmatch(r"Duration\.of(Seconds|Minutes|Hours|Days|Millis)\((\d+)\)", text)
    if duration:
        unit, amount = duration.groups()
        letter = {"Seconds": "S", "Minutes": "M", "Hours": "H", "Days": "D", "Millis": "S"}[unit]
        value = int(amount) / 1000 if unit == "Millis" else int(amount)
        return f"P{value}D" if letter == "D" else f"PT{value:g}{letter}"
    constant = re.fullmatch(r"(?:[A-Z]\w*\.)+([A-Z][A-Z0-9_]+)", text)
    return constant.group(1) if constant else None


def property_schema(prop: DocProperty, families: _Families, seen_as: Counter[str] | None) -> dict[str, Any]:
    java = parse_java(prop.java)
    dynamic = java.simple == "Property"
    base = java_schema(java, families, seen_as)
    default = _default(prop.default)
    notes: dict[str, Any] = {}
    if prop.title:
        notes["title"] = prop.title
    if default is not None:
        notes["default"] = default
    notes["$dynamic"] = dynamic or (base.get("type") == "string" and not base.get("enum"))
    described = prop.description
    if prop.default is not None:
        shown = json.dumps(default) if isinstance(default, str) and default in ("true", "false") else prop.default
        described = (described + "\n\n" if described else "") + f"Default value is : `{shown}`"
    if described:
        notes["markdownDescription"] = described
    scalar = base.get("type") in ("integer", "number", "boolean") or "format" in base
    if "$ref" in base or "anyOf" in base:
        branches = base.get("anyOf")
        if branches is not None and all("$ref" in b for b in branches):
            return {**notes, "anyOf": branches}  # a family: Kestra writes the bare refs
        return {"allOf": [base, notes]} if "$ref" in base else {**base, **notes}
    if dynamic and scalar:  # a dynamic scalar also takes a Pebble expression, in a string
        branches = [{**base, **notes}, {"type": "string", **notes}]
        outer = {key: notes[key] for key in ("title", "default") if key in notes}
        return {"anyOf": branches, **outer}
    schema = {**base, **notes}
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict) and "$ref" not in schema["items"]:
        schema["items"] = {**schema["items"], "$dynamic": notes["$dynamic"]} if schema["items"] else {}
    return schema


# --- the schema -----------------------------------------------------------------------------------------------
def _type_property(name: str, aliases: list[str]) -> dict[str, Any]:
    return {"enum": [name, *aliases]} if aliases else {"const": name}


def _page_markdown(page: DocPage) -> str:
    text = page.description
    if page.examples:
        blocks = "\n\n".join(f"> {title}\n```yaml\n{code.rstrip()}\n```" for title, code in page.examples)
        text += "##### Examples\n" + blocks
    return text


def _outputs(page: DocPage, families: _Families) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, prop in page.outputs.items():
        schema = java_schema(parse_java(prop.java), families)
        if "anyOf" in schema:
            schema = {}
        out[name] = {**schema, "title": prop.title, **({"description": prop.description} if prop.description else {})}
        out[name]["$required"] = False
    return out


def _bundled_properties() -> tuple[dict[str, Any], dict[str, Any], dict[str, list[str]], dict[str, str]]:
    """What the bundled catalog knows: its definitions (v1) by type, its object definitions, aliases and kinds."""
    from copilot.flows import bundled_schema

    schema = bundled_schema(1)
    catalog = schema.catalog
    assert catalog is not None
    by_type: dict[str, Any] = {}
    aliases: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    for t in catalog.plugin_types(1):
        by_type[t.name] = schema.definitions[t.name]
        aliases[t.name] = list(t.aliases)
        kinds[t.name] = {"flowable": "task", "task-runner": "runner"}.get(t.kind, t.kind)
    objects = {name: value for name, value in schema.definitions.items() if name.startswith("copilot.objects.")}
    return by_type, objects, aliases, kinds


def _rewrite_families(node: Any, families: _Families) -> Any:
    """A bundled definition's `copilot.family.*` refs as the full schema's inline `anyOf`s."""
    if isinstance(node, list):
        return [_rewrite_families(item, families) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/copilot.family."):
        family = ref.rsplit(".", 1)[-1]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        if family == "retry":
            return {**_retry_any_of({}), **rest}
        name = {"task-runner": "runner"}.get(family, family)
        return {**families.any_of(name), **rest}
    return {key: _rewrite_families(value, families) for key, value in node.items()}


@functools.cache
def _full_schema_text() -> str:
    sample = json.loads(sample_schema_path().read_text(encoding="utf-8"))
    definitions: dict[str, Any] = sample["definitions"]
    pages = doc_pages()
    bundled, objects, aliases, bundled_kinds = _bundled_properties()
    kinds = {name: classify(name) for name in pages}
    for name, kind in bundled_kinds.items():
        kinds.setdefault(name, kind)  # a type the pages lack (the docs' core snapshot is from 2024)
    members: dict[str, list[str]] = defaultdict(list)
    for name in sorted(kinds):
        members[kinds[name]].append(name)
    # A Java base class names a sub-plugin family when a property of that class sits under the family's key.
    class_family: dict[str, str] = {}
    for page in pages.values():
        for prop in page.properties.values():
            java = parse_java(prop.java)
            inner = java.args[0] if java.simple == "Property" and java.args else java
            inner = inner.args[0] if inner.simple in _LISTS and inner.args else inner
            if prop.name in members and prop.name not in KIND_OF_KEY:
                class_family[inner.simple] = prop.name
    families = _Families(dict(members), class_family)
    log = definitions[SAMPLE_TASKS[0]]["properties"]
    trigger_base = definitions[TRIGGER_BASE]["properties"]
    task_common = {k: v for k, v in log.items() if k not in ("level", "message", "type")}
    trigger_common = {k: v for k, v in trigger_base.items() if k != "type"}
    trigger_common["conditions"] = {
        **{k: v for k, v in trigger_common["conditions"].items() if k != "items"},
        "items": families.any_of("condition"),
    }
    usage = example_usage()
    for name, kind in sorted(kinds.items()):
        if name in SAMPLE_TASKS:
            continue  # the sample's own, real definitions
        page = pages.get(name)
        seen = usage.get(name, Usage())
        properties: dict[str, Any] = {}
        required: list[str] = ["type"]
        if kind == "task":
            properties.update(copy.deepcopy(task_common))
            required.insert(0, "id")
        elif kind == "trigger":
            properties.update(copy.deepcopy(trigger_common))
            required.insert(0, "id")
        for prop in (page.properties if page else {}).values():
            properties[prop.name] = property_schema(prop, families, seen.values.get(prop.name))
            if prop.required and prop.default is None:
                required.append(prop.name)
        known = _rewrite_families(bundled.get(name, {}).get("properties", {}), families)
        for key, schema in known.items():
            properties.setdefault(key, schema)
        for key, kinds_seen in seen.values.items():  # what Kestra's own examples write is a property too
            if key in properties:
                continue
            if kind == "task" and key in TASK_LIST_KEYS[:5] and "array" in kinds_seen:
                properties[key] = {"type": "array", "items": families.any_of("task")}  # a flowable's tasks
            else:
                properties[key] = {"$dynamic": True}  # a property the page omits (no @Schema): any value
        if kind == "runner":
            properties.setdefault("version", copy.deepcopy(log["version"]))
        properties["type"] = _type_property(name, aliases.get(name, []))
        definition: dict[str, Any] = {
            "type": "object",
            "properties": dict(sorted(properties.items())),
            "required": list(dict.fromkeys(required)),
        }
        if page is not None:
            definition["title"] = page.title
            if kind in ("task", "trigger"):
                definition["outputs"] = _outputs(page, families)
            definition["markdownDescription"] = _page_markdown(page)
        elif bundled.get(name, {}).get("title"):
            definition["title"] = bundled[name]["title"]
        definitions[name] = definition
    for obj, schema in objects.items():
        definitions[obj] = _rewrite_families(schema, families)
    tasks = families.any_of("task")
    flow = definitions[FLOW]["properties"]
    for key in ("tasks", "errors", "finally", "afterExecution"):
        flow[key]["items"] = tasks
    flow["triggers"]["items"] = families.any_of("trigger")
    for key in SAMPLE_TASKS:  # the sample's tasks are in the task lists like every other
        assert {"$ref": f"#/definitions/{key}"} in tasks["anyOf"]
    return json.dumps({**sample, "definitions": dict(sorted(definitions.items()))})


def full_flow_schema_bytes() -> bytes:
    """The full-format schema as the hosted server sends it (compact JSON, a few MB)."""
    return _full_schema_text().encode()


def full_flow_schema() -> dict[str, Any]:
    """The full-format schema as a dict (a fresh copy each call: callers may change it)."""
    return json.loads(_full_schema_text())


# --- the loopback "api.kestra.io" -----------------------------------------------------------------------------
@dataclass
class HostedSchema:
    """Serves `body` at `url` (…/v1/plugins/schemas/flow) with `etag`, a 304 to a matching If-None-Match, a 503
    when `body` is None; `requests` lists the If-None-Match of each request. `with HostedSchema(body) as hosted:`."""

    body: bytes | None
    etag: str = '"v1"'
    url: str = ""
    requests: list[str | None] = field(default_factory=list)
    _server: LoopbackServer | None = None

    def __enter__(self) -> Self:
        state = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                asked = self.headers.get("If-None-Match")
                state.requests.append(asked)
                if state.body is None:
                    self.send_response(503)
                    self.end_headers()
                    return
                if asked == state.etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(state.body)))
                self.send_header("ETag", state.etag)
                self.end_headers()
                self.wfile.write(state.body)

        self._server = LoopbackServer(Handler).start()
        self.url = f"{self._server.url}/v1/plugins/schemas/flow"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()
