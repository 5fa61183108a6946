"""Errors from a Kestra server, each worded for the user with what to do next.

CopilotError
└── KestraError                 anything that went wrong talking to Kestra
    ├── KestraUnavailable       no answer: refused, DNS, timeout, TLS
    ├── KestraAuthError         401 / 403
    ├── KestraNotFound          404
    ├── KestraConflict          409 (or 422 "already exists")
    ├── KestraRejected          422 and other 4xx: Kestra refused the request
    └── KestraServerError       5xx
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import CopilotError

__all__ = [
    "KestraAuthError",
    "KestraConflict",
    "KestraError",
    "KestraNotFound",
    "KestraRejected",
    "KestraServerError",
    "KestraUnavailable",
    "error_from_response",
]


class KestraError(CopilotError):
    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class KestraUnavailable(KestraError):
    pass


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
    """Kestra's own words: `message` (1.x JsonError) or `detail`/`title` (2.x problem+json), plus the
    per-field errors either shape carries."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip()[:500]
    if not isinstance(body, dict):
        return str(body)[:500]
    text = str(body.get("message") or body.get("detail") or body.get("title") or "").strip()
    fields = body.get("errors") or (body.get("_embedded") or {}).get("errors") or []
    parts = []
    for item in fields if isinstance(fields, list) else []:
        if isinstance(item, dict):
            where = item.get("path") or item.get("pointer")
            what = item.get("message") or item.get("detail")
            if what and (not text or str(what) not in text):
                parts.append(f"{where}: {what}" if where else str(what))
    return "; ".join([text, *parts] if text else parts)[:1000]


def error_from_response(response: httpx.Response, action: str) -> KestraError:
    """The error for a non-2xx answer to `action` (e.g. "deploy company.team.etl")."""
    status = response.status_code
    detail = _detail(response)
    said = f": {detail}" if detail else ""
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
    return KestraRejected(f"Kestra refused to {action} ({status}){said}.", status=status)
