"""A Kestra server's verdict on a flow, as the same diagnostics the offline validator gives.

The server words its constraints as `path: message` lines (bean validation: `tasks[0].message: must not
be null`; 2.x may name list items by id: `tasks[log].message`) or as Jackson parse errors carrying
`line: N, column: M` and a reference chain (`Flow["tasks"]->ArrayList[0]->Log["sqll"]`). Each is placed
at its line in the user's text; a message naming nothing is placed where the text mentions what it names
(an unknown `type`), else on the flow itself.
"""

from __future__ import annotations

import re

from ..flows import Diagnostic, ParsedFlow, Path, Severity, YamlMap, format_path
from .client import ServerValidation

__all__ = ["server_diagnostics"]

_JACKSON_POSITION = re.compile(r"line: (\d+), column: (\d+)")
_JACKSON_CHAIN = re.compile(r'\["([^"]+)"\]|\[(\d+)\]')
_PATH_MESSAGE = re.compile(r"^(?:flow\.)?([A-Za-z_][\w-]*(?:\[[^\]]+\]|\.[A-Za-z_$][\w$-]*)*)\s*:\s+(.+)$")
_PATH_PART = re.compile(r"\.?([A-Za-z_$][\w$-]*)|\[([^\]]+)\]")
_QUOTED_TYPE = re.compile(r"Invalid type: ([\w.$]+)")


def _path_from_text(data: object, text: str) -> Path | None:
    path: list[str | int] = []
    node = data
    for match in _PATH_PART.finditer(text):
        key, item = match.group(1), match.group(2)
        if key is not None:
            path.append(key)
            node = node.get(key) if isinstance(node, dict) else None
        elif item is not None:
            if item.isdigit():
                position = int(item)
            elif isinstance(node, list):  # 2.x names list items by id
                position = next((i for i, x in enumerate(node) if isinstance(x, dict) and x.get("id") == item), -1)
                if position < 0:
                    return tuple(path)
            else:
                return tuple(path)
            path.append(position)
            node = node[position] if isinstance(node, list) and 0 <= position < len(node) else None
    return tuple(path)


def _locate(
    parsed: ParsedFlow[YamlMap] | None, text: str, message: str
) -> tuple[int | None, int | None, str | None, str]:
    """(line, column, path, message) for one constraint."""
    if parsed is None:
        return None, None, None, message
    chain = [int(i) if i else k for k, i in _JACKSON_CHAIN.findall(message.split("through reference chain:")[-1])]
    if "through reference chain:" in message and chain:
        path: Path = tuple(chain)
        pos = parsed.position(path) or parsed.position(path[:-1])
        head = message.split(" at [Source", 1)[0].split(" (class ", 1)[0]
        return (pos.line if pos else None), (pos.column if pos else None), format_path(path), head
    found = _JACKSON_POSITION.search(message)
    if found:
        head = message.split(" at [Source", 1)[0].strip()
        return int(found.group(1)), int(found.group(2)), None, head
    match = _PATH_MESSAGE.match(message)
    if match:
        path = _path_from_text(parsed.data, match.group(1)) or ()
        while path and parsed.position(path) is None:
            path = path[:-1]
        pos = parsed.position(path) if path else None
        if pos:
            return pos.line, pos.column, format_path(path), message
    quoted = _QUOTED_TYPE.search(message)
    if quoted:
        for where, pos in parsed.value_positions.items():
            if where and where[-1] == "type" and parsed.get(where) == quoted.group(1):
                return pos.line, pos.column, format_path(where), message
    return 1, 1, None, message


def server_diagnostics(result: ServerValidation, parsed: ParsedFlow[YamlMap] | None, server: str) -> list[Diagnostic]:
    """The server's constraints (errors), warnings and infos for one flow, placed at their lines."""
    out: list[Diagnostic] = []
    for constraint in _whole_messages(result.constraints):
        line, column, path, message = _locate(parsed, constraint, constraint)
        out.append(
            Diagnostic(
                Severity.ERROR,
                "server-constraint",
                f"Kestra ({server}) refuses the flow: {message}",
                line=line,
                column=column,
                path=path or "",
                hint="This check ran on the server; fix the flow as the message says.",
            )
        )
    for warning in result.warnings:
        out.append(Diagnostic(Severity.WARNING, "server-warning", f"Kestra ({server}): {warning}"))
    for info in result.infos:
        out.append(Diagnostic(Severity.INFO, "server-info", f"Kestra ({server}): {info}"))
    for deprecated in result.deprecation_paths:
        line, column, path, _ = _locate(parsed, f"{deprecated}: deprecated", f"{deprecated}: deprecated")
        out.append(
            Diagnostic(
                Severity.WARNING,
                "deprecated-property",
                f"Kestra ({server}): `{deprecated}` is deprecated.",
                line=line,
                column=column,
                path=path or "",
            )
        )
    if result.outdated:
        out.append(
            Diagnostic(
                Severity.WARNING,
                "server-outdated",
                f"Kestra ({server}): the flow's `revision` is not the next one on the server.",
                hint="Drop `revision:` from the YAML, or fetch the deployed revision first.",
            )
        )
    return out


def _whole_messages(lines: list[str]) -> list[str]:
    """Join the continuation lines of a multi-line Jackson message back onto it."""
    messages: list[str] = []
    for line in lines:
        # Jackson continues on " at [Source: …", whose quoted excerpt of the YAML may span lines itself
        inside_source = bool(messages) and "[Source:" in messages[-1] and not _JACKSON_POSITION.search(messages[-1])
        if messages and (inside_source or line.startswith((" ", "\t", "at [Source"))):
            messages[-1] += " " + line.strip()
        else:
            messages.append(line.strip())
    return messages
