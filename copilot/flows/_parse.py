"""Safe YAML loading that remembers where every key and value came from.

Kestra reads flows with Jackson, so scalars are resolved the YAML 1.2 way: only `true`/`false` are
booleans (`on`, `yes` stay strings) and dates stay strings. Hostile input is refused with a clear error
before it can cost memory: documents over a size limit, alias bombs ("billion laughs"), recursive
aliases, very deep nesting. Duplicate keys are not fatal here; they are reported as diagnostics
(Kestra refuses them: `Duplicate field 'x'`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..fileio import MAX_FLOW_BYTES
from ._diagnostics import Diagnostic, Severity
from ._errors import FlowSyntaxError
from ._types import YamlMap, YamlValue, child

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "ParsedFlow",
    "Path",
    "Position",
    "format_path",
    "parse_flow",
    "parse_yaml",
]

MAX_DOCUMENT_BYTES = MAX_FLOW_BYTES  # the limit a flow file is read with, and the one a flow text is parsed with
MAX_DEPTH = 200
MAX_ALIAS_EXPANSION = 10_000  # values built through aliases, in total

Path = tuple[str | int, ...]
Data = TypeVar("Data", bound=YamlValue)  # the root: any value (`parse_yaml`) or a mapping (`parse_flow`)


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class ParsedFlow(Generic[Data]):
    """A parsed YAML document: plain JSON-like data plus the position of each key and value."""

    text: str
    data: Data
    key_positions: dict[Path, Position] = field(default_factory=dict)
    value_positions: dict[Path, Position] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)

    def position(self, path: Path) -> Position | None:
        """Where `path` is written: its key when it has one, else its value, else its nearest parent."""
        path = tuple(path)
        while True:
            pos = self.key_positions.get(path) or self.value_positions.get(path)
            if pos is not None or not path:
                return pos
            path = path[:-1]

    def diagnostic(
        self, code: str, path: Path, message: str, hint: str | None = None, severity: Severity = Severity.ERROR
    ) -> Diagnostic:
        """A finding about `path`, placed where it is written (see `position`): how every check of the toolkit
        reports what it finds in a parsed flow."""
        pos = self.position(path)
        return Diagnostic(
            severity,
            code,
            message,
            line=pos.line if pos else None,
            column=pos.column if pos else None,
            path=format_path(path),
            hint=hint,
        )

    def value_position(self, path: Path) -> Position | None:
        return self.value_positions.get(tuple(path)) or self.position(path)

    def get(self, path: Path) -> YamlValue:
        """The value at `path`; None when there is none."""
        node: YamlValue = self.data
        for part in path:
            node = child(node, part)
        return node


def format_path(path: Path) -> str:
    """`("tasks", 2, "sql")` → `tasks[2].sql`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out


class _Resolver(yaml.resolver.BaseResolver):
    """YAML 1.2 core-schema scalars, close to what Jackson's YAML parser yields."""


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Resolver.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])


class _Loader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    yaml.constructor.SafeConstructor,
    _Resolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)


def _scalar_value(node: ScalarNode) -> YamlValue:
    tag = node.tag
    text: str = node.value  # a scalar node's value is its text
    if tag == "tag:yaml.org,2002:str" or node.style:  # quoted or block (plain is None, or "" from libyaml)
        return text
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return text.lower() == "true"
    if tag == "tag:yaml.org,2002:int":
        cleaned = text.replace("_", "")
        if cleaned.startswith(("0o", "0x")):
            return int(cleaned, 0)
        return int(cleaned)
    if tag == "tag:yaml.org,2002:float":
        lowered = text.lower()
        if lowered.endswith("nan"):
            return math.nan
        if lowered.endswith("inf"):
            return -math.inf if lowered.startswith("-") else math.inf
        return float(text)
    # Explicit tags (!!timestamp, !!binary, custom !Tags): keep the text, as Jackson would see it.
    return text


