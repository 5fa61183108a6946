"""Where flow schemas come from: a file, a URL (cached on disk), Kestra's hosted live schema, a server's, or
the bundled catalog.

A URL is typically a server's `/api/v1/plugins/schemas/flow` or Kestra's public copy. A successful fetch is
cached (privately: 0600 files in a 0700 folder); when the URL cannot be reached later, the cached copy is used
and the caller is told so.

The hosted live schema (`live_schema`) is kept with its ETag and the time it was fetched: used as it is for a
day, then revalidated (If-None-Match: an unchanged schema is not downloaded again); offline, the cached copy is
used with a note of its date. Every schema read from text leaves, by its content's digest, the meta-schema
verdict and what the validator derives from it (its type index, the definitions a pruned schema may drop), so a
fresh process compiles a multi-MB schema once, not on every run. A live or server schema judges a flow merged
with the bundled catalog for the user's Kestra version (copilot.flows._merge: its plugins, our flow model);
the merged schema is kept too, by the live schema's digest, the version and the bundled catalog's fingerprint,
so a fresh `validate` neither parses the live schema nor merges again. Which source judges a flow is chosen in
one place: `Workspace.flow_schema`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CopilotError
from .flows import FlowSchema, SchemaLoadError, bundled_schema, use_cache
from .flows._pickles import read_pickle, write_pickle
from .private_files import private_dir, write_private
from .urls import display_url, transport_failure

if TYPE_CHECKING:
    import httpx

    from .flows._merge import MergedParts
    from .flows._schema import SchemaFacts
    from .kestra import KestraClient

__all__ = [
    "LIVE_MAX_AGE",
    "LoadedSchema",
    "live_schema",
    "load_schema",
    "schema_from_server",
    "server_schema",
    "server_schema_text",
]

LIVE_MAX_AGE = 24 * 3600.0  # seconds a fetched live schema is used before it is revalidated
# Seconds to connect, and to wait for the next bytes of an answer: a network that takes connections and never
# answers (a captive portal, a proxy that swallows them) costs this much, once an hour at most. With a copy to
# fall back on (a revalidation), less.
LIVE_CONNECT_WAIT, LIVE_READ_WAIT = 3.0, 10.0
REVALIDATE_CONNECT_WAIT, REVALIDATE_READ_WAIT = 2.0, 5.0
RETRY_AFTER = 3600.0  # seconds after a failed fetch before the next try: offline, each run is not slowed by it
LIVE_HINT = "Offline for good? Set KESTRA_COPILOT_LIVE_SCHEMA=false (or live_schema_url to a mirror)."
FACTS_FORMAT = 2  # bumped when what the facts files hold changes shape
MERGED_FORMAT = 2  # bumped when what the merged files hold changes shape


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


def _compile(
    text: str, source: str, kestra_version: int, cache_dir: Path | None = None, origin: str = "file"
) -> FlowSchema:
    """The schema in `text`, checked against the draft-07 meta-schema — once per content when there is a
    cache dir: a schema that passed leaves its digest there, and the same text is not checked again (a
    server's schema is tens of MB, its check seconds)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaLoadError(
            f"{source} is not JSON ({exc.msg}, line {exc.lineno}).",
            hint="Give the JSON that /api/v1/plugins/schemas/flow returns.",
        ) from exc
    digest = _digest(text)
    verdict = cache_dir / "schemas" / "checked" / digest if cache_dir is not None else None
    facts_file = cache_dir / "schemas" / "facts" / f"{digest}-{FACTS_FORMAT}.pickle" if cache_dir is not None else None
    facts = _read_facts(facts_file) if facts_file is not None else None
    checked = bool(verdict and verdict.exists())
    schema = FlowSchema(raw, source=source, kestra_version=kestra_version, checked=checked, facts=facts, origin=origin)
    if verdict is not None and not checked:
        try:
            private_dir(verdict.parent)
            write_private(verdict, "passed the draft-07 meta-schema\n")
        except (OSError, CopilotError):
            pass  # checked again next time: slower, never wrong
    if facts_file is not None and facts is None:
        write_pickle(facts_file, schema.facts())
    return schema


