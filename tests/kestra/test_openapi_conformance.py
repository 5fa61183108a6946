"""Every request the client sends, and every answer the loopback Kestra gives, checked against Kestra's
own OpenAPI specs (../shared/kestra-api/: EE 1.3.0 for 1.x, EE 2.0.0-SNAPSHOT for 2.x):

- the path (matched against the spec's templates) and the method exist;
- every query parameter is declared; a request body's content type is one the operation accepts, and
  a request without a body is one whose body the spec does not require;
- a success status is one the operation declares, and a JSON answer validates against the operation's
  response schema (OpenAPI 3.0 `nullable` made JSON Schema), its content type the declared one;
- an SSE answer's events: the JSON of each `data:` line validates against the schema of the declared
  `Event<…>`'s `data` (Execution for execution follow, FollowLogEvent / LogEntry for log follow);
- an error answer validates against the operation's schema for that status where the spec declares
  one, else against the error shape the server version uses, which the specs leave out: Micronaut's
  JsonError on 1.x (an empty body allowed: bare 401s and 404s), an RFC 9457 problem on 2.x (always a
  body, `application/problem+json`).

So the fake cannot drift from Kestra's API, and neither can the client.
"""

from __future__ import annotations

import asyncio
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from copilot.kestra import KestraClient, KestraNotFound, KestraRejected
from tests.conftest import shared_path
from tests.fakes.kestra import FakeKestra
from tests.kestra.test_flows_executions import FLOW

