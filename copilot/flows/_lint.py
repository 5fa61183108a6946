"""Lints: things Kestra accepts but a careful engineer would not ship.

- `hardcoded-secret` (policy): a password, token, API key or service-account JSON written into the flow.
  Kestra accepts it; this project refuses it, as flows live in Git and in Kestra's database and credentials
  belong in `{{ secret('NAME') }}` or `{{ kv('NAME') }}`.
  What counts as a credential is decided in `_secrets`, with the same patterns the redactor uses.
- `redacted-placeholder` (warning): a `REDACTED_<n>` placeholder in the flow, where the redactor took a
  credential out and nothing put it back (a resumed session, a value the model moved elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ._diagnostics import Diagnostic, Severity
from ._parse import ParsedFlow, Path
from ._secrets import PLACEHOLDER_PATTERN, is_placeholder, is_secret_key, looks_like_secret_value
from ._types import YamlMap, YamlValue
from ._where import describe_location

__all__ = ["lint_secrets"]


def _walk_strings(node: YamlValue, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk_strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk_strings(value, (*path, index))
    elif isinstance(node, str):
        yield path, node


def lint_secrets(parsed: ParsedFlow[YamlMap]) -> list[Diagnostic]:
    """`hardcoded-secret` for every credential written into the flow (the redactor's patterns, see
    `_secrets`), and a warning for a `REDACTED_<n>` placeholder left where a credential was redacted."""
    out: list[Diagnostic] = []
    for path, value in _walk_strings(parsed.data, ()):
        key = path[-1] if path and isinstance(path[-1], str) else None
        what = None
        if key is not None and is_secret_key(key) and not is_placeholder(value) and not _is_input_default(path):
            what = f"a literal value for `{key}`"
        what = what or looks_like_secret_value(value)
        where = describe_location(parsed.data, path)
        name = _secret_name(path)
        hint = (
            f"Store it as a Kestra secret and write \"{{{{ secret('{name}') }}}}\" "
            f"(or \"{{{{ kv('{name}') }}}}\" for non-sensitive settings)."
        )
        if what is not None:
            message = f"{where[:1].upper()}{where[1:]} contains {what}; credentials must not be written into a flow."
            out.append(parsed.diagnostic("hardcoded-secret", path, message, hint, Severity.POLICY))
        elif placeholder := PLACEHOLDER_PATTERN.search(value):
            message = (
                f"{where[:1].upper()}{where[1:]} holds {placeholder.group(0)}, the placeholder of a credential "
                "redacted before it was sent to the model; the flow cannot use it as it is."
            )
            out.append(parsed.diagnostic("redacted-placeholder", path, message, hint, Severity.WARNING))
    return out


def _is_input_default(path: Path) -> bool:
    return len(path) >= 3 and path[0] == "inputs" and path[-1] in ("defaults", "prefill")


def _secret_name(path: Path) -> str:
    key = next((p for p in reversed(path) if isinstance(p, str)), "SECRET")
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key)
    return re.sub(r"[^A-Za-z0-9]+", "_", snake).upper().strip("_") or "SECRET"
