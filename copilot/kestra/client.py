"""An async client for Kestra's REST API (1.x and 2.x): tenant-scoped routes, Basic or Bearer auth,
errors translated at this one boundary.

Credentials go to one origin only: the client's URL (kept without userinfo), never along a redirect (none
is followed) and, from `Workspace.kestra`, never to a URL other than the configured server's. TLS is always
verified (copilot.tls), trusting a private CA through SSL_CERT_FILE or `kestra_ca_bundle`.

    async with KestraClient(url, username=…, password=…) as kestra:
        info = await kestra.server_info()
        results = await kestra.validate(flow_yaml)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
from collections.abc import AsyncIterator, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypedDict, Unpack

import httpx

from ..fileio import FileError, open_regular
from ..tls import ssl_context, tls_failure
from ..urls import check_url, split_userinfo, transport_failure
from .errors import (
    KestraAuthError,
    KestraConflict,
    KestraError,
    KestraNotFound,
    KestraRejected,
    KestraServerError,
    KestraTlsError,
    KestraUnavailable,
    error_from_response,
)
from .models import DeployedFlow, Execution, LogEntry, flow_ref, json_int, json_strings, json_text

__all__ = ["URL_EXAMPLE", "KestraClient", "ServerInfo", "ServerValidation", "kestra_auth"]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# The oldest Kestra whose API this client speaks: 0.24 made basic auth mandatory and is the base of 1.x.
MIN_VERSION = (0, 24)
READ_ATTEMPTS = 3
RETRY_PAUSE = 0.5  # seconds, times the attempt number
LOG_POLL_SECONDS = 0.25  # between two reads of logs not indexed yet
URL_EXAMPLE = "http://localhost:8080 or https://kestra.example.com:8443"

# A multipart part: (name, (file name, content, content type)).
FilePart = tuple[str, tuple[str | None, bytes | BinaryIO, str]]


class RequestOptions(TypedDict, total=False):
    """What the client's calls hand to httpx besides the method and path."""

    content: bytes
    headers: dict[str, str]
    params: Mapping[str, str | int | list[str]]  # a list: the parameter repeated, once per item
    files: Sequence[FilePart] | None


@dataclass(frozen=True)
class ServerInfo:
    version: str
    edition: str = "OSS"

    @property
    def major(self) -> int | None:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else None


@dataclass(frozen=True)
class ServerValidation:
    """One flow's verdict from `POST /flows/validate`."""

    index: int
    flow: str | None
    namespace: str | None
    constraints: list[str] = field(default_factory=list)  # "path: message" lines; empty when valid
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    deprecation_paths: list[str] = field(default_factory=list)
    outdated: bool = False

    @property
    def valid(self) -> bool:
        return not self.constraints

    @classmethod
    def from_json(cls, item: Mapping[str, object]) -> ServerValidation:
        constraints = item.get("constraints") or ""
        return cls(
            index=json_int(item.get("index")),
            flow=json_text(item.get("flow")),
            namespace=json_text(item.get("namespace")),
            constraints=[line for line in str(constraints).splitlines() if line.strip()],
            warnings=json_strings(item.get("warnings")),
            infos=json_strings(item.get("infos")),
            deprecation_paths=json_strings(item.get("deprecationPaths")),
            outdated=bool(item.get("outdated")),
        )


