"""Find the flow YAML in a model's reply.

Models wrap the flow in chatter ("Here is your flow:") and Markdown fences (```yaml, ```yml, bare ```,
~~~), sometimes indent the fence inside a list item, sometimes stop streaming before the closing fence,
and sometimes write the YAML with no fence at all. The YAML itself is returned as written: its lines
are never reformatted, only the fence's own indentation is removed, `\\r\\n` becomes `\\n`, and blank
lines around the block are dropped (the result ends with exactly one newline).

Blocks are classified with the project's safe loader only; nothing in the reply is ever executed.
A block that is not valid YAML but is clearly meant as the flow (it has `id:`, `namespace:` or
`tasks:` lines) is still returned, so the validator can report its errors with line numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._errors import FlowSyntaxError
from ._parse import parse_yaml

__all__ = ["extract_flow_yaml", "extract_yaml_blocks", "reply_prose"]

_FLOW_KEYS = ("id", "namespace", "tasks")
# Keys a flow may have at its top level: an unfenced flow is read on while its lines start with one.
_TOP_LEVEL_KEYS = frozenset(
    {
        "id",
        "namespace",
        "revision",
        "description",
        "labels",
        "inputs",
        "outputs",
        "variables",
        "tasks",
        "errors",
        "finally",
        "afterExecution",
        "listeners",
        "triggers",
        "pluginDefaults",
        "taskDefaults",
        "concurrency",
        "retry",
        "sla",
        "checks",
        "disabled",
        "deleted",
        "workerGroup",
    }
)
_YAML_LANGUAGES = frozenset({"yaml", "yml"})

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*?)[ \t]*$")
_LANGUAGE = re.compile(r"[\w+.-]*")
_FLOW_KEY_LINE = re.compile(r"^(?:id|namespace|tasks)[ \t]*:(?:[ \t]|$)", re.MULTILINE)
_KEY_LINE = re.compile(r"^(?P<key>[A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(?P<value>.*))?$")
_MAPPING_ITEM = re.compile(r"^-[ \t]+[\w\"'.-]+[ \t]*:(?:[ \t]|$)")
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    fenced: bool
    tagged: bool  # fenced as ```yaml / ```yml
    closed: bool  # False: the reply ended inside the fence


@dataclass(frozen=True, slots=True)
class _Candidate:
    text: str
    closed: bool
    mapping: bool  # safe-loads to a mapping
    flow_keys: int  # how many of id / namespace / tasks it has at its top level

    @property
    def complete(self) -> bool:
        return self.mapping and self.flow_keys == len(_FLOW_KEYS)


def extract_yaml_blocks(reply: str) -> list[str]:
    """Every YAML block of a reply, in order: fenced blocks, or unfenced flow YAML when nothing is fenced."""
    return [candidate.text for candidate in _candidates(reply)]


def extract_flow_yaml(reply: str) -> str | None:
    """The flow in a model reply, as written; `None` when the reply holds no flow YAML.

    Among several blocks, the last complete flow (a mapping with `id`, `namespace` and `tasks`) wins,
    preferring one whose fence was closed; otherwise the block with the most of those keys, even if it
    is not valid YAML.
    """
    candidates = _candidates(reply)
    complete = [c for c in candidates if c.complete]
    if complete:
        closed = [c for c in complete if c.closed]
        return (closed or complete)[-1].text
    scored = [(c.flow_keys, index, c) for index, c in enumerate(candidates) if c.flow_keys]
    if not scored:
        return None
    return max(scored, key=lambda item: (item[0], item[1]))[2].text


def reply_prose(reply: str) -> str:
    """A reply's text without its fenced blocks (and without unfenced flow YAML): what the model said."""
    text = reply.replace("\r\n", "\n").replace("\r", "\n")
    _, outside = _scan(text.split("\n"))
    for block in _bare_blocks(outside):
        outside = "\n".join(outside).replace(block.text.rstrip("\n"), "").split("\n")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(outside)).strip()


def _candidates(reply: str) -> list[_Candidate]:
    text = reply.replace("\r\n", "\n").replace("\r", "\n")
    blocks, outside = _scan(text.split("\n"))
    fenced = [c for b in blocks if (c := _classify(b)) is not None]
    if fenced:
        return fenced
    return [c for b in _bare_blocks(outside) if (c := _classify(b)) is not None]