def _merged(
    text: str | Callable[[], str],
    source: str,
    kestra_version: int,
    cache_dir: Path | None,
    *,
    fill: bool,
    digest: str | None = None,
) -> FlowSchema:
    """The schema in `text` merged with the bundled catalog for `kestra_version` (`fill`: the catalog's types
    the schema lacks are added, as for Kestra's hosted schema; not for a server's, which is exactly its
    plugins). Read back from the cache when this text was merged for this version and catalog before: then
    `text` (a callable: read only if needed) is not read when its `digest` is known."""
    from .flows._merge import merge_key, merge_schemas, merged_schema

    if digest is None:
        text = text() if callable(text) else text
        digest = _digest(text)
    name = f"{digest}-{kestra_version}{'' if fill else 's'}-{merge_key()}-{MERGED_FORMAT}.pickle"
    path = cache_dir / "schemas" / "merged" / name if cache_dir is not None else None
    parts = _read_merged(path) if path is not None else None
    if parts is None:
        from .flows._bundled import bundled

        live = _compile(text() if callable(text) else text, source, kestra_version, cache_dir)
        base = bundled()
        parts = merge_schemas(live, base.schema(kestra_version), base.catalog, kestra_version, fill=fill)
        if path is not None:
            for stale in path.parent.glob(f"*-{kestra_version}{'' if fill else 's'}-*.pickle"):
                with contextlib.suppress(OSError):
                    stale.unlink(missing_ok=True)  # one merged copy per version is enough
            write_pickle(path, _packed(parts))
    return merged_schema(parts, source, kestra_version, fill=fill)


def _packed(parts: MergedParts) -> tuple[object, ...]:
    """A merged schema's parts as the cache keeps them: each definition pickled on its own (read when used)."""
    from .flows._schema import LazyDefinitions
    from .flows._values import as_dict

    raw, *rest = parts
    root = {key: value for key, value in raw.items() if key != "definitions"}
    return (root, LazyDefinitions.pack(as_dict(raw.get("definitions"))), *rest)


def _read_merged(path: Path) -> MergedParts | None:
    """A merged schema's parts kept by `_merged` (its definitions read when first used), or None (never kept,
    or unreadable)."""
    packed = read_pickle(path)
    shapes = (dict, dict, tuple, dict, frozenset)
    if not (isinstance(packed, tuple) and len(packed) == 5 and all(map(isinstance, packed, shapes))):
        return None
    from .flows._schema import LazyDefinitions

    root, definitions, facts, sources, filled = packed
    return {**root, "definitions": LazyDefinitions(definitions)}, facts, sources, filled


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _stat(path: Path) -> list[int] | None:
    """A file's size and modification time (as JSON keeps them), None when it cannot be read."""
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def _read_facts(path: Path) -> SchemaFacts | None:
    """What the validator derived from a schema of this digest, or None (never kept, or unreadable)."""
    facts = read_pickle(path)
    if isinstance(facts, tuple) and len(facts) == 3 and all(isinstance(part, dict) for part in facts):
        return facts[0], facts[1], facts[2]
    return None


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
    text = await server_schema_text(client, cache_dir)
    try:
        schema: object = json.loads(text)
    except ValueError:
        schema = None
    if not isinstance(schema, dict):  # a damaged cache file: fetched again
        _server_cache_file(cache_dir, client.url, (await client.server_info()).version).unlink(missing_ok=True)
        schema = json.loads(await server_schema_text(client, cache_dir))
    return schema if isinstance(schema, dict) else {}


