"""Where flow schemas come from: a file, a URL (cached on disk), or the bundled catalog.

A URL is typically a server's `/api/v1/plugins/schemas/flow` or Kestra's public copy. A successful fetch is
cached (privately: 0600 files in a 0700 folder); when the URL cannot be reached later, the cached copy is used
and the caller is told so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CopilotError
from .flows import FlowSchema, SchemaLoadError, bundled_schema, use_cache
from .private_files import private_dir, write_private
from .urls import display_url

if TYPE_CHECKING:
    import httpx

    from .kestra import KestraClient

__all__ = ["LoadedSchema", "load_schema", "schema_from_server"]


@dataclass(frozen=True)
class LoadedSchema:
    schema: FlowSchema
    note: str | None = None  # e.g. "offline: using the copy cached on …"


def load_schema(
    spec: str | None,
    *,
    kestra_version: int = 1,
    cache_dir: Path | None = None,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
    auth: httpx.Auth | None = None,
) -> LoadedSchema:
    """`spec` is a path, an http(s) URL, or None for the bundled catalog. `auth` goes with a URL (the
    configured server's credentials, for its own schema); a redirect is then refused, never followed."""
    if not spec:
        if cache_dir is not None:
            use_cache(cache_dir / "catalog")
        return LoadedSchema(bundled_schema(kestra_version))
    if spec.startswith(("http://", "https://")):
        return _from_url(spec, kestra_version, cache_dir, timeout, transport, auth)
    path = Path(spec).expanduser()
    from .fileio import MAX_SCHEMA_BYTES, FileError, read_text

    try:
        text = read_text(path, limit=MAX_SCHEMA_BYTES, what="schema")
    except FileError as exc:
        raise SchemaLoadError(f"Cannot read the schema file: {exc}", hint=exc.hint) from exc
    return LoadedSchema(_compile(text, str(path), kestra_version, cache_dir))


def _compile(text: str, source: str, kestra_version: int, cache_dir: Path | None = None) -> FlowSchema:
    """The schema in `text`, checked against the draft-07 meta-schema — once per content when there is a
    cache dir: a schema that passed leaves its digest there, and the same text is not checked again (a
    server's schema is tens of MB, its check seconds)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaLoadError(
            f"{source} is not JSON ({exc.msg} at line {exc.lineno}).",
            hint="Give the JSON that /api/v1/plugins/schemas/flow returns.",
        ) from exc
    digest = hashlib.sha256(text.encode()).hexdigest()
    verdict = cache_dir / "schemas" / "checked" / digest if cache_dir is not None else None
    schema = FlowSchema(raw, source=source, kestra_version=kestra_version, checked=bool(verdict and verdict.exists()))
    if verdict is not None and not verdict.exists():
        try:
            private_dir(verdict.parent)
            write_private(verdict, "passed the draft-07 meta-schema\n")
        except (OSError, CopilotError):
            pass  # checked again next time: slower, never wrong
    return schema


def _cache_file(cache_dir: Path, url: str) -> Path:
    return cache_dir / "schemas" / (hashlib.sha256(url.encode()).hexdigest()[:24] + ".json")


def _from_url(
    url: str,
    kestra_version: int,
    cache_dir: Path | None,
    timeout: float,
    transport: httpx.BaseTransport | None,
    auth: httpx.Auth | None,
) -> LoadedSchema:
    import httpx

    from .tls import ssl_context, tls_failure

    cached = _cache_file(cache_dir, url) if cache_dir else None
    try:
        verify = ssl_context() if transport is None else True  # SSL_CERT_FILE / SSL_CERT_DIR honoured
        follow = auth is None  # credentials never travel with a redirect
        with httpx.Client(
            follow_redirects=follow, timeout=timeout, transport=transport, verify=verify, auth=auth
        ) as client:
            response = client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            text = response.text
    except httpx.HTTPError as exc:
        shown, failure = display_url(url), tls_failure(exc)
        why = failure.reason.replace("its ", "the server's ", 1) if failure else str(exc)
        if cached is not None and cached.is_file():
            schema = _compile(cached.read_text(encoding="utf-8"), f"{shown} (cached)", kestra_version, cache_dir)
            return LoadedSchema(schema, note=f"Could not fetch {shown} ({why}); using the cached copy.")
        raise SchemaLoadError(
            f"Cannot fetch the schema from {shown}: {why}.",
            hint=failure.hint
            if failure
            else "Check the URL and your connection, or drop --schema to use the bundled catalog.",
        ) from exc
    schema = _compile(text, display_url(url), kestra_version, cache_dir)
    if cached is not None:
        private_dir(cached.parent)
        write_private(cached, text)
    return LoadedSchema(schema)


async def schema_from_server(client: KestraClient, cache_dir: Path) -> dict[str, object]:
    """A connected server's flow schema, cached per server URL and version: a server's plugins change
    when it is upgraded, and only then, so the multi-MB schema is fetched once per version."""
    version = (await client.server_info()).version
    key = hashlib.sha256(f"{client.url}\0{version}".encode()).hexdigest()[:24]
    path = cache_dir / "schemas" / f"server-{key}.json"
    if path.is_file():
        try:
            cached: object = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            cached = None
        if isinstance(cached, dict):
            return cached
        # a damaged cache file is fetched again
    schema = await client.flow_schema()
    private_dir(path.parent)
    write_private(path, json.dumps(schema))
    return schema
