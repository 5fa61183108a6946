"""Errors from a Kestra server, each worded for the user with what to do next.

CopilotError
└── KestraError                 anything that went wrong talking to Kestra
    ├── KestraUnavailable       no answer: refused, DNS, timeout
    │   └── KestraTlsError      the server's certificate is not trusted, or the TLS handshake failed
    ├── KestraAuthError         401 / 403
    ├── KestraNotFound          404
    ├── KestraConflict          409 (or 422 "already exists")
    ├── KestraRejected          422 and other 4xx: Kestra refused the request; a 3xx (never followed)
    └── KestraServerError       5xx
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from ..errors import CopilotError
from ..flows import format_path
from ..urls import split_userinfo

__all__ = [
    "KestraAuthError",
    "KestraConflict",
    "KestraError",
    "KestraNotFound",
    "KestraRejected",
    "KestraServerError",
    "KestraTlsError",
    "KestraUnavailable",
    "error_from_response",
]


class KestraError(CopilotError):
    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class KestraUnavailable(KestraError):
    pass


class KestraTlsError(KestraUnavailable):
    """Not retried: a certificate does not become trusted by asking again."""


class KestraAuthError(KestraError):
    pass


class KestraNotFound(KestraError):
    pass


class KestraConflict(KestraError):
    pass


class KestraRejected(KestraError):
    pass


class KestraServerError(KestraError):
    pass


def _detail(response: httpx.Response) -> str:
    """Kestra's own words: `message` (1.x JsonError) or `detail`/`title` (2.x problem+json), then each
    per-field error either shape carries that the text does not already say, then a 5xx's traceId."""
    try:
        body: object = response.json()
    except ValueError:
        return response.text.strip()[:500]
    if not isinstance(body, dict):
        return str(body)[:500]
    text = str(body.get("message") or body.get("detail") or body.get("title") or "").strip()
    embedded = body.get("_embedded")
    fields = body.get("errors") or (embedded.get("errors") if isinstance(embedded, dict) else None) or []
    items = [item for item in (fields if isinstance(fields, list) else []) if isinstance(item, dict)]
    parts = list(dict.fromkeys(part for part in map(_field_error, items) if part))
    unsaid = [part for part in parts if part not in text]
    if text and unsaid and all(_said_by_index(item, text) for item in items):
        said = "; ".join(parts)  # the same errors as the text, with list items named by id (2.x)
    else:
        said = "; ".join([text, *unsaid] if text else parts)
    trace = body.get("traceId")
    return (f"{said} (traceId {trace})" if trace else said)[:1000]


def _field_error(item: Mapping[str, object]) -> str:
    """`path: what is wrong` for one entry: 1.x `{message, path}`, 2.x `{detail, pointer, path}` (the
    2.x `path` names list items by id, friendlier than the pointer)."""
    what = item.get("message") or item.get("detail")
    where = item.get("path") or item.get("pointer")
    return "" if not what else f"{where}: {what}" if where else str(what)


def _said_by_index(item: Mapping[str, object], text: str) -> bool:
    """Whether `text` already says this error with the item's JSON pointer as a path (`/tasks/0/uri`
    as `tasks[0].uri`), as a ConstraintViolationException's message does."""
    what, pointer = item.get("message") or item.get("detail"), item.get("pointer")
    if not what or not isinstance(pointer, str):
        return False
    parts = (p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/"))
    path = format_path(tuple(int(p) if p.isdigit() else p for p in parts))
    return f"{path}: {what}" in text


def error_from_response(response: httpx.Response, action: str) -> KestraError:
    """The error for a non-2xx answer to `action` (e.g. "deploy company.team.etl")."""
    status = response.status_code
    if 300 <= status < 400:
        return KestraRejected(
            f"Cannot {action}: the server answered with a redirect ({status}) to {_location(response)}, "
            "which is not followed (credentials go only to the configured URL).",
            hint="Set KESTRA_URL to the address the Kestra API is served at (https:// if it redirects there).",
            status=status,
        )
    detail = _detail(response)
    said = f": {detail.rstrip('.')}" if detail else ""  # each message below ends with its own period
    if status in (401, 403):
        return KestraAuthError(
            f"Kestra refused the credentials ({status}) to {action}.",
            hint="Check KESTRA_USERNAME/KESTRA_PASSWORD or KESTRA_API_TOKEN (`kestra-copilot config show`).",
            status=status,
        )
    if status == 404:
        return KestraNotFound(f"Kestra has no such resource ({action}){said}.", status=status)
    if status == 409 or (status == 422 and "already exists" in detail):
        return KestraConflict(f"Kestra reports a conflict to {action}{said}.", status=status)
    if status >= 500:
        return KestraServerError(
            f"Kestra failed with {status} to {action}{said}.",
            hint="The server had a problem; retry, and check the Kestra server logs if it persists.",
            status=status,
        )
    return KestraRejected(
        f"Kestra refused to {action} ({status}){said}.", hint="Fix what Kestra names, then try again.", status=status
    )


def _location(response: httpx.Response) -> str:
    """Where a redirect points, without credentials, query or fragment (they may carry tokens)."""
    location = response.headers.get("Location")
    if not location:
        return "an unnamed address"
    try:
        target = response.url.join(location).copy_with(query=None, fragment=None)
    except (httpx.InvalidURL, RuntimeError):
        return "an address that is not a valid URL"
    return split_userinfo(str(target))[0]