class _BearerToken(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def kestra_auth(username: str | None, password: str | None, api_token: str | None) -> httpx.Auth | None:
    """The credentials Kestra takes: an API token, else Basic."""
    if api_token:
        return _BearerToken(api_token)
    if username or password:
        return httpx.BasicAuth(username or "", password or "")
    return None


class KestraClient:
    def __init__(
        self,
        url: str,
        *,
        tenant: str = "main",
        username: str | None = None,
        password: str | None = None,
        api_token: str | None = None,
        ca_bundle: str | Path | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # A URL's own user:password are its Basic credentials unless others are given; the client keeps
        # the URL without them, for requests, messages and links alike.
        clean, url_user, url_password = split_userinfo(check_url(url, "The Kestra URL", URL_EXAMPLE))
        if url_user is not None and not (username or password or api_token):
            username, password = url_user, url_password
        self.url = clean.rstrip("/")
        self.tenant = tenant
        # Set by Workspace.kestra when the configured credentials were withheld from this URL.
        self.credentials_note: str | None = None
        headers = {"User-Agent": "kestra-copilot"}
        auth = kestra_auth(username, password, api_token)
        self._server: ServerInfo | None = None
        self._supported: ServerInfo | None = None  # the server once its version has passed the check
        self._version_lock = asyncio.Lock()
        verify: ssl.SSLContext | bool = ssl_context(ca_bundle) if transport is None else True
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            auth=auth,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,  # a redirect must not carry the credentials anywhere: it is reported
            verify=verify,
        )

    async def __aenter__(self) -> KestraClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- plumbing -----------------------------------------------------------------------------------
    def tenant_path(self, path: str) -> str:
        return f"/api/v1/{self.tenant}/{path.lstrip('/')}"

    async def request(self, method: str, path: str, action: str, **kwargs: Unpack[RequestOptions]) -> httpx.Response:
        """One call, after the server's version is known to be one this client speaks. A read (GET) is
        retried on a connection error, a 502/503/504, twice with a short pause — writes never are, since
        Kestra may have done them before the answer was lost."""
        await self.ensure_supported(action)
        return await self._request(method, path, action, **kwargs)

    async def _request(self, method: str, path: str, action: str, **kwargs: Unpack[RequestOptions]) -> httpx.Response:
        attempts = READ_ATTEMPTS if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._request_once(method, path, action, **kwargs)
            except (KestraUnavailable, KestraServerError) as exc:
                unavailable = isinstance(exc, KestraUnavailable) and not isinstance(exc, KestraTlsError)
                retryable = unavailable or exc.status in (502, 503, 504)
                if attempt == attempts or not retryable:
                    raise
                await asyncio.sleep(RETRY_PAUSE * attempt)
        raise AssertionError("unreachable")

    async def _request_once(
        self, method: str, path: str, action: str, **kwargs: Unpack[RequestOptions]
    ) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise KestraUnavailable(
                f"Kestra at {self.url} did not answer in time to {action}.",
                hint="Check that the server is up and reachable, or retry.",
            ) from exc
        except httpx.TransportError as exc:
            raise self._transport_error(exc, action) from exc
        if response.status_code >= 300:  # a redirect is not followed: it is an error like a 4xx
            raise self._error(response, path, action)
        return response

    def _error(self, response: httpx.Response, path: str, action: str) -> KestraError:
        error = error_from_response(response, action)
        if isinstance(error, KestraNotFound) and path.startswith(f"/api/v1/{self.tenant}/") and not error.hint:
            error.hint = f"If it should exist, check the tenant (KESTRA_TENANT, now {self.tenant!r})."
        if isinstance(error, KestraAuthError) and self.credentials_note:
            error.message = (
                f"Kestra at {self.url} needs credentials ({error.status}) to {action}. {self.credentials_note}"
            )
            error.hint = "To use them with this server, set KESTRA_URL to it."
        return error

    def _transport_error(self, exc: httpx.TransportError, action: str) -> KestraUnavailable:
        """A certificate problem is named as one (with how to trust a private CA); anything else is
        "cannot reach"."""
        failure = tls_failure(exc, ca_setting="KESTRA_CA_BUNDLE (or `[kestra] ca_bundle`)")
        if failure is not None:
            return KestraTlsError(
                f"Cannot {action}: Kestra at {self.url} answered, but {failure.reason}.", hint=failure.hint
            )
        return KestraUnavailable(
            f"Cannot reach Kestra at {self.url} to {action}: {transport_failure(exc)}.",
            hint="Is the server running? Check KESTRA_URL.",
        )

    @staticmethod
    def _json(response: httpx.Response, action: str) -> object:
        try:
            body: object = response.json()
        except ValueError as exc:
            raise KestraError(f"Kestra answered {action} with something that is not JSON.") from exc
        return body

    @classmethod
    def _json_object(cls, response: httpx.Response, action: str) -> dict[str, object]:
        """An answer that must be one JSON object (a flow, an execution …)."""
        body = cls._json(response, action)
        if not isinstance(body, dict):
            raise KestraError(f"Kestra's {action} answer is not a JSON object.")
        return body

    # --- API ----------------------------------------------------------------------------------------
    async def server_info(self, action: str = "read the server version") -> ServerInfo:
        """`GET /api/v1/configs`: the server's version (and a cheap credential check); remembered."""
        body = self._json(await self._request("GET", "/api/v1/configs", action), "configs")
        if not isinstance(body, dict):
            raise KestraError("Kestra's /api/v1/configs answer has an unexpected shape.")
        self._server = ServerInfo(
            version=str(body.get("version") or "unknown"), edition=str(body.get("edition") or "OSS")
        )
        return self._server

    async def ensure_supported(self, action: str) -> ServerInfo:
        """The server's version, asked on the first call of this client (concurrent first calls share
        one request); a server older than MIN_VERSION is refused before anything is sent to it."""
        if self._supported is not None:
            return self._supported
        async with self._version_lock:
            server = self._server or await self.server_info(action)
        parts = tuple(int(p) for p in re.findall(r"\d+", server.version)[:2])
        if len(parts) == 2 and parts < MIN_VERSION:
            raise KestraError(
                f"Cannot {action}: Kestra {server.version} at {self.url} is too old for kestra-copilot "
                f"(it needs {MIN_VERSION[0]}.{MIN_VERSION[1]} or newer).",
                hint="Upgrade the server, or point KESTRA_URL at a newer one.",
            )
        self._supported = server
        return server

    async def major(self, action: str = "talk to Kestra") -> int:
        """The server's major version (asked once): some routes and parameters differ in 2.x."""
        return (await self.ensure_supported(action)).major or 1

    async def validate(self, flow_yaml: str) -> list[ServerValidation]:
        """`POST /flows/validate`: the server's strict parse, plugin-default injection and bean validation."""
        response = await self.request(
            "POST",
            self.tenant_path("flows/validate"),
            "validate the flow",
            content=flow_yaml.encode(),
            headers={"Content-Type": "application/x-yaml"},
        )
        body = self._json(response, "validate")
        if not isinstance(body, list):
            raise KestraRejected("Kestra's validation answer is not a list of results.")
        return [ServerValidation.from_json(item) for item in body if isinstance(item, dict)]

    async def validate_one(self, flow_yaml: str) -> ServerValidation:
        """The server's verdict on one flow. An empty answer is no verdict, not a pass: it is refused."""
        results = await self.validate(flow_yaml)
        result = next((r for r in results if r.index == 0), results[0] if results else None)
        if result is None:
            raise KestraRejected(
                f"Kestra at {self.url} gave no verdict on the flow (its validation answered an empty list).",
                hint="Retry; if it persists, validate the flow in the Kestra UI and check the server logs.",
            )
        return result

    # --- plugins and blueprints (the retrieval corpus of a connected server) ------------------------
    async def plugins(self) -> list[dict[str, object]]:
        """`GET /api/v1/plugins`: every installed plugin with its task, trigger, condition … classes."""
        body = self._json(await self.request("GET", "/api/v1/plugins", "list the installed plugins"), "plugins")
        if isinstance(body, dict):  # 2.x pages the list: {results, total}
            body = body.get("results")
        return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []

    async def plugin_markdown(self, cls: str) -> str:
        """`GET /api/v1/plugins/{cls}`: the class's documentation page as Markdown."""
        response = await self.request("GET", f"/api/v1/plugins/{cls}", f"read the documentation of {cls}")
        body = self._json(response, "plugin documentation")
        return str(body.get("markdown") or "") if isinstance(body, dict) else ""

    async def community_blueprints(self, *, page_size: int = 100) -> list[dict[str, object]]:
        """Every community flow blueprint's summary (id, title, description, tags), all pages."""
        path = self.tenant_path("blueprints/community/flow")
        items: list[dict[str, object]] = []
        page = 1
        while True:
            params = {"page": page, "size": page_size}
            body = self._json(await self.request("GET", path, "list the blueprints", params=params), "blueprints")
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(results, list) or not results:
                return items
            items.extend(r for r in results if isinstance(r, dict))
            if len(items) >= json_int(body.get("total")) or len(results) < page_size:
                return items
            page += 1

    async def blueprint_source(self, blueprint_id: str) -> str:
        """A community flow blueprint's YAML."""
        path = self.tenant_path(f"blueprints/community/flow/{blueprint_id}/source")
        return (await self.request("GET", path, f"read blueprint {blueprint_id}")).text

    # --- flows --------------------------------------------------------------------------------------
    async def get_flow(self, namespace: str, flow_id: str) -> DeployedFlow | None:
        """The flow as deployed (with its YAML source), or None when the server has no such flow."""
        path = self.tenant_path(f"flows/{namespace}/{flow_id}")
        try:
            response = await self.request(
                "GET", path, f"read flow {flow_ref(namespace, flow_id)}", params={"source": "true"}
            )
        except KestraNotFound:
            return None
        return DeployedFlow.from_json(self._json_object(response, "flow"))

    async def deploy(self, flow_yaml: str, namespace: str, flow_id: str, *, update: bool = True) -> DeployedFlow:
        """Create the flow, or update it when it exists (409 on 2.x, 422 "already exists" on 1.x). With
        `update=False` only a creation is done: a flow that exists by then is never overwritten."""
        headers = {"Content-Type": "application/x-yaml"}
        action = f"deploy {flow_ref(namespace, flow_id)}"
        try:
            response = await self.request(
                "POST", self.tenant_path("flows"), action, content=flow_yaml.encode(), headers=headers
            )
        except KestraConflict as exc:
            if not update:
                raise KestraConflict(
                    f"{flow_ref(namespace, flow_id)} was created on the server in the meantime; "
                    "it was not overwritten.",
                    hint="Check that flow in the Kestra UI, then run again.",
                ) from exc
            path = self.tenant_path(f"flows/{namespace}/{flow_id}")
            response = await self.request("PUT", path, action, content=flow_yaml.encode(), headers=headers)
        return DeployedFlow.from_json(self._json_object(response, "deploy"))

    async def delete_flow(self, namespace: str, flow_id: str) -> None:
        await self.request(
            "DELETE", self.tenant_path(f"flows/{namespace}/{flow_id}"), f"delete {flow_ref(namespace, flow_id)}"
        )

    # --- executions ---------------------------------------------------------------------------------
    async def execute(
        self,
        namespace: str,
        flow_id: str,
        *,
        inputs: dict[str, str] | None = None,
        files: dict[str, Path] | None = None,
        labels: dict[str, str] | None = None,
    ) -> Execution:
        """Start an execution: inputs as multipart parts (files as file parts), labels as `key:value`."""
        parts: list[FilePart] = [(name, (None, value.encode(), "text/plain")) for name, value in (inputs or {}).items()]
        params = {"labels": [f"{key}:{value}" for key, value in (labels or {}).items()]}
        with contextlib.ExitStack() as opened:
            for name, file in (files or {}).items():
                try:  # regular files only, streamed by httpx: a data file may be larger than memory allows
                    handle = opened.enter_context(open_regular(file, what="input"))
                except FileError as exc:
                    raise KestraError(f"Cannot read the file for input {name!r}: {exc}", hint=exc.hint) from exc
                parts.append((name, (file.name, handle, "application/octet-stream")))
            # The spec's multipart body is optional: with no input, none at all (as Kestra's own SDK sends it).
            response = await self.request(
                "POST",
                self.tenant_path(f"executions/{namespace}/{flow_id}"),
                f"run {flow_ref(namespace, flow_id)}",
                params=params,
                files=parts or None,
            )
        return Execution.from_json(self._json_object(response, "execution"))

    async def execution(self, execution_id: str) -> Execution:
        path = self.tenant_path(f"executions/{execution_id}")
        return Execution.from_json(
            self._json_object(await self.request("GET", path, f"read execution {execution_id}"), "execution")
        )

    async def follow(self, execution_id: str) -> AsyncIterator[Execution]:
        """The execution each time it changes, until it is finished (`/follow` SSE: the `id:` line names
        the event — start, progress, end — and `data:` carries the execution JSON)."""
        path = self.tenant_path(f"executions/{execution_id}/follow")
        async for kind, data in self._sse(path, f"follow execution {execution_id}"):
            if kind == "start":
                continue
            if isinstance(data, dict) and data.get("id"):
                execution = Execution.from_json(data)
                yield execution
                if kind == "end":
                    return
        raise KestraUnavailable(
            f"The live stream of execution {execution_id} ended before the execution did.",
            hint="The execution goes on: check it in the Kestra UI (running the flow again starts another one).",
        )

    async def kill(self, execution_id: str) -> None:
        """Kill a running execution: `DELETE …/kill` up to 1.x, `DELETE …/actions/kill` from 2.0."""
        action = f"kill {execution_id}"
        route = "actions/kill" if await self.major(action) >= 2 else "kill"
        await self.request("DELETE", self.tenant_path(f"executions/{execution_id}/{route}"), action)

    async def logs(
        self, execution_id: str, *, min_level: str = "INFO", task_run_id: str | None = None
    ) -> list[LogEntry]:
        """The logs Kestra has indexed for an execution (or one of its task runs), at `min_level` and above."""
        path = self.tenant_path(f"logs/{execution_id}")
        # 1.x filters with `minLevel` and `taskRunId`; 2.x with QueryFilter parameters.
        if await self.major("read the logs") >= 2:
            params = {"filters[level][GREATER_THAN_OR_EQUAL_TO]": min_level}
            if task_run_id is not None:
                params["filters[taskRunId][EQUALS]"] = task_run_id
        else:
            params = {"minLevel": min_level, **({"taskRunId": task_run_id} if task_run_id is not None else {})}
        body = self._json(await self.request("GET", path, "read the logs", params=params), "logs")
        return [LogEntry.from_json(item) for item in body if isinstance(item, dict)] if isinstance(body, list) else []

    async def task_run_logs(self, execution_id: str, task_run_id: str, *, wait: float = 0.0) -> list[LogEntry]:
        """A finished task run's log lines (INFO and above), with the plain logs request. Kestra indexes logs
        a moment after the worker writes them (the live stream has them first): while there are none yet,
        ask again, for up to `wait` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            entries = await self.logs(execution_id, task_run_id=task_run_id)
            if entries or loop.time() >= deadline:
                return entries
            await asyncio.sleep(min(LOG_POLL_SECONDS, max(deadline - loop.time(), 0)))

    async def follow_logs(self, execution_id: str, *, min_level: str = "INFO") -> AsyncIterator[LogEntry]:
        """Log entries as they are written (`/logs/{id}/follow` SSE). Kestra never ends this stream:
        stop iterating once the execution is finished (and its last logs indexed, ~1-2 s later)."""
        action = f"follow the logs of {execution_id}"
        key = "filters[level][GREATER_THAN_OR_EQUAL_TO]" if await self.major(action) >= 2 else "minLevel"
        path = self.tenant_path(f"logs/{execution_id}/follow")
        async for kind, data in self._sse(path, action, params={key: min_level}):
            if kind != "start" and isinstance(data, dict) and data.get("message") is not None:
                yield LogEntry.from_json(data)

    async def _sse(
        self, path: str, action: str, params: dict[str, str] | None = None
    ) -> AsyncIterator[tuple[str, object]]:
        """(event kind, parsed data) for each Server-Sent Event; Kestra puts the kind in the `id:` field."""
        await self.ensure_supported(action)
        kind, data_lines = "", list[str]()
        try:
            async with self._http.stream(
                "GET",
                path,
                params=params,
                headers={"Accept": "text/event-stream"},
                timeout=httpx.Timeout(30.0, read=3600.0),
            ) as response:
                if response.status_code >= 300:
                    await response.aread()
                    raise self._error(response, path, action)
                async for line in response.aiter_lines():
                    if not line:
                        event = _parse_event(data_lines) if data_lines else None
                        if event is not None:  # a malformed event is skipped: the next carries the whole state
                            yield kind, event
                        kind, data_lines = "", []
                    elif line.startswith("id:"):
                        kind = line[3:].strip()
                    elif line.startswith("event:") and not kind:
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data_lines.append(line[5:].lstrip())
        except httpx.TransportError as exc:
            if tls_failure(exc) is not None:
                raise self._transport_error(exc, action) from exc
            raise KestraUnavailable(
                f"The connection to Kestra at {self.url} dropped while {action.replace('follow', 'following')}.",
                hint="Check the server, then follow it again.",
            ) from exc

    # --- KV store, namespace files, schema -----------------------------------------------------------
    async def kv_get(self, namespace: str, key: str) -> object:
        """A KV value (decoded JSON: strings, numbers, objects …), or None when the key is not set."""
        path = self.tenant_path(f"namespaces/{namespace}/kv/{key}")
        try:
            body = self._json(await self.request("GET", path, f"read KV {namespace}/{key}"), "kv")
        except KestraNotFound:
            return None
        return body.get("value") if isinstance(body, dict) else None

    async def kv_set(self, namespace: str, key: str, value: object, *, ttl: str | None = None) -> None:
        """Store a value; Kestra parses the body as JSON, so strings are sent JSON-quoted."""
        headers = {"Content-Type": "text/plain", **({"ttl": ttl} if ttl else {})}
        path = self.tenant_path(f"namespaces/{namespace}/kv/{key}")
        await self.request(
            "PUT", path, f"set KV {namespace}/{key}", content=json.dumps(value).encode(), headers=headers
        )

    async def upload_namespace_file(self, namespace: str, path: str, content: bytes) -> None:
        """Put a file (a script, a SQL file …) into the namespace's files, at `path` (e.g. /scripts/etl.py)."""
        await self.request(
            "POST",
            self.tenant_path(f"namespaces/{namespace}/files"),
            f"upload {path} to {namespace}",
            params={"path": path},
            files=[("fileContent", (path.rsplit("/", 1)[-1], content, "application/octet-stream"))],
        )

    async def flow_schema(self) -> dict[str, object]:
        """The flow JSON schema of every plugin this server has (`/api/v1/plugins/schemas/flow`)."""
        response = await self.request("GET", "/api/v1/plugins/schemas/flow", "read the flow schema")
        return self._json_object(response, "flow schema")


def _parse_event(lines: list[str]) -> object:
    try:
        event: object = json.loads("\n".join(lines))
    except ValueError:
        return None
    return event