def _classify(block: _Block) -> _Candidate | None:
    """A candidate, or None when an untagged block does not look like YAML (a shell command, prose)."""
    mapping = False
    flow_keys = 0
    try:
        data = parse_yaml(block.text).data
    except (FlowSyntaxError, ValueError):
        flow_keys = len({m.group(0).split(":")[0].strip() for m in _FLOW_KEY_LINE.finditer(block.text)})
    else:
        if isinstance(data, dict):
            mapping = True
            flow_keys = sum(1 for key in _FLOW_KEYS if key in data)
    if not block.tagged and not mapping and not flow_keys:
        return None
    return _Candidate(block.text, block.closed, mapping, flow_keys)


# --- fences -----------------------------------------------------------------------------------------


def _scan(lines: list[str]) -> tuple[list[_Block], list[str]]:
    """Fenced blocks that may hold YAML, and the lines outside every fence (a fence leaves a blank)."""
    blocks: list[_Block] = []
    outside: list[str] = []
    index = 0
    while index < len(lines):
        opening = _FENCE_OPEN.match(lines[index])
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["info"]):
            outside.append(lines[index])
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = _LANGUAGE.match(opening["info"])
        tag = language.group(0).lower() if language else ""
        body: list[str] = []
        closed = False
        index += 1
        while index < len(lines):
            if _closes(lines[index], fence, len(indent)):
                closed = True
                index += 1
                break
            body.append(_dedent(lines[index], len(indent)))
            index += 1
        if not closed and body and body[-1].strip() and not body[-1].strip().strip("`~"):
            body.pop()  # the stream was cut inside the closing fence
        outside.append("")
        if tag in _YAML_LANGUAGES or not tag:
            tidy = _tidy(body)
            if tidy:
                blocks.append(_Block(tidy, fenced=True, tagged=bool(tag), closed=closed))
    return blocks, outside


def _closes(line: str, fence: str, indent: int) -> bool:
    stripped = line.lstrip(" \t")
    if len(line) - len(stripped) > indent + 3:
        return False  # deeper than the fence: content (a fence inside a block scalar)
    stripped = stripped.rstrip()
    return len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)


def _dedent(line: str, width: int) -> str:
    cut = 0
    while cut < width and cut < len(line) and line[cut] in " \t":
        cut += 1
    return line[cut:]


def _tidy(lines: list[str]) -> str:
    text = _LEADING_BLANK_LINES.sub("", "\n".join(lines)).rstrip()
    return f"{text}\n" if text else ""


# --- unfenced YAML ----------------------------------------------------------------------------------


def _bare_blocks(lines: list[str]) -> list[_Block]:
    """Runs of YAML lines that start at a top-level flow key and contain `id:`, `namespace:` or `tasks:`."""
    blocks: list[_Block] = []
    index = 0
    while index < len(lines):
        match = _KEY_LINE.match(lines[index])
        if match is None or match["key"] not in _TOP_LEVEL_KEYS:
            index += 1
            continue
        end = index + 1
        probe = end
        while probe < len(lines):
            line = lines[probe]
            if line.strip():
                if not _is_yaml_line(line, after_blank=not lines[probe - 1].strip()):
                    break
                end = probe + 1
            probe += 1
        run = lines[index:end]
        while run and run[-1].startswith("#"):
            run.pop()  # a Markdown heading after the YAML, not a comment of it
        tidy = _tidy(run)
        if _FLOW_KEY_LINE.search(tidy):
            blocks.append(_Block(tidy, fenced=False, tagged=False, closed=True))
        index = end
    return blocks


def _is_yaml_line(line: str, *, after_blank: bool) -> bool:
    if line[0] in " \t#":
        return True
    if line[0] == "-":
        # Directly under a key any item continues the YAML; after a blank line only a mapping item does
        # (a Markdown bullet list after the flow is prose).
        return (line.rstrip() == "-" or line.startswith("- ")) and (
            not after_blank or _MAPPING_ITEM.match(line) is not None
        )
    match = _KEY_LINE.match(line.rstrip())
    if match is None:
        return False
    value = match["value"] or ""
    # `Note: the namespace must exist.` is prose; `schedule:` or `retries: 3` is YAML.
    return match["key"] in _TOP_LEVEL_KEYS or not value or " " not in value or value[0] in "\"'{[|>&*!"
