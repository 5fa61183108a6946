"""A loopback Kestra server for tests: the real REST wire protocol (paths, auth, status codes, JSON
shapes of 1.x and 2.x), backed by a small in-memory model, so the real httpx client code runs against it.

    with FakeKestra(version="1.3.2") as kestra:
        client = KestraClient(kestra.url, username=kestra.username, password=kestra.password)

`FakeKestra(tls=server_context)` serves HTTPS with that `ssl.SSLContext` (its certificate is the test's).

What it implements is what the project's client uses; it grows with the client. Its flow validation is
its own small model of Kestra's (a table of a few plugins, strict keys, Jackson-style messages), not the
project's validator, so tests of the merge path are not circular.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NamedTuple

import yaml

from tests.fakes.loopback import LoopbackServer, QuietHandler

# type → (required properties, optional properties); the common task properties are always allowed.
PLUGINS: dict[str, tuple[set[str], set[str]]] = {
    "io.kestra.plugin.core.log.Log": ({"message"}, {"level"}),
    "io.kestra.plugin.core.debug.Return": (set(), {"format"}),
    "io.kestra.plugin.core.kv.Set": ({"key", "value"}, {"namespace", "overwrite", "ttl"}),
    "io.kestra.plugin.core.flow.Subflow": ({"namespace", "flowId"}, {"inputs", "wait", "transmitFailed"}),
    "io.kestra.plugin.core.flow.Pause": (set(), {"pauseDuration", "behavior"}),  # here: paused until killed
    "io.kestra.plugin.acme.Private": ({"endpoint"}, set()),  # a plugin only this server has
    "io.kestra.plugin.scripts.shell.Commands": ({"commands"}, {"taskRunner", "containerImage", "env"}),
    "io.kestra.plugin.core.templating.TemplatedTask": ({"spec"}, set()),
    "io.kestra.plugin.core.http.Request": ({"uri"}, {"method", "body", "headers", "contentType"}),
    "io.kestra.plugin.jdbc.postgresql.Queries": ({"sql"}, {"url", "username", "password"}),
    "io.kestra.plugin.jdbc.clickhouse.ClickHouseLocalCLI": ({"commands"}, {"taskRunner", "beforeCommands"}),
}
ALIASES = {"io.kestra.core.tasks.log.Log": "io.kestra.plugin.core.log.Log"}
# Task runners it lists among its plugins (and does not check: a task's taskRunner is not validated here).
TASK_RUNNERS = ("io.kestra.plugin.core.runner.Process", "io.kestra.plugin.scripts.runner.docker.Docker")
COMMON = {"id", "type", "description", "disabled", "allowFailure", "retry", "timeout", "runIf", "logLevel"}

# 2.x answers errors as RFC 9457 problems (webserver/errors/ProblemTypes.java): status → (type slug, title).
PROBLEMS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Access denied"),
    404: ("not-found", "Resource not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    410: ("resource-expired", "Resource has expired"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("invalid-entity", "Invalid entity"),
    500: ("internal-error", "Internal server error"),
    503: ("service-unavailable", "Service unavailable"),
}
VALIDATION_FAILED = ("validation-failed", "Validation failed")
ALREADY_EXISTS = ("entity-already-exists", "Entity already exists")
# ProblemFactory never echoes a server error's cause: a fixed detail and a traceId instead.
SERVER_ERROR_DETAIL = "An unexpected error occurred. Quote the traceId when contacting support."
LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]  # Kestra's log levels, lowest first


class Violation(NamedTuple):
    """One constraint: its property path (`tasks[0].message`, by index), message, and the text
    `/flows/validate` words it with (Jackson's for a parse error, by id on 2.x)."""

    path: str
    message: str
    text: str


@dataclass
class FakeKestra:
    version: str = "1.3.2"
    username: str = "admin@kestra.io"
    password: str = "Admin1234!"
    api_token: str | None = None
    tenant: str = "main"
    flows: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) seen
    # Every exchange, for the OpenAPI conformance test: method, path, query, request content type, status,
    # response content type and body (and the Authorization header the request carried, or None).
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    # Store every created flow in this namespace, whatever its text says (fault injection: a server, or a
    # flow, that puts it somewhere other than where the client meant).
    misplace_into: str | None = None
    fail_with: int | None = None  # answer API calls with this status (outage tests) …
    fail_times: int | None = None  # … only this many times, when set (a transient outage)
    delay_seconds: float = 0.0  # wait this long before answering (a slow server)
    # Plugin documentation (class → Markdown) and community flow blueprints ({id, title, description,
    # tags, source}) served by /api/v1/plugins and /blueprints/community/flow.
    plugin_docs: dict[str, str] = field(default_factory=dict)
    blueprints: list[dict[str, Any]] = field(default_factory=list)
    # Executions: task id → terminal state it ends in (default SUCCESS) and the log lines it writes.
    outcomes: dict[str, str] = field(default_factory=dict)
    task_logs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # task id → [(level, message)]
    outcome_rule: Callable[[dict[str, Any]], str] | None = None  # task → terminal state (overrides outcomes)
    step_seconds: float = 0.02  # how long each task run takes
    drop_follow_after: int | None = None  # close /follow streams after this many events (fault injection)
    # The live log stream (fault injection): answered with this error status (a proxy that does not pass
    # Server-Sent Events, a server without the route), or cut after this many events.
    log_follow_status: int | None = None
    drop_log_follow_after: int | None = None
    # Kestra's indexer stores log lines a moment after the worker writes them (the live stream reads the
    # queue and has them at once): this many reads of an execution's logs come back without its lines.
    unindexed_log_reads: int = 0
    omit_duration: bool = False  # an execution's state without `duration` (nullable in the spec)
    validate_answer: list[dict[str, Any]] | None = None  # answer /flows/validate with this (fault injection)
    revisions: dict[tuple[str, str], int] = field(default_factory=dict)
    kv: dict[tuple[str, str], Any] = field(default_factory=dict)
    kv_ttl: dict[tuple[str, str], str] = field(default_factory=dict)  # the `ttl` header a value was set with
    namespace_files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    storage: dict[str, bytes] = field(default_factory=dict)  # internal storage: kestra:// URI → FILE input bytes
    # The flow schema it serves; None answers 404 (as an older server would): a test that wants the chat or
    # `validate --server` judged by a server's plugins gives one (the real sample, say).
    flow_schema: dict[str, Any] | None = None
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None  # serve HTTPS with this server-side context

    def __post_init__(self) -> None:
        self._server: LoopbackServer | None = None
        self.changed = threading.Condition()  # notified on every execution update (for /follow)
        self.log_reads: dict[str, int] = {}  # execution id → plain log reads answered

    @property
    def url(self) -> str:
        assert self._server is not None, "use `with FakeKestra() as kestra:`"
        return self._server.url

    def __enter__(self) -> FakeKestra:
        fake = self

        class Handler(_Handler):
            kestra = fake

        self._server = LoopbackServer(Handler, tls=self.tls).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.stop()

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    # --- the model: flows ----------------------------------------------------------------------------
    def flow_json(self, namespace: str, flow_id: str) -> dict[str, Any]:
        source = self.flows[(namespace, flow_id)]
        data = yaml.safe_load(source)
        return {
            **data,
            "revision": self.revisions[(namespace, flow_id)],
            "tenantId": self.tenant,
            "deleted": False,
            "disabled": bool(data.get("disabled")),
            "source": source,
            **({"draft": False} if self.major >= 2 else {}),
        }

    # --- the model: executions -----------------------------------------------------------------------
    def start_execution(
        self,
        namespace: str,
        flow_id: str,
        parts: list[tuple[str, str | None, bytes]],
        labels: list[str],
    ) -> dict[str, Any]:
        """A new execution from the multipart parts (name, file name, bytes): a text part is an input's
        value, a file part goes to internal storage and the input is its kestra:// URI."""
        execution_id = f"exec{len(self.executions) + 1:04d}"
        inputs: dict[str, str] = {}
        for name, filename, payload in parts:
            if filename is None:
                inputs[name] = payload.decode("utf-8", "replace")
            else:
                uri = f"kestra:///{namespace.replace('.', '/')}/{flow_id}/executions/{execution_id}/inputs/{name}/{filename}"
                inputs[name], self.storage[uri] = uri, payload
        now = _now()
        execution = {
            "id": execution_id,
            "namespace": namespace,
            "flowId": flow_id,
            "flowRevision": self.revisions[(namespace, flow_id)],
            "tenantId": self.tenant,
            "labels": [{"key": k, "value": v} for k, _, v in (label.partition(":") for label in labels)],
            "inputs": inputs,
            "outputs": {},
            "taskRunList": [],
            "deleted": False,
            "originalId": execution_id,
            "metadata": {"attemptNumber": 1, "originalCreatedDate": now},
            "state": {"current": "CREATED", "startDate": now, "histories": [{"state": "CREATED", "date": now}]},
        }
        self.executions[execution_id] = execution
        self.logs[execution_id] = []
        tasks = [
            t for t in (yaml.safe_load(self.flows[(namespace, flow_id)]).get("tasks") or []) if isinstance(t, dict)
        ]
        threading.Thread(target=self._run, args=(execution_id, tasks), daemon=True).start()
        return {**execution, "url": f"{self.url}/ui/{self.tenant}/executions/{namespace}/{flow_id}/{execution_id}"}

    def _set_state(self, holder: dict[str, Any], state: str) -> None:
        holder["state"]["current"] = state
        holder["state"].setdefault("histories", []).append({"state": state, "date": _now()})

    def _run(self, execution_id: str, tasks: list[dict[str, Any]]) -> None:
        execution = self.executions[execution_id]
        time.sleep(self.step_seconds)
        with self.changed:
            if execution["state"]["current"] == "KILLED":  # killed before it started
                return
            self._set_state(execution, "RUNNING")
            self.changed.notify_all()
        final = "SUCCESS"
        for number, task in enumerate(tasks):
            if execution["state"]["current"] in ("KILLING", "KILLED"):
                final = "KILLED"
                break
            run_id = f"{execution_id}-run{number}"
            run = {
                "id": run_id,
                "executionId": execution_id,
                "namespace": execution["namespace"],
                "flowId": execution["flowId"],
                "taskId": task.get("id"),
                "value": None,
                "parentTaskRunId": None,
                "attempts": [],
                "outputs": {},
                "state": {"current": "CREATED", "histories": [{"state": "CREATED", "date": _now()}]},
            }
            with self.changed:
                execution["taskRunList"].append(run)
                self._set_state(run, "RUNNING")
                self.changed.notify_all()
            if str(task.get("type")).endswith(".flow.Pause"):
                final = self._pause(execution, run)
                break
            time.sleep(self.step_seconds)
            outcome = (
                self.outcome_rule(task) if self.outcome_rule else self.outcomes.get(str(task.get("id")), "SUCCESS")
            )
            with self.changed:
                for level, message in self.task_logs.get(str(task.get("id")), []):
                    self.logs[execution_id].append(
                        {
                            "namespace": execution["namespace"],
                            "flowId": execution["flowId"],
                            "taskId": task.get("id"),
                            "executionId": execution_id,
                            "taskRunId": run_id,
                            "attemptNumber": 0,
                            "timestamp": _now(),
                            "level": level,
                            "thread": "worker",
                            "message": message,
                            "tenantId": self.tenant,
                        }
                    )
                self._set_state(run, outcome)
                self.changed.notify_all()
            if outcome == "FAILED":
                final = "FAILED"
                break
            if outcome == "WARNING":
                final = "WARNING"
        with self.changed:
            if execution["state"]["current"] != "KILLED":
                self._set_state(execution, final)
            execution["state"]["endDate"] = _now()
            if not self.omit_duration:
                execution["state"]["duration"] = "PT0.1S"
            self.changed.notify_all()

    def _pause(self, execution: dict[str, Any], run: dict[str, Any]) -> str:
        """A Pause task: the run and the execution PAUSED until the execution is killed (this fake has
        no resume route), then the run KILLED too."""
        with self.changed:
            self._set_state(run, "PAUSED")
            self._set_state(execution, "PAUSED")
            self.changed.notify_all()
            while execution["state"]["current"] not in ("KILLING", "KILLED"):
                self.changed.wait(timeout=0.5)
            self._set_state(run, "KILLED")
            self.changed.notify_all()
        return "KILLED"

    def terminal(self, execution: dict[str, Any]) -> bool:
        done = {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED", "RESUBMITTED"}
        return execution["state"]["current"] in done and all(
            run["state"]["current"] in done for run in execution["taskRunList"]
        )

    def save_violations(self, text: str) -> list[Violation]:
        """Why a flow cannot be saved: this server's own checks, then what the project's validator
        rejects, as Kestra's strict parse would (the `/flows/validate` route keeps only its own small
        model, so tests of merging the two are not circular)."""
        from copilot.flows import validate_flow

        own = self._check(0, text)[1]
        if own:
            return own
        result = validate_flow(text, kestra_version=self.major)
        return [Violation(d.path, d.message, f"{d.path or 'flow'}: {d.message}") for d in result.errors]

    # --- the model: validation -----------------------------------------------------------------------
    def validate(self, body: str) -> list[dict[str, Any]]:
        documents = re.split(r"\n---\n", body)
        # Kestra's JSON leaves null fields out (a valid flow has no `constraints` key at all).
        return [
            {k: v for k, v in self._validate_one(i, doc).items() if v is not None} for i, doc in enumerate(documents)
        ]

    def _validate_one(self, index: int, text: str) -> dict[str, Any]:
        return self._check(index, text)[0]

    def _check(self, index: int, text: str) -> tuple[dict[str, Any], list[Violation]]:
        """The `/flows/validate` verdict on one document, and its constraints one by one."""
        result: dict[str, Any] = {
            "index": index,
            "flow": None,
            "namespace": None,
            "constraints": None,
            "outdated": False,
            "deprecationPaths": [],
            "warnings": [],
            "infos": [],
        }
        violations: list[Violation] = []
        try:
            node = yaml.compose(text)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            violations.append(
                Violation("", f"Unable to validate the flow: {exc}", f"Unable to validate the flow: {exc}")
            )
            data = None
        if data is not None and not isinstance(data, dict):
            violations.append(
                Violation(
                    "", "Unable to validate the flow: not a mapping", "Unable to validate the flow: not a mapping"
                )
            )
        if isinstance(data, dict):
            result["flow"], result["namespace"] = data.get("id"), data.get("namespace")
            tasks = data.get("tasks") if isinstance(data.get("tasks"), list) else []
            for position, task in enumerate(tasks):
                if isinstance(task, dict):
                    violations += self._check_task(result, text, _value_node(node, "tasks"), position, task)
        if violations:
            result["constraints"] = "\n".join(v.text for v in violations)
        return result, violations

    def _check_task(
        self, result: dict[str, Any], text: str, task_nodes: Any, position: int, task: dict[str, Any]
    ) -> list[Violation]:
        type_name = task.get("type")
        if type_name in ALIASES:
            result["infos"].append(f"{type_name} is replaced by {ALIASES[type_name]}")
            type_name = ALIASES[type_name]
        if type_name not in PLUGINS:
            return [Violation(f"tasks[{position}].type", f"Invalid type: {type_name}", f"Invalid type: {type_name}")]
        required, optional = PLUGINS[type_name]
        known = required | optional | COMMON
        out = []
        for key in task:
            if key not in known:
                line, column = _key_mark(task_nodes, position, key)
                message = f'Unrecognized field "{key}" (class {type_name}), not marked as ignorable'
                out.append(  # Jackson's wording, continued on a second line as Kestra sends it
                    Violation(
                        f"tasks[{position}].{key}",
                        message,
                        f"{message} ({len(known)} known properties)\n"
                        f' at [Source: (String)"{text[:20]}"; line: {line}, column: {column}] '
                        f'(through reference chain: io.kestra.core.models.flows.Flow["tasks"]->'
                        f'java.util.ArrayList[{position}]->{type_name}["{key}"])',
                    )
                )
        for key in sorted(required - task.keys()):
            name = f"tasks[{task.get('id')}]" if self.major >= 2 else f"tasks[{position}]"
            out.append(Violation(f"tasks[{position}].{key}", "must not be null", f"{name}.{key}: must not be null"))
        if type_name.endswith("Subflow") and (task.get("namespace"), task.get("flowId")) not in self.flows:
            result["warnings"].append(
                f"The subflow '{task.get('flowId')}' not found in namespace '{task.get('namespace')}'."
            )
        return out


def _non_null(value: Any) -> Any:
    """Kestra's JSON mapper leaves null fields out."""
    if isinstance(value, dict):
        return {k: _non_null(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_non_null(v) for v in value]
    return value


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _multipart(content_type: str, body: bytes) -> list[tuple[str, str | None, bytes]]:
    """The parts of a multipart/form-data body: (name, file name or None for a text part, bytes)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return [
        (str(part.get_param("name", header="content-disposition")), part.get_filename(),
         part.get_payload(decode=True) or b"")
        for part in (message.iter_parts() if message.is_multipart() else [])
    ]  # fmt: skip


_ISO_DURATION = re.compile(r"P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _path_parts(path: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _PATH_PART.findall(path)]


def _json_pointer(path: str) -> str:
    """`tasks[0].message` → `/tasks/0/message` (RFC 6901)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in _path_parts(path))


def _path_by_id(path: str, data: Any) -> str:
    """`tasks[0].message` → `tasks[log].message`: list items named by their id, as 2.x does."""
    out, node = "", data
    for part in _path_parts(path):
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            name = item.get("id") if isinstance(item, dict) and item.get("id") else part
            out, node = f"{out}[{name}]", item
        else:
            out, node = (f"{out}.{part}" if out else part), (node.get(part) if isinstance(node, dict) else None)
    return out


def _value_node(node: Any, key: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _key_mark(tasks_node: Any, position: int, key: str) -> tuple[int, int]:
    if isinstance(tasks_node, yaml.SequenceNode) and position < len(tasks_node.value):
        for k, _ in tasks_node.value[position].value:
            if k.value == key:
                return k.start_mark.line + 1, k.start_mark.column + 1
    return 1, 1


class _Handler(QuietHandler):  # no Nagle delay, as Netty: each SSE frame leaves at once
    kestra: FakeKestra
    protocol_version = "HTTP/1.1"

    # --- helpers ------------------------------------------------------------------------------------
    def _record(self, status: int, content_type: str | None, raw: bytes | None) -> dict[str, Any]:
        """Note the exchange; an SSE answer's events (kind, data) are added to its `events` as sent."""
        from urllib.parse import parse_qs, urlparse

        url = urlparse(self.path)
        exchange = {
            "method": self.command, "path": url.path, "query": parse_qs(url.query),
            "request_type": self.headers.get("Content-Type"), "request_body": getattr(self, "request_body", b""),
            "status": status, "response_type": content_type, "body": raw, "events": [],
            "authorization": self.headers.get("Authorization"),
        }  # fmt: skip
        self.kestra.exchanges.append(exchange)
        return exchange

    def _start_events(self) -> Callable[[str, Any], None]:
        """Open a `text/event-stream` answer; the returned function sends one event as Micronaut frames
        it for Kestra: the `id:` field names the event, `data:` is its JSON (nulls left out)."""
        exchange = self._record(200, "text/event-stream", None)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(kind: str, data: Any) -> None:
            data = _non_null(data)
            exchange["events"].append((kind, data))
            raw = f"id:{kind}\ndata:{json.dumps(data)}\n\n".encode()
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()

        return send

    def _send(self, status: int, body: Any = None, content_type: str = "application/json") -> None:
        raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(_non_null(body)).encode())
        self._record(status, content_type if raw else None, raw)
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", "Basic")
        if raw:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(
        self,
        status: int,
        message: str | None,
        *,
        problem: tuple[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        """An error as Kestra words it: Micronaut's JsonError on 1.x (`message`, `_embedded.errors` per
        field), an RFC 9457 problem on 2.x (`detail`, `errors` per field; a 5xx gets a fixed detail and
        a traceId, never its cause)."""
        if self.kestra.major < 2:
            body: dict[str, Any] = {"message": message, "_links": {"self": {"href": self.path, "templated": False}}}
            if errors:
                body["_embedded"] = {"errors": errors}
            self._send(status, body)
            return
        slug, title = problem or PROBLEMS.get(status) or PROBLEMS[500 if status >= 500 else 400]
        body = {
            "type": f"https://kestra.io/docs/api-reference/problems/{slug}",
            "title": title,
            "status": status,
            "detail": message or title,
            "instance": self.path.split("?", 1)[0],
            "errors": errors or None,
        }
        if status >= 500:
            body.update(detail=SERVER_ERROR_DETAIL, errors=None, traceId=secrets.token_hex(16))
        self._send(status, body, "application/problem+json")

    def _bare(self, status: int) -> None:
        """A bare status (a filter's 401, a route's empty 404): no body on 1.x; on 2.x the
        ProblemResponseFilter fills in a problem whose detail is its title."""
        if self.kestra.major >= 2:
            self._error(status, None)
        else:
            self._send(status)

    def _invalid(self, violations: list[Violation], text: str) -> None:
        """422 for a flow that cannot be saved: the ConstraintViolationException's message (each
        `path: message`, by index) and one entry per field — 2.x adds a JSON pointer and names list items by id."""
        said = ", ".join(f"{v.path}: {v.message}" if v.path else v.message for v in violations)
        if self.kestra.major < 2:
            errors = [{"message": v.message, "path": v.path or None} for v in violations]
            self._error(422, f"Invalid entity: {said}", errors=errors)
            return
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        errors = [
            {"detail": v.message, "pointer": _json_pointer(v.path) or None, "path": _path_by_id(v.path, data) or None}
            for v in violations
        ]
        self._error(422, said, problem=VALIDATION_FAILED, errors=errors)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if self.kestra.api_token and header == f"Bearer {self.kestra.api_token}":
            return True
        expected = base64.b64encode(f"{self.kestra.username}:{self.kestra.password}".encode()).decode()
        return header == f"Basic {expected}"

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        self.kestra.requests.append((method, path))
        body = self.request_body = self._body()
        if self.kestra.delay_seconds:
            time.sleep(self.kestra.delay_seconds)
        if self.kestra.fail_with and self.kestra.fail_times != 0:
            if self.kestra.fail_times is not None:
                self.kestra.fail_times -= 1
            self._error(self.kestra.fail_with, "Internal server error: the fake is told to fail")
            return
        if not self._authorized():
            self._bare(401)
            return
        if method == "GET" and path == "/api/v1/configs":
            self._send(200, {"version": self.kestra.version, "edition": "OSS", "isBasicAuthInitialized": True})
            return
        if method == "GET" and path == "/api/v1/plugins/schemas/flow" and self.kestra.flow_schema is not None:
            self._send(200, self.kestra.flow_schema)
            return
        if method == "GET" and path.startswith("/api/v1/plugins"):
            self._plugins(path.removeprefix("/api/v1/plugins").strip("/"))
            return
        tenant_route = re.fullmatch(r"/api/v1/([^/]+)/(.*)", path)
        if not tenant_route or tenant_route.group(1) != self.kestra.tenant:
            self._error(404, "Not Found")
            return
        rest = tenant_route.group(2)
        if method == "POST" and rest == "flows/validate":
            if not self.headers.get("Content-Type", "").startswith("application/x-yaml"):
                self._error(415, "Unsupported Media Type")
                return
            answer = self.kestra.validate_answer
            self._send(200, self.kestra.validate(body.decode("utf-8", "replace")) if answer is None else answer)
            return
        if rest == "flows" or (rest.startswith("flows/") and not rest.startswith("flows/validate")):
            self._flows(method, rest.removeprefix("flows").strip("/"), body)
            return
        if rest.startswith("namespaces/"):
            self._namespaces(method, rest.split("/")[1:], body)
            return
        if rest.startswith("executions/") or rest.startswith("logs/"):
            self._executions(method, rest, body)
            return
        if method == "GET" and rest.startswith("blueprints/community/flow"):
            self._blueprints(rest.removeprefix("blueprints/community/flow").strip("/"))
            return
        self._error(404, "Not Found")

    def _namespaces(self, method: str, parts: list[str], body: bytes) -> None:
        kestra = self.kestra
        if len(parts) == 3 and parts[1] == "kv":
            key = (parts[0], parts[2])
            if method == "PUT":
                ttl = self.headers.get("ttl")
                if ttl is not None and not _ISO_DURATION.fullmatch(ttl):
                    self._error(422, f"Invalid argument: ttl {ttl!r} is not an ISO-8601 duration")
                    return
                try:
                    kestra.kv[key] = json.loads(body or b"null")
                except ValueError:
                    kestra.kv[key] = body.decode("utf-8", "replace")  # Kestra falls back to a string
                if ttl is None:
                    kestra.kv_ttl.pop(key, None)
                else:
                    kestra.kv_ttl[key] = ttl
                self._send(200)
            elif method == "GET" and key in kestra.kv:
                value = kestra.kv[key]
                kind = {str: "STRING", bool: "BOOLEAN", int: "NUMBER", float: "NUMBER"}.get(type(value), "JSON")
                self._send(200, {"type": kind, "value": value})
            elif method == "GET":
                self._error(404, f"No value found for key '{parts[2]}' in namespace '{parts[0]}'")
            else:
                self._error(405, "Method Not Allowed")
            return
        if len(parts) == 2 and parts[1] == "files" and method == "POST":
            from urllib.parse import parse_qs, urlparse

            target = parse_qs(urlparse(self.path).query).get("path", [""])[0]
            files = {name: payload for name, _, payload in _multipart(self.headers.get("Content-Type", ""), body)}
            content = files.get("fileContent")
            if not target or content is None:
                self._error(422, "Invalid entity: a `path` and a `fileContent` part are required")
                return
            kestra.namespace_files[(parts[0], target)] = content
            self._send(200)
            return
        self._error(404, "Not Found")

    def _flows(self, method: str, rest: str, body: bytes) -> None:
        kestra = self.kestra
        if method == "POST" and not rest:
            if not self.headers.get("Content-Type", "").startswith("application/x-yaml"):
                self._error(415, "Unsupported Media Type")
                return
            text = body.decode("utf-8", "replace")
            violations = kestra.save_violations(text)
            if violations:
                self._invalid(violations, text)
                return
            if kestra.misplace_into:
                text = yaml.safe_dump({**yaml.safe_load(text), "namespace": kestra.misplace_into}, sort_keys=False)
            data = yaml.safe_load(text)
            key = (str(data.get("namespace")), str(data.get("id")))
            if key in kestra.flows:
                if kestra.major >= 2:
                    detail = f"A flow with id '{key[1]}' already exists in namespace '{key[0]}'."
                    self._error(409, detail, problem=ALREADY_EXISTS)
                else:
                    self._invalid([Violation("flow.id", "Flow id already exists", "")], text)
                return
            kestra.flows[key], kestra.revisions[key] = text, 1
            self._send(200, kestra.flow_json(*key))
            return
        parts = rest.split("/")
        if len(parts) != 2:
            self._error(404, "Not Found")
            return
        key = (parts[0], parts[1])
        if key not in kestra.flows:
            if method == "GET":
                self._error(404, f"Not Found: flow {key[0]}.{key[1]}")
            else:
                self._bare(404)  # PUT and DELETE answer a bare 404
            return
        if method == "GET":
            self._send(200, kestra.flow_json(*key))
        elif method == "PUT":
            text = body.decode("utf-8", "replace")
            violations = kestra.save_violations(text)
            if violations:
                self._invalid(violations, text)
                return
            if text != kestra.flows[key]:
                kestra.flows[key] = text
                kestra.revisions[key] += 1
            self._send(200, kestra.flow_json(*key))
        elif method == "DELETE":
            del kestra.flows[key]
            self._send(204)
        else:
            self._error(405, "Method Not Allowed")

    def _executions(self, method: str, rest: str, body: bytes) -> None:
        kestra = self.kestra
        parts = rest.split("/")
        if parts[0] == "logs" and method == "GET" and parts[2:] == ["follow"] and parts[1] in kestra.executions:
            if kestra.log_follow_status is not None:
                self._error(kestra.log_follow_status, HTTPStatus(kestra.log_follow_status).phrase)
                return
            self._follow_logs(parts[1])
            return
        if parts[0] == "logs" and method == "GET" and len(parts) == 2:
            if parts[1] not in kestra.executions:
                self._error(404, "Not Found")
                return
            self._send(200, self._indexed_logs(parts[1]))
            return
        if method == "POST" and len(parts) == 3:
            key = (parts[1], parts[2])
            if key not in kestra.flows:
                self._error(404, "Requested Flow is not found.")
                return
            # The route consumes multipart/form-data; its body is optional (no input: no body at all).
            content_type = self.headers.get("Content-Type")
            if content_type is None and not body:
                parts = []
            elif content_type is not None and content_type.startswith("multipart/form-data; boundary="):
                parts = _multipart(content_type, body)
            else:
                self._error(415, f"Unsupported Media Type: {content_type}")
                return
            from urllib.parse import parse_qs, urlparse

            labels = parse_qs(urlparse(self.path).query).get("labels", [])
            self._send(200, kestra.start_execution(key[0], key[1], parts, labels))
            return
        execution = kestra.executions.get(parts[1]) if len(parts) >= 2 else None
        if execution is None:
            self._error(404, "Not Found")
            return
        if method == "GET" and len(parts) == 2:
            with kestra.changed:
                self._send(200, execution)
        elif method == "GET" and parts[2:] == ["follow"]:
            self._follow(execution)
        elif method == "DELETE" and parts[2:] == (["actions", "kill"] if kestra.major >= 2 else ["kill"]):
            with kestra.changed:
                kestra._set_state(execution, "KILLED")
                kestra.changed.notify_all()
            self._send(200 if kestra.major >= 2 else 202)
        else:
            self._error(404, "Not Found")

    def _indexed_logs(self, execution_id: str) -> list[dict[str, Any]]:
        """`GET …/logs/{executionId}`: the indexed entries at `minLevel` and above, of one `taskRunId` when
        given (1.x parameters; 2.x sends `filters[level][GREATER_THAN_OR_EQUAL_TO]`, `filters[taskRunId][EQUALS]`)."""
        from urllib.parse import parse_qs, urlparse

        kestra = self.kestra
        query = {key: values[-1] for key, values in parse_qs(urlparse(self.path).query).items()}
        level = query.get("minLevel") or query.get("filters[level][GREATER_THAN_OR_EQUAL_TO]") or "TRACE"
        task_run = query.get("taskRunId") or query.get("filters[taskRunId][EQUALS]")
        with kestra.changed:
            reads = kestra.log_reads[execution_id] = kestra.log_reads.get(execution_id, 0) + 1
            entries = list(kestra.logs[execution_id]) if reads > kestra.unindexed_log_reads else []
        return [
            entry
            for entry in entries
            if LEVELS.index(entry["level"]) >= LEVELS.index(level) and task_run in (None, entry["taskRunId"])
        ]

    def _follow_logs(self, execution_id: str) -> None:
        """`id:start` with an empty entry, then `id:progress` per entry, stored and new. The real stream
        never ends; this one ends a moment after the execution does, so a careless client is not hung."""
        kestra = self.kestra
        event = self._start_events()
        try:
            event("start", {})
            sent, ended_at = 0, None
            cut_after = kestra.drop_log_follow_after
            while True:
                with kestra.changed:
                    entries = kestra.logs[execution_id][sent:]
                    done = kestra.terminal(kestra.executions[execution_id])
                    if not entries and not done:
                        kestra.changed.wait(timeout=0.5)
                        continue
                for entry in entries:
                    if cut_after is not None and sent >= cut_after:
                        self.wfile.write(b"5\r\nid:pr")  # a frame cut short, then the connection drops
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.close()
                        return
                    event("progress", entry)
                    sent += 1
                if done:
                    ended_at = ended_at or time.monotonic()
                    if time.monotonic() - ended_at > 0.3:
                        break
                    time.sleep(0.05)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _follow(self, execution: dict[str, Any]) -> None:
        """Micronaut's SSE as Kestra sends it: the `id:` field names the event, `data:` is the execution."""
        kestra = self.kestra
        send = self._start_events()
        sent = 0

        def event(kind: str, data: Any) -> bool:
            nonlocal sent
            if kestra.drop_follow_after is not None and sent >= kestra.drop_follow_after:
                self.wfile.write(b"5\r\nid:pr")  # a frame cut short, then the connection drops
                self.wfile.flush()
                self.close_connection = True
                self.connection.close()
                return False
            send(kind, data)
            sent += 1
            return True

        try:
            if not event("start", {"id": execution["id"]}):
                return
            last = None
            while True:
                with kestra.changed:
                    snapshot = json.dumps(execution)
                    done = kestra.terminal(execution)
                    if snapshot == last and not done:
                        kestra.changed.wait(timeout=1.0)
                        continue
                last = snapshot
                if not event("end" if done else "progress", json.loads(snapshot)):
                    return
                if done:
                    break
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _plugins(self, cls: str) -> None:
        docs = self.kestra.plugin_docs
        installed = {**dict.fromkeys([*PLUGINS, *TASK_RUNNERS], ""), **docs}  # what it runs, and what it documents
        if not cls:  # one plugin per package, its classes listed as tasks or triggers
            plugins: dict[str, dict[str, Any]] = {}
            for name in installed:
                package = name.rsplit(".", 1)[0]
                plugin = plugins.setdefault(package, {"name": package, "title": package, "tasks": [], "triggers": []})
                group = "triggers" if name.endswith("Trigger") else "taskRunners" if name in TASK_RUNNERS else "tasks"
                plugin.setdefault(group, []).append({"cls": name, "deprecated": False, "title": name.rsplit(".", 1)[1]})
            listing = list(plugins.values())
            self._send(200, {"results": listing, "total": len(listing)} if self.kestra.major >= 2 else listing)
        elif cls in installed or cls in ALIASES:
            self._send(
                200,
                {"markdown": installed.get(cls, ""), "schema": {"properties": {}, "outputs": {}, "definitions": {}}},
            )
        else:
            self._error(404, f"Unable to find plugin '{cls}'")

    def _blueprints(self, rest: str) -> None:
        from urllib.parse import parse_qs, urlparse

        by_id = {b["id"]: b for b in self.kestra.blueprints}
        if not rest:
            query = parse_qs(urlparse(self.path).query)
            page, size = int(query.get("page", ["1"])[0]), int(query.get("size", ["10"])[0])
            summaries = [{k: v for k, v in b.items() if k != "source"} for b in self.kestra.blueprints]
            self._send(200, {"results": summaries[(page - 1) * size : page * size], "total": len(summaries)})
        elif rest.endswith("/source") and rest.removesuffix("/source") in by_id:
            self._send(200, by_id[rest.removesuffix("/source")]["source"].encode(), "application/yaml")
        else:
            self._error(404, "Blueprint not found")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")