async def server_schema_text(client: KestraClient, cache_dir: Path) -> str:
    """`schema_from_server`'s schema as JSON text, read from the cache without parsing it (what judges flows
    is kept by its digest: a chat that starts does not parse the multi-MB schema again)."""
    version = (await client.server_info()).version
    path = _server_cache_file(cache_dir, client.url, version)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass  # fetched again
    text = json.dumps(await client.flow_schema())
    private_dir(path.parent)
    write_private(path, text)
    return text


def _server_cache_file(cache_dir: Path, url: str, version: str) -> Path:
    key = hashlib.sha256(f"{url}\0{version}".encode()).hexdigest()[:24]
    return cache_dir / "schemas" / f"server-{key}.json"


def server_schema(
    text: str, label: str, *, kestra_version: int, cache_dir: Path | None, merge: bool = True
) -> LoadedSchema:
    """A connected server's schema (the text `schema_from_server` returns): its plugins, exactly (no type of the
    bundled catalog added), with our flow model for `kestra_version` (`merge`; else judged as it is)."""
    source = f"the flow schema of {label}"
    if merge:
        return LoadedSchema(_merged(text, source, kestra_version, cache_dir, fill=False))
    return LoadedSchema(_compile(text, source, kestra_version, cache_dir, origin="server"))


def live_schema(
    url: str,
    *,
    kestra_version: int,
    cache_dir: Path,
    transport: httpx.BaseTransport | None = None,
    now: float | None = None,
    merge: bool = True,
    refresh: bool = False,
) -> LoadedSchema:
    """Kestra's hosted flow schema at `url`: the cached copy while it is less than a day old (no request),
    else revalidated with its ETag (a 304 keeps it another day) or fetched. Offline or refused, the cached
    copy with a note of its date. SchemaLoadError when there is no copy to use (never fetched, unreachable,
    or a download that is not a valid flow schema): the caller falls back to the bundled catalog. `merge`:
    its plugins with our flow model for `kestra_version`, the bundled catalog's types it lacks added (else
    the schema as it is). `refresh`: ask now (with the ETag), whatever the copy's age or a recent failure."""
    now = time.time() if now is None else now
    shown = display_url(url)
    text_file = cache_dir / "schemas" / f"live-{_cache_file(cache_dir, url).name}"
    meta_file = text_file.with_suffix(".meta.json")
    meta = _read_meta(meta_file)
    fetched, failed, note = meta.get("fetched"), meta.get("failed"), meta.get("note")
    copy_from = fetched if isinstance(fetched, float | int) and text_file.is_file() else None
    recently_failed = not refresh and isinstance(failed, float | int) and 0 <= now - failed < RETRY_AFTER
    damaged = text_file.is_file() and copy_from is None  # a copy without its record: not to be trusted

    def source(when: float) -> str:
        return f"Kestra's live schema ({shown}, fetched {time.strftime('%Y-%m-%d', time.localtime(when))})"

    def judged(text: str | Callable[[], str], label: str, digest: str | None = None) -> FlowSchema:
        if merge:
            return _merged(text, label, kestra_version, cache_dir, fill=True, digest=digest)
        return _compile(text() if callable(text) else text, label, kestra_version, cache_dir, origin="live")

    def read_copy() -> str:  # only when its digest is not known, or its schema is merged again
        return text_file.read_text(encoding="utf-8")

    def cached(when: float, note: str | None = None) -> LoadedSchema:
        # The copy's digest, kept with the file's size and time: a merged schema kept for it is read back
        # without reading (and hashing) a multi-MB text on every run.
        digest = meta.get("digest") if meta.get("stat") == _stat(text_file) else None
        schema = judged(read_copy, source(when), digest if isinstance(digest, str) else None)
        return LoadedSchema(schema, note=note)

    if copy_from is not None and ((0 <= now - copy_from < LIVE_MAX_AGE and not refresh) or recently_failed):
        try:
            return cached(copy_from, note if recently_failed and isinstance(note, str) else None)
        except (OSError, SchemaLoadError):
            copy_from, damaged = None, True  # fetched again
    if recently_failed and copy_from is None:  # not asked again within the hour: offline runs are not slowed
        raise SchemaLoadError(str(note or f"Could not fetch {shown}."), hint=LIVE_HINT)
    etag = meta.get("etag") if copy_from is not None else None
    try:
        waits = (REVALIDATE_CONNECT_WAIT, REVALIDATE_READ_WAIT) if copy_from else (LIVE_CONNECT_WAIT, LIVE_READ_WAIT)
        status, text, new_etag = _fetch(url, etag if isinstance(etag, str) else None, waits, transport)
        if status == 304 and copy_from is not None:
            try:
                loaded = cached(now)
            except (OSError, SchemaLoadError):  # unchanged, but the copy is damaged: downloaded whole
                copy_from, damaged = None, True
                status, text, new_etag = _fetch(url, None, waits, transport)
            else:
                _write_meta(meta_file, {**meta, "fetched": now, "failed": None, "note": None})
                return loaded
        schema = judged(text, source(now))
    except SchemaLoadError as exc:
        why = f"Kestra's live schema from {shown} could not be used: {exc}"
    except _FetchFailed as exc:
        why = f"Could not fetch Kestra's live schema from {shown} ({exc})"
    else:
        try:
            private_dir(text_file.parent)
            write_private(text_file, text)
            _write_meta(
                meta_file,
                {"url": shown, "etag": new_etag, "fetched": now, "digest": _digest(text), "stat": _stat(text_file)},
            )
        except (OSError, CopilotError):
            pass  # fetched again next time
        return LoadedSchema(schema)
    if copy_from is None:
        why += "; the cached copy was damaged and is not used" if damaged else ""
        note = f"{why}; using the bundled catalog."
        _write_meta(meta_file, {**meta, "failed": now, "note": note})
        raise SchemaLoadError(note, hint=LIVE_HINT)
    day = time.strftime("%Y-%m-%d", time.localtime(copy_from))
    note = f"{why}; using the copy fetched on {day}."
    _write_meta(meta_file, {**meta, "failed": now, "note": note})
    try:
        return cached(copy_from, note)
    except (OSError, SchemaLoadError):  # asked again (a refresh) while its copy is damaged
        note = f"{why}; the cached copy was damaged and is not used; using the bundled catalog."
        _write_meta(meta_file, {**meta, "failed": now, "note": note})
        raise SchemaLoadError(note, hint=LIVE_HINT) from None


