"""The flow toolkit: pure functions on Kestra flow text.

extract_flow_yaml(reply)      the flow YAML in a model reply
parse_flow(text)              data + the line/column of every key; refuses hostile YAML
bundled_schema(version)       the flow JSON schema generated from the offline catalog
use_cache(folder)             keep the catalog and its schemas built once, in a cache file (a fresh process
                              then reads them instead of building them)
validate_flow(text, schema)   diagnostics: schema, strict keys, types, semantic rules, lints
diff_flows(old, new)          unified diff + a semantic summary of what changed (same_flow: no change at all)
flow_capabilities(text)       what a flow can do when it runs (code, hosts, triggers, writes …), for consent
flow_needs(text)              the KV keys and secrets its expressions read from the server
set_top_level / remove_top_level   edits on the parsed document, proved by parsing the result again
flow_topology(data)           the flow as a tree: inputs, triggers, nested tasks, errors/finally
iter_tasks(data)              every task of the flow's task tree, with its path (the one task walk)
SecretVault()                 redact credentials for a model (`REDACTED_1` …) and restore them in its flow
redact_secrets(text)          (text, count): a one-off vault, for what is stored
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._bundled import use_cache
    from ._capabilities import Capabilities, Capability, flow_capabilities
    from ._catalog import Catalog, ObjectDef, PropertySpec, TypeDef, load_catalog
    from ._diagnostics import Diagnostic, Severity, has_errors, passes, sort_diagnostics
    from ._diff import Change, DiffSummary, FlowDiff, diff_flows, same_flow
    from ._edit import FlowEditError, remove_top_level, set_top_level
    from ._errors import FlowError, FlowSyntaxError, SchemaLoadError
    from ._extract import extract_flow_yaml, extract_yaml_blocks, reply_prose
    from ._lint import lint_secrets
    from ._needs import FlowNeeds, KvRead, flow_needs
    from ._parse import ParsedFlow, Path, Position, format_path, parse_flow, parse_yaml
    from ._rules_inputs import value_problem
    from ._schema import FlowSchema, bundled_schema
    from ._schemagen import generate_flow_schema
    from ._secrets import (
        PLACEHOLDER_PATTERN,
        SecretVault,
        find_secrets,
        is_placeholder,
        is_secret_key,
        looks_like_secret_value,
        redact_secrets,
    )
    from ._tasks import child_tasks, iter_tasks
    from ._topology import TopologyNode, flow_topology
    from ._types import YamlList, YamlMap, YamlValue
    from ._validate import ValidationResult, validate_flow, validate_parsed
    from ._values import plugin_types

# Each name's module, imported when the name is first used: `validate` loads the validator's modules, not
# the diff's, the topology's or the capabilities'.
_MODULES = {
    "_bundled": ("use_cache",),
    "_capabilities": ("Capabilities", "Capability", "flow_capabilities"),
    "_catalog": ("Catalog", "ObjectDef", "PropertySpec", "TypeDef", "load_catalog"),
    "_diagnostics": ("Diagnostic", "Severity", "has_errors", "passes", "sort_diagnostics"),
    "_diff": ("Change", "DiffSummary", "FlowDiff", "diff_flows", "same_flow"),
    "_edit": ("FlowEditError", "remove_top_level", "set_top_level"),
    "_errors": ("FlowError", "FlowSyntaxError", "SchemaLoadError"),
    "_extract": ("extract_flow_yaml", "extract_yaml_blocks", "reply_prose"),
    "_lint": ("lint_secrets",),
    "_needs": ("FlowNeeds", "KvRead", "flow_needs"),
    "_parse": ("ParsedFlow", "Path", "Position", "format_path", "parse_flow", "parse_yaml"),
    "_rules_inputs": ("value_problem",),
    "_schema": ("FlowSchema", "bundled_schema"),
    "_schemagen": ("generate_flow_schema",),
    "_secrets": (
        "PLACEHOLDER_PATTERN",
        "SecretVault",
        "find_secrets",
        "is_placeholder",
        "is_secret_key",
        "looks_like_secret_value",
        "redact_secrets",
    ),
    "_tasks": ("child_tasks", "iter_tasks"),
    "_topology": ("TopologyNode", "flow_topology"),
    "_types": ("YamlList", "YamlMap", "YamlValue"),
    "_validate": ("ValidationResult", "validate_flow", "validate_parsed"),
    "_values": ("plugin_types",),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next use is a plain lookup
    return value


__all__ = [
    "PLACEHOLDER_PATTERN",
    "Capabilities",
    "Capability",
    "Catalog",
    "Change",
    "Diagnostic",
    "DiffSummary",
    "FlowDiff",
    "FlowEditError",
    "FlowError",
    "FlowNeeds",
    "FlowSchema",
    "FlowSyntaxError",
    "KvRead",
    "ObjectDef",
    "ParsedFlow",
    "Path",
    "Position",
    "PropertySpec",
    "SchemaLoadError",
    "SecretVault",
    "Severity",
    "TopologyNode",
    "TypeDef",
    "ValidationResult",
    "YamlList",
    "YamlMap",
    "YamlValue",
    "bundled_schema",
    "child_tasks",
    "diff_flows",
    "extract_flow_yaml",
    "extract_yaml_blocks",
    "find_secrets",
    "flow_capabilities",
    "flow_needs",
    "flow_topology",
    "format_path",
    "generate_flow_schema",
    "has_errors",
    "is_placeholder",
    "is_secret_key",
    "iter_tasks",
    "lint_secrets",
    "load_catalog",
    "looks_like_secret_value",
    "parse_flow",
    "parse_yaml",
    "passes",
    "plugin_types",
    "redact_secrets",
    "remove_top_level",
    "reply_prose",
    "same_flow",
    "set_top_level",
    "sort_diagnostics",
    "use_cache",
    "validate_flow",
    "validate_parsed",
    "value_problem",
]
