"""Checks Kestra's server applies beyond its JSON schema, run in one pass over the parsed flow.

Each rule has a stable code and the severity Kestra gives it (an error where Kestra refuses the flow, a
warning where it only warns). Rules are gated on the target Kestra major version. The sources (Kestra's
FlowValidator and friends) are summarised rule by rule in the project's research notes; the letters in
the comments (B1, C3 …) refer to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._diagnostics import Diagnostic, Severity
from ._lint import lint_secrets
from ._parse import ParsedFlow, Path
from ._tasks import iter_tasks
from ._types import YamlMap, YamlValue

__all__ = ["FlowIndex", "check_rules"]

PEBBLE = re.compile(r"\{\{|\{%")


def _items(data: YamlMap, key: str) -> list[tuple[Path, YamlMap]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [((key, i), item) for i, item in enumerate(value) if isinstance(item, dict)]


def type_is(node: YamlMap, *suffixes: str) -> bool:
    """`type` ends with one of `suffixes` (so old aliases such as io.kestra.core.tasks.flows.X match too)."""
    value = node.get("type")
    return isinstance(value, str) and any(value.endswith("." + s) for s in suffixes)


def literal(value: YamlValue) -> bool:
    """A value Kestra can judge at save time: not a Pebble expression."""
    return not (isinstance(value, str) and PEBBLE.search(value))


@dataclass
class FlowIndex:
    """What the rules need, collected in one walk over the flow."""

    parsed: ParsedFlow[YamlMap]
    version: int
    tasks: list[tuple[Path, YamlMap]] = field(default_factory=list)
    triggers: list[tuple[Path, YamlMap]] = field(default_factory=list)
    inputs: list[tuple[Path, YamlMap]] = field(default_factory=list)
    outputs: list[tuple[Path, YamlMap]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def data(self) -> YamlMap:
        return self.parsed.data

    def report(
        self, code: str, path: Path, message: str, hint: str | None = None, severity: Severity = Severity.ERROR
    ) -> None:
        self.diagnostics.append(self.parsed.diagnostic(code, path, message, hint, severity))


def index_flow(parsed: ParsedFlow[YamlMap], version: int) -> FlowIndex:
    return FlowIndex(
        parsed,
        version,
        tasks=list(iter_tasks(parsed.data)),
        triggers=_items(parsed.data, "triggers"),
        inputs=_items(parsed.data, "inputs"),
        outputs=_items(parsed.data, "outputs"),
    )


def check_rules(parsed: ParsedFlow[YamlMap], version: int) -> list[Diagnostic]:
    from ._rules_flow import FLOW_RULES
    from ._rules_inputs import INPUT_RULES
    from ._rules_tasks import TASK_RULES
    from ._rules_triggers import TRIGGER_RULES

    index = index_flow(parsed, version)
    for rule in (*FLOW_RULES, *INPUT_RULES, *TASK_RULES, *TRIGGER_RULES):
        rule(index)
    index.diagnostics.extend(lint_secrets(parsed))
    return index.diagnostics