SPECS = {1: "kestra-ee-openapi-1.3.0.yaml", 2: "kestra-ee-openapi-2.0.0-SNAPSHOT.yml"}
SPEC_URI = "urn:kestra-openapi"
# The error bodies the specs do not declare, from Kestra's sources: 1.x webserver/controllers/
# ErrorController.java (Micronaut's hateoas JsonError), 2.x webserver/errors/ProblemDetail.java and
# ProblemError.java (both @JsonInclude NON_EMPTY).
JSON_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {"type": "string", "minLength": 1},
        "_links": {"type": "object", "properties": {"self": {"type": "object", "required": ["href"]}}},
        "_embedded": {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["message"],
                        "properties": {"message": {"type": "string"}, "path": {"type": "string"}},
                    },
                }
            },
        },
    },
}
PROBLEM_DETAIL: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "pattern": "^https://kestra\\.io/docs/api-reference/problems/[a-z-]+$"},
        "title": {"type": "string", "minLength": 1},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "minLength": 1},
        "instance": {"type": "string", "pattern": "^/"},
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "anyOf": [{"required": ["detail"]}, {"required": ["type"]}],
                "properties": {
                    "detail": {"type": "string"},
                    "pointer": {"type": "string", "pattern": "^(/[^/]*)*$"},
                    "path": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
        "traceId": {"type": "string", "minLength": 1},
    },
}
# Routes that exist on the server but not in its spec: the 1.3 spec leaves the log stream out.
UNDECLARED_STREAMS = {(1, r"/api/v1/[^/]+/logs/[^/]+/follow"): "LogEntry"}


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a null alternative; `pattern`s are dropped
    (Java regexes, `\\p{L}` and the like, which Python's `re` cannot compile); two generator artifacts
    are undone: a bare `type: object` is Java's `Object` (any value), and required `getX` names are getters."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items() if key not in ("nullable", "pattern")}
    if out == {"type": "object"}:  # Java `Object` (any JSON value), not a JSON object
        return {}
    if isinstance(out.get("required"), list):  # getters the generator listed as required properties
        out["required"] = [name for name in out["required"] if not re.match(r"get[A-Z]", name)]
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def spec(major: int) -> dict[str, Any]:
    path = shared_path("kestra-api", SPECS[major])
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@cache
def registry(major: int) -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(_json_schema(spec(major)), DRAFT7))


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def operation(major: int, method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The spec's path template matching `path` (literal segments preferred) and its operation."""
    matches = []
    for template, item in spec(major)["paths"].items():
        pattern = "^" + re.sub(r"\\{[^}/]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            matches.append((template.count("{"), template, item))
    assert matches, f"{method} {path}: no such path in {SPECS[major]}"
    _, template, item = min(matches)
    op = item.get(method.lower())
    assert op is not None, f"{method} {template}: the spec has no such operation"
    return template, op


def _validate(major: int, schema: dict[str, Any], value: Any, where: str) -> None:
    validator = jsonschema.Draft7Validator(schema, registry=registry(major))
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    assert not errors, f"{where}: the answer does not match the spec: " + "; ".join(
        f"{e.message} at {list(e.path)}" for e in errors[:8]
    )


def _ref(*parts: str) -> dict[str, Any]:
    return {"$ref": f"{SPEC_URI}#/{_pointer(*parts)}"}


def check_exchange(major: int, exchange: dict[str, Any]) -> None:
    method, path, status = exchange["method"], exchange["path"], exchange["status"]
    for (version, pattern), component in UNDECLARED_STREAMS.items():
        if version == major and method == "GET" and re.fullmatch(pattern, path):
            check_events(major, exchange, _ref("components", "schemas", component), f"{method} {path}")
            return
    template, op = operation(major, method, path)
    where = f"{method} {template} → {status}"
    declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
    undeclared = {name.split("[", 1)[0] for name in exchange["query"]} - declared  # filters[a][b] is `filters`
    assert not undeclared, f"{where}: query parameters {undeclared} are not in the spec"
    if method in ("POST", "PUT"):
        body = op.get("requestBody") or {}
        if exchange["request_type"]:
            sent = exchange["request_type"].split(";")[0].strip()
            accepted = set(body.get("content", {}))
            assert sent in accepted, f"{where}: request content type {sent} not in {accepted}"
        else:
            assert not body.get("required"), f"{where}: the spec requires a request body, none was sent"
    responses = op.get("responses", {})
    if status >= 400:
        check_error(major, exchange, responses.get(str(status)), template, where)
        return
    assert str(status) in responses, f"{where}: status {status} not declared ({sorted(responses)})"
    content = responses[str(status)].get("content") or {}
    if exchange["response_type"] is None or not content:
        return
    kind = exchange["response_type"].split(";")[0]
    assert kind in content, f"{where}: answered {kind}, the spec says {sorted(content)}"
    if "schema" not in content[kind]:
        return
    schema = _ref("paths", template, method.lower(), "responses", str(status), "content", kind, "schema")
    if kind == "text/event-stream":
        check_events(major, exchange, _event_data_schema(major, content[kind]["schema"]), where)
    elif kind == "application/json":
        _validate(major, schema, json.loads(exchange["body"]), where)


def _event_data_schema(major: int, declared: dict[str, Any]) -> dict[str, Any]:
    """The schema of an `Event<T>`'s `data` (Micronaut's Event: data, id, name, comment, retry)."""
    ref = declared.get("$ref", "")
    assert ref.startswith("#/components/schemas/Event_"), f"not an SSE event schema: {declared}"
    name = ref.rsplit("/", 1)[1]
    assert "data" in spec(major)["components"]["schemas"][name]["properties"], f"{name} has no data"
    return _ref("components", "schemas", name, "properties", "data")


def check_events(major: int, exchange: dict[str, Any], data_schema: dict[str, Any], where: str) -> None:
    """Each event's `data:` JSON against the declared schema; `start` is Kestra's stub (the execution's
    id alone for an execution, an empty entry for logs), not a whole object."""
    assert exchange["response_type"] == "text/event-stream", f"{where}: not an event stream"
    events = exchange["events"]
    assert events and events[0][0] == "start", f"{where}: the stream does not begin with id:start"
    start = events[0][1]
    assert start == {} or set(start) == {"id"}, f"{where}: the start event carries {start}"
    for kind, data in events[1:]:
        assert kind in ("progress", "end"), f"{where}: an event of kind {kind!r}"
        _validate(major, data_schema, data, f"{where} (event {kind})")


def check_error(major: int, exchange: dict[str, Any], declared: dict[str, Any] | None, template: str,
                where: str) -> None:  # fmt: skip
    """An error body: the operation's schema for it when the spec has one, else the version's shape."""
    content = (declared or {}).get("content") or {}
    raw, kind = exchange["body"], (exchange["response_type"] or "").split(";")[0]
    if kind in content and "schema" in content[kind]:
        schema = _ref("paths", template, exchange["method"].lower(), "responses", str(exchange["status"]),
                      "content", kind, "schema")  # fmt: skip
        _validate(major, schema, json.loads(raw), where)
        return
    if major < 2:
        if raw:
            assert kind == "application/json", f"{where}: a JsonError is application/json, not {kind}"
            _validate(major, JSON_ERROR, json.loads(raw), where)
        return
    assert raw and kind == "application/problem+json", f"{where}: 2.x answers every error with a problem"
    problem = json.loads(raw)
    _validate(major, PROBLEM_DETAIL, problem, where)
    assert problem["status"] == exchange["status"], f"{where}: the problem says status {problem['status']}"
    assert problem["instance"] == exchange["path"], f"{where}: the problem's instance is {problem['instance']}"
    if exchange["status"] >= 500:
        assert "traceId" in problem and "errors" not in problem, f"{where}: a 5xx problem carries only a traceId"


async def scenario(kestra: FakeKestra, tmp_path: Path) -> None:
    """Everything the client does, once."""
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    async with KestraClient(kestra.url, username=kestra.username, password=kestra.password) as client:
        await client.server_info()
        await client.validate(FLOW)
        assert await client.get_flow("company.team", "hello") is None
        await client.deploy(FLOW, "company.team", "hello")
        await client.deploy(FLOW.replace('"42"', '"43"'), "company.team", "hello")
        with pytest.raises(KestraRejected):
            await client.deploy(FLOW.replace("format:", "colour:"), "company.team", "hello")
        await client.get_flow("company.team", "hello")
        started = await client.execute(
            "company.team", "hello", inputs={"who": "me"}, files={"data": data}, labels={"env": "test"}
        )
        *_, ended = [execution async for execution in client.follow(started.id)]
        [entry async for entry in client.follow_logs(started.id)]
        await client.execution(started.id)
        await client.logs(started.id)
        assert await client.task_run_logs(started.id, ended.task_runs[0].id)
        running = await client.execute("company.team", "hello", inputs={"who": "me"})
        await client.kill(running.id)
        await client.kv_set("company.team", "last_run", "2024-01-01")
        assert await client.kv_get("company.team", "last_run") == "2024-01-01"
        assert await client.kv_get("company.team", "missing") is None
        await client.upload_namespace_file("company.team", "/scripts/etl.py", b"print('hi')\n")
        await client.flow_schema()
        await client.plugins()
        await client.plugin_markdown("io.kestra.plugin.core.log.Log")
        for item in await client.community_blueprints(page_size=2):
            await client.blueprint_source(str(item["id"]))
        await client.delete_flow("company.team", "hello")
        with pytest.raises(KestraNotFound):
            await client.execute("company.team", "hello")


@pytest.mark.parametrize("version", ["1.3.2", "2.0.0"])
def test_client_and_fake_follow_kestras_openapi_spec(version: str, tmp_path: Path) -> None:
    blueprints = [
        {"id": str(n), "title": f"Blueprint {n}", "description": "d", "tags": ["demo"], "source": FLOW}
        for n in range(3)
    ]
    docs = {"io.kestra.plugin.core.log.Log": "# Log\n\nLogs a message.\n"}
    logs = {"greet": [("INFO", "Hello me")], "answer": [("WARN", "slow")]}
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {}}
    with FakeKestra(
        version=version, step_seconds=0.05, plugin_docs=docs, blueprints=blueprints, task_logs=logs, flow_schema=schema
    ) as kestra:
        asyncio.run(scenario(kestra, tmp_path))
        exchanges = list(kestra.exchanges)
    major = int(version[0])
    assert len(exchanges) >= 20
    for exchange in exchanges:
        check_exchange(major, exchange)
    streams = {e["path"].split("/")[4]: len(e["events"]) for e in exchanges if e["events"]}
    assert streams.keys() == {"executions", "logs"} and min(streams.values()) >= 2  # events past `start` checked
    errors = {(e["method"], e["status"]) for e in exchanges if e["status"] >= 400}
    assert {("POST", 422), ("GET", 404)} <= errors  # refused flows and missing resources were checked too


def test_the_checker_catches_drift() -> None:
    """The checker is not a rubber stamp: an undeclared parameter, a wrong body and an unknown path fail."""
    shared_path("kestra-api")
    base = {"method": "GET", "path": "/api/v1/main/executions/abc", "query": {}, "request_type": None,
            "status": 200, "response_type": "application/json"}  # fmt: skip
    with pytest.raises(AssertionError, match="query parameters"):
        check_exchange(1, {**base, "query": {"bogus": ["1"]}, "body": b"{}"})
    with pytest.raises(AssertionError, match="does not match the spec"):
        check_exchange(1, {**base, "body": json.dumps({"id": 5, "state": "nope"}).encode()})
    with pytest.raises(AssertionError, match="no such path"):
        check_exchange(1, {**base, "path": "/api/v1/main/nothing/here", "body": b"{}"})
    put = {**base, "method": "PUT", "path": "/api/v1/main/namespaces/n/kv/k", "response_type": None, "body": b""}
    check_exchange(1, {**put, "request_type": "text/plain"})
    with pytest.raises(AssertionError, match="requires a request body"):
        check_exchange(1, put)
    with pytest.raises(AssertionError, match="request content type application/json not in"):
        check_exchange(1, {**put, "request_type": "application/json"})


def test_the_checker_catches_wrong_error_bodies_and_events() -> None:
    shared_path("kestra-api")
    base = {"method": "GET", "path": "/api/v1/main/executions/abc", "query": {}, "request_type": None,
            "status": 404, "response_type": "application/json", "events": []}  # fmt: skip
    problem = {"type": "https://kestra.io/docs/api-reference/problems/not-found", "title": "Resource not found",
               "status": 404, "detail": "Resource not found", "instance": base["path"]}  # fmt: skip
    check_exchange(1, {**base, "body": json.dumps({"message": "Not Found"}).encode()})
    check_exchange(1, {**base, "response_type": None, "body": b""})  # a bare 404
    check_exchange(2, {**base, "response_type": "application/problem+json", "body": json.dumps(problem).encode()})
    with pytest.raises(AssertionError, match="does not match"):  # a problem is not a 1.x error
        check_exchange(1, {**base, "body": json.dumps(problem).encode()})
    with pytest.raises(AssertionError, match="every error with a problem"):  # nor a JsonError a 2.x one
        check_exchange(2, {**base, "body": json.dumps({"message": "Not Found"}).encode()})
    with pytest.raises(AssertionError, match="does not match"):
        bad = {**problem, "errors": [{"pointer": "tasks.0"}]}
        check_exchange(2, {**base, "response_type": "application/problem+json", "body": json.dumps(bad).encode()})
    follow = {**base, "path": "/api/v1/main/executions/abc/follow", "status": 200, "response_type": "text/event-stream",
              "body": None}  # fmt: skip
    with pytest.raises(AssertionError, match=r"event end.*does not match"):
        check_exchange(1, {**follow, "events": [("start", {"id": "abc"}), ("end", {"id": "abc", "state": "SUCCESS"})]})
    with pytest.raises(AssertionError, match="begin with id:start"):
        check_exchange(2, {**follow, "events": [("progress", {"id": "abc"})]})
