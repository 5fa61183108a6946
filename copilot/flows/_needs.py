"""What a flow reads from the server it runs on, found in its expressions: the KV keys of `kv('KEY')` and
the secrets of `secret('NAME')`. Only literal names are found (`kv(inputs.key)` cannot be known before the
run); a `kv(…, errorOnMissing=false)` read is optional.

    flow_needs(flow_yaml).kv        # (KvRead(key="GCS_BUCKET", namespace=None, required=True), …)
    flow_needs(flow_yaml).secrets   # ("GCP_SERVICE_ACCOUNT",)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FlowNeeds", "KvRead", "flow_needs"]

_STRING = r"""(?:'([^'\\]*)'|"([^"\\]*)")"""
_CALL = re.compile(r"\b(kv|secret)\s*\(([^()]*)\)")
_ARGUMENT = re.compile(rf"\s*(?:(\w+)\s*=\s*)?({_STRING}|\w+)\s*(?:,|$)")


@dataclass(frozen=True)
class KvRead:
    key: str
    namespace: str | None  # None: the namespace the flow runs in
    required: bool  # False: `errorOnMissing=false`, the run goes on without it


@dataclass(frozen=True)
class FlowNeeds:
    kv: tuple[KvRead, ...] = ()
    secrets: tuple[str, ...] = ()


def flow_needs(text: str) -> FlowNeeds:
    """The KV reads and secrets a flow's text names, each once, in order of appearance."""
    kv: dict[KvRead, None] = {}
    secrets: dict[str, None] = {}
    for call in _CALL.finditer(text):
        arguments = _arguments(call.group(2))
        name = arguments.get("key", arguments.get("0"))
        if name is None:
            continue  # the key is an expression: known only at run time
        if call.group(1) == "secret":
            secrets[name] = None
            continue
        required = arguments.get("errorOnMissing", arguments.get("2", "true")).lower() != "false"
        kv[KvRead(name, arguments.get("namespace", arguments.get("1")), required)] = None
    return FlowNeeds(tuple(kv), tuple(secrets))


def _arguments(text: str) -> dict[str, str]:
    """A call's literal arguments by name (or position: "0", "1" …); an expression argument is left out."""
    found: dict[str, str] = {}
    position = 0
    at = 0
    while at < len(text) and (match := _ARGUMENT.match(text, at)) is not None and match.end() > at:
        name, value, single, double = match.group(1), match.group(2), match.group(3), match.group(4)
        literal = single if single is not None else double
        if literal is not None or value.lower() in ("true", "false"):
            found[name or str(position)] = literal if literal is not None else value
        position += 1
        at = match.end()
    return found
