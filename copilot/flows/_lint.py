"""Lints: things Kestra accepts but a careful engineer would not ship.

- `hardcoded-secret`: a password, token, API key or service-account JSON written into the flow. Flows
  live in Git and in Kestra's database; credentials belong in `{{ secret('NAME') }}` or `{{ kv('NAME') }}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ._diagnostics import Diagnostic, Severity
from ._parse import ParsedFlow, Path, format_path
from ._where import describe_location

__all__ = ["lint_secrets", "looks_like_secret_value", "redact_secrets"]

# Property names whose value is a credential.
_SECRET_KEY = re.compile(
    r"(^|[_-]|(?<=[a-z]))(password|passwd|pwd|secret|secretkey|secretkeyid|token|apikey|api_key|"
    r"accesskey|accesskeyid|privatekey|private_key|clientsecret|credentials?|serviceaccount|"
    r"sastoken|connectionstring|webhookurl|auth)$",
    re.IGNORECASE,
)
# Values that are credentials whatever the key.
_SECRET_VALUE_PATTERNS = [
    (re.compile(r'"type"\s*:\s*"service_account"'), "a Google service-account key"),
    (re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "a Google API key"),
    (re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}"), "a Slack token"),
    (re.compile(r"https://hooks\.slack\.com/services/T[0-9A-Z]+/B[0-9A-Z]+/[0-9A-Za-z]{16,}"), "a Slack webhook URL"),
    (re.compile(r"\bgh[pousr]_[0-9A-Za-z]{30,}\b"), "a GitHub token"),
    (re.compile(r"\bsk-(?:proj-|ant-)?[0-9A-Za-z_-]{20,}"), "an OpenAI/Anthropic API key"),
    (re.compile(r"\b(?:postgres(?:ql)?|mysql|mongodb(?:\+srv)?|redis|amqp)://[^:/\s{}]+:[^@/\s{}]+@"),
     "a connection URL with a password"),
]  # fmt: skip
_TEMPLATED = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
# Placeholder values people write on purpose: not secrets.
_PLACEHOLDER = re.compile(r"^(|x+|\*+|<[^>]*>|\$\{[^}]*\}|changeme|change-me|password|secret|token|none|null|"
                          r"your[_ -]?\w*|example\w*|dummy\w*|test\w*|redacted)$", re.IGNORECASE)  # fmt: skip


def looks_like_secret_value(value: str) -> str | None:
    """What kind of credential `value` contains, if it contains one."""
    for pattern, what in _SECRET_VALUE_PATTERNS:
        if pattern.search(value):
            return what
    return None


def _walk_strings(node: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk_strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk_strings(value, (*path, index))
    elif isinstance(node, str):
        yield path, node


def lint_secrets(parsed: ParsedFlow) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for path, value in _walk_strings(parsed.data, ()):
        what = looks_like_secret_value(value)
        key = path[-1] if path and isinstance(path[-1], str) else None
        if what is None and key is not None and _SECRET_KEY.search(key):
            literal = _TEMPLATED.sub("", value).strip()
            if literal and not _PLACEHOLDER.match(literal) and not _is_input_default(path):
                what = f"a literal value for `{key}`"
        if what is None:
            continue
        pos = parsed.position(path)
        name = _secret_name(path)
        out.append(
            Diagnostic(
                Severity.ERROR,
                "hardcoded-secret",
                f"{describe_location(parsed.data, path)[:1].upper()}{describe_location(parsed.data, path)[1:]}"
                f" contains {what}; credentials must not be written into a flow.",
                line=pos.line if pos else None,
                column=pos.column if pos else None,
                path=format_path(path),
                hint=f"Store it as a Kestra secret and write \"{{{{ secret('{name}') }}}}\" "
                f"(or \"{{{{ kv('{name}') }}}}\" for non-sensitive settings).",
            )
        )
    return out


def _is_input_default(path: Path) -> bool:
    return len(path) >= 3 and path[0] == "inputs" and path[-1] in ("defaults", "prefill")


def _secret_name(path: Path) -> str:
    key = next((p for p in reversed(path) if isinstance(p, str)), "SECRET")
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key)
    return re.sub(r"[^A-Za-z0-9]+", "_", snake).upper().strip("_") or "SECRET"


_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
# `password: hunter2`, `"apiKey": "abc"` — a credential-named key with a literal value, in YAML or JSON.
_SECRET_ASSIGNMENT = re.compile(
    r"""(?P<key>["']?[\w-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)["']?"""
    r"""\s*[:=]\s*)(?P<value>["']?[^\s"'{},][^\s"',}]*["']?)""",
    re.IGNORECASE,
)


def redact_secrets(text: str) -> tuple[str, int]:
    """`text` with credentials replaced by `[REDACTED …]`, and how many: run on everything that is sent
    to a model or stored. Pebble expressions (`{{ secret('X') }}`) and placeholders are left alone."""
    count = 0

    def replace(what: str) -> Any:
        def substitute(match: re.Match[str]) -> str:
            nonlocal count
            count += 1
            return f"[REDACTED {what}]"

        return substitute

    text = _PRIVATE_KEY_BLOCK.sub(replace("private key"), text)
    for pattern, what in _SECRET_VALUE_PATTERNS:
        if what != "a Google service-account key":  # its marker is not the secret; its private key is
            text = pattern.sub(replace(what.removeprefix("a ").removeprefix("an ")), text)

    def assignment(match: re.Match[str]) -> str:
        nonlocal count
        value = match.group("value").strip("\"'")
        if _PLACEHOLDER.match(value) or value.startswith("[REDACTED"):
            return match.group(0)
        count += 1
        return f"{match.group('key')}[REDACTED]"

    return _SECRET_ASSIGNMENT.sub(assignment, text), count