class _FetchFailed(Exception):
    """The live schema could not be fetched (the reason, said to the user)."""


def _fetch(
    url: str, etag: str | None, waits: tuple[float, float], transport: httpx.BaseTransport | None
) -> tuple[int, str, str | None]:
    """(status, text, ETag) of a GET of `url`: 304 (with no text) when `etag` still matches."""
    import httpx

    from .tls import ssl_context, tls_failure

    headers = {"Accept": "application/json", **({"If-None-Match": etag} if etag else {})}
    try:
        verify = ssl_context() if transport is None else True
        with httpx.Client(
            follow_redirects=True,
            timeout=httpx.Timeout(waits[1], connect=waits[0]),
            transport=transport,
            verify=verify,
        ) as client:
            response = client.get(url, headers=headers)
            if response.status_code == 304:
                return 304, "", etag
            response.raise_for_status()
            return response.status_code, response.text, response.headers.get("ETag")
    except httpx.HTTPStatusError as exc:
        raise _FetchFailed(f"it answered HTTP {exc.response.status_code}") from exc
    except httpx.HTTPError as exc:
        failure = tls_failure(exc)
        raise _FetchFailed(
            failure.reason.replace("its ", "the server's ", 1) if failure else transport_failure(exc)
        ) from exc


def _read_meta(path: Path) -> dict[str, object]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _write_meta(path: Path, meta: dict[str, object]) -> None:
    try:
        private_dir(path.parent)
        write_private(path, json.dumps(meta))
    except (OSError, CopilotError):
        pass  # a next run fetches again: slower, never wrong
