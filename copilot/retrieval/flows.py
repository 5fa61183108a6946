"""Example flows → one chunk each: title and description (when the source has them), then the YAML."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import yaml

from ..flows import YamlValue, plugin_types
from .chunks import Chunk, plugin_types_in

__all__ = ["MAX_FLOW_CHARS", "flow_chunk", "flows_from_jsonl", "is_flow", "yaml_problem"]

MAX_FLOW_CHARS = 6000  # a flow longer than this is cut, with a marker, so one flow cannot flood a prompt
_TYPE_LINE = re.compile(r"^\s*-?\s*type:\s*[\"']?([\w.$]+)", re.M)
_FLOW_KEYS = ("id", "namespace", "tasks")  # what every Kestra flow has at its top level


def _parse(text: str) -> YamlValue:
    try:
        data: YamlValue = yaml.safe_load(text)  # dates and non-string keys are narrowed away where it is read
    except yaml.YAMLError:
        return None
    return data


def yaml_problem(text: str) -> str | None:
    """Why a text is not valid YAML (`line 5: mapping values are not allowed here`), or None."""
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        where = f"line {exc.problem_mark.line + 1}: " if exc.problem_mark else ""
        return f"{where}{exc.problem or exc.context or 'a syntax error'}"
    except yaml.YAMLError as exc:
        return str(exc).splitlines()[0] if str(exc) else "a syntax error"
    return None


def is_flow(text: str) -> bool:
    """Whether a YAML file is a Kestra flow: a mapping with `id`, `namespace` and `tasks`. A file that does
    not parse (a flow with a syntax error) counts when those keys start lines at its top level."""
    data = _parse(text)
    if isinstance(data, dict):
        return all(key in data for key in _FLOW_KEYS)
    return data is None and all(re.search(rf"^{key}[ \t]*:", text, re.M) for key in _FLOW_KEYS)


def _types_used(text: str, data: YamlValue) -> tuple[str, ...]:
    """The `type:` values of a flow; a regex when the YAML does not parse."""
    named = plugin_types(data) if data is not None else _TYPE_LINE.findall(text)
    found = [t for t in named if t.startswith("io.kestra.")]
    return tuple(dict.fromkeys([*found, *plugin_types_in(text)]))


def _title(text: str, data: object) -> str:
    """`Flow <id>`, with the first sentence of the flow's own description when it has one."""
    match = re.search(r"^id:\s*(\S+)", text, re.M)
    title = f"Flow {match.group(1)}" if match else "Flow"
    described = data.get("description") if isinstance(data, dict) else None
    if isinstance(described, str) and described.strip():
        first = re.split(r"(?<=[.!?])\s|\n", described.strip(), maxsplit=1)[0]
        title += f": {first[:150]}"
    return title


def flow_chunk(
    text: str,
    *,
    source: str,
    location: str,
    title: str | None = None,
    description: str | None = None,
    blueprint: bool = False,
) -> Chunk:
    data = _parse(text)
    extend = data.get("extend") if isinstance(data, dict) else None
    if isinstance(extend, dict) and extend.get("title"):  # a blueprint file carries its catalog entry
        title = title or str(extend["title"])
        description = description or str(extend.get("description") or "") or None
        blueprint = True
    if not title:
        title = _title(text, data)
    body = text.strip()
    if description and len(description) > MAX_FLOW_CHARS // 3:
        description = description[: MAX_FLOW_CHARS // 3].rsplit(" ", 1)[0] + " …"
    room = MAX_FLOW_CHARS - len(description or "")
    if len(body) > room:
        body = body[:room].rsplit("\n", 1)[0] + "\n# … (flow truncated)"
    kind = "blueprint" if blueprint else "flow"
    lead = f"{description.strip()}\n\n" if description else ""
    return Chunk(f"{lead}```yaml\n{body}\n```", kind, source, title.strip(), location, _types_used(text, data))


def flows_from_jsonl(text: str, *, source: str, location: str, warnings: list[str]) -> Iterator[Chunk]:
    """Records with a `yaml` field (and optionally id, source, title, description) → flow chunks."""
    seen_flow = False
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            warnings.append(f"{location}:{number}: not a JSON line, skipped")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("yaml"), str):
            if not seen_flow:  # not a file of flows at all (a manifest, say): say it once
                warnings.append(f"{location}: records have no `yaml` field; not a file of flows, skipped")
                return
            warnings.append(f"{location}:{number}: no `yaml` field, skipped")
            continue
        seen_flow = True
        where = str(record.get("source") or f"{location}#{record.get('id', number)}")
        blueprint = record.get("kind") == "blueprint" or (not record.get("kind") and bool(record.get("description")))
        yield flow_chunk(
            record["yaml"],
            source=source,
            location=where,
            title=record.get("title") or None,
            description=record.get("description") or None,
            blueprint=blueprint,
        )