def _mark(node: Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed node graph into plain data, recording positions and guarding against abuse."""

    def __init__(self, parsed: ParsedFlow[YamlValue]) -> None:
        self.parsed = parsed
        self.seen_nodes: set[int] = set()
        self.alias_expansion = 0
        self.active: set[int] = set()

    def build(self, node: Node, path: Path, depth: int, via_alias: bool = False) -> YamlValue:
        if depth > MAX_DEPTH:
            raise FlowSyntaxError(
                f"The YAML is nested more than {MAX_DEPTH} levels deep.",
                line=_mark(node).line,
                hint="A Kestra flow is never this deep; the text is probably not a flow.",
            )
        node_id = id(node)
        if node_id in self.active:
            raise FlowSyntaxError(
                "The YAML contains a recursive alias (a structure that contains itself).",
                line=_mark(node).line,
                hint="Remove the anchor/alias pair; Kestra cannot read recursive YAML.",
            )
        # A node met a second time was reached through an alias: count what it expands to.
        repeated = node_id in self.seen_nodes
        self.seen_nodes.add(node_id)
        expanding = via_alias or repeated
        if expanding:
            self.alias_expansion += 1
            if self.alias_expansion > MAX_ALIAS_EXPANSION:
                raise FlowSyntaxError(
                    f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION} values (an alias bomb).",
                    line=_mark(node).line,
                    hint="Write the repeated parts out, or use pluginDefaults/subflows instead of aliases.",
                )
        if not expanding:
            self.parsed.value_positions.setdefault(path, _mark(node))

        if isinstance(node, ScalarNode):
            return _scalar_value(node)
        self.active.add(node_id)
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, index), depth + 1, expanding) for index, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return self._build_mapping(node, path, depth, expanding)
        finally:
            self.active.discard(node_id)
        raise FlowSyntaxError(f"Unsupported YAML node {node!r}.", line=_mark(node).line)

    def _build_mapping(self, node: MappingNode, path: Path, depth: int, expanding: bool) -> YamlMap:
        result: YamlMap = {}
        first_seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            key_value = (
                self.build(key_node, path, depth + 1, True)
                if not isinstance(key_node, ScalarNode)
                else _scalar_value(key_node)
            )
            if isinstance(key_value, (dict, list)):
                raise FlowSyntaxError(
                    "A mapping key is itself a mapping or list.",
                    line=_mark(key_node).line,
                    hint="Keys in a Kestra flow are plain names such as `id` or `tasks`.",
                )
            key = _key_text(key_value, key_node)
            child: Path = (*path, key)
            key_pos = _mark(key_node)
            if not expanding:
                self.parsed.key_positions[child] = key_pos
                self.parsed.value_positions.pop(child, None)
            if key in first_seen and not expanding:
                self.parsed.problems.append(
                    self.parsed.diagnostic(
                        "duplicate-key",
                        child,
                        f"Duplicate key '{key}' (first defined on line {first_seen[key].line}); "
                        f"Kestra refuses it: \"Duplicate field '{key}'\".",
                        "Keep one of the two definitions.",
                    )
                )
            first_seen.setdefault(key, key_pos)
            result[key] = self.build(value_node, child, depth + 1, expanding)
        return result


def _key_text(value: YamlValue, node: Node) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return node.value if isinstance(node, ScalarNode) and node.value else "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(node.value) if isinstance(node, ScalarNode) else str(value)


if yaml.__with_libyaml__:  # libyaml's parser is ~10x faster; the node tree and marks are the same

    class _CLoader(yaml.cyaml.CParser, yaml.constructor.SafeConstructor, _Resolver):  # type: ignore[name-defined]
        def __init__(self, stream: str) -> None:
            yaml.cyaml.CParser.__init__(self, stream)  # type: ignore[attr-defined]
            yaml.constructor.SafeConstructor.__init__(self)
            _Resolver.__init__(self)

    _FastLoader: type = _CLoader
else:  # pragma: no cover - PyYAML wheels ship libyaml
    _FastLoader = _Loader


def _compose(text: str) -> Node | None:
    loader = _FastLoader(text)
    try:
        node: Node | None = loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        if "expected a single document" in str(exc):
            raise FlowSyntaxError(
                "The text holds several YAML documents (separated by `---`); a flow is one document.",
                line=(exc.problem_mark.line + 1) if exc.problem_mark else None,
                hint="Split the flows into separate files, one flow each.",
            ) from exc
        raise _syntax_error(exc) from exc
    except yaml.YAMLError as exc:
        raise _syntax_error(exc) from exc
    finally:
        loader.dispose()
    return node


def _syntax_error(exc: yaml.YAMLError) -> FlowSyntaxError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {problem}"
    if context:
        message += f" ({context})"
    hint = "Check the indentation and quoting around this line."
    if problem and "mapping values are not allowed" in problem:
        hint = "A value contains ': ' — quote it, or fix the indentation of the line."
    elif problem and "found character '\\t'" in problem:
        hint = "YAML does not allow tabs for indentation; use spaces."
    elif problem and "expected <block end>" in problem:
        hint = "The indentation of this line does not match its siblings."
    elif problem and "found undefined alias" in problem:
        hint = "An `*alias` refers to an anchor that was never defined with `&`."
    elif (problem and "'{'" in problem) or (problem and "unhashable" in problem):
        hint = "A Pebble expression such as {{ … }} must be quoted when it starts a value."
    return FlowSyntaxError(
        message,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        hint=hint,
    )


def parse_yaml(text: str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> ParsedFlow[YamlValue]:
    """Parse one YAML document of any shape; raises `FlowSyntaxError` on bad or hostile input."""
    if isinstance(text, bytes):  # pragma: no cover - defensive, callers pass str
        text = text.decode("utf-8", errors="replace")
    size = len(text.encode("utf-8", errors="replace"))
    if size > max_bytes:
        raise FlowSyntaxError(
            f"The document is {size:,} bytes; the limit is {max_bytes:,}.",
            hint="A flow this large is almost certainly not a flow; split it or check the input.",
        )
    text = text.lstrip("\ufeff")
    parsed: ParsedFlow[YamlValue] = ParsedFlow(text=text, data=None)
    node = _compose(text)
    if node is None:
        return parsed
    try:
        parsed.data = _Builder(parsed).build(node, (), 0)
    except RecursionError as exc:
        raise FlowSyntaxError(
            "The YAML is nested too deeply to read.", hint="The text is probably not a flow."
        ) from exc
    return parsed


def parse_flow(text: str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> ParsedFlow[YamlMap]:
    """Parse a flow: one YAML document whose root is a mapping."""
    parsed = parse_yaml(text, max_bytes=max_bytes)
    if parsed.data is None:
        raise FlowSyntaxError("The document is empty.", hint="A flow needs at least `id`, `namespace` and `tasks`.")
    if not isinstance(parsed.data, dict):
        kind = "a list" if isinstance(parsed.data, list) else f"a single value ({type(parsed.data).__name__})"
        raise FlowSyntaxError(
            f"The document is {kind}, not a mapping.",
            line=1,
            hint="A flow is a YAML mapping with `id`, `namespace` and `tasks` keys.",
        )
    return ParsedFlow(parsed.text, parsed.data, parsed.key_positions, parsed.value_positions, parsed.problems)
