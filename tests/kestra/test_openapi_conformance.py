"""Every request the client sends, and every answer the loopback Kestra gives, checked against Kestra's
own OpenAPI specs (../shared/kestra-api/: EE 1.3.0 for 1.x, EE 2.0.0-SNAPSHOT for 2.x):

- the path (matched against the spec's templates) and the method exist;
- every query parameter is declared; a request body's content type is one the operation accepts;
- a success status is one the operation declares (the specs declare few error statuses, so 4xx/5xx are
  checked for their body shape by the client tests instead);
- a JSON answer validates against the operation's response schema (OpenAPI 3.0 `nullable` made JSON
  Schema), and its content type is the declared one.

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


def check_exchange(major: int, exchange: dict[str, Any]) -> None:
    method, path, status = exchange["method"], exchange["path"], exchange["status"]
    template, op = operation(major, method, path)
    where = f"{method} {template} → {status}"
    declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
    undeclared = {name.split("[", 1)[0] for name in exchange["query"]} - declared  # filters[a][b] is `filters`
    assert not undeclared, f"{where}: query parameters {undeclared} are not in the spec"
    if exchange["request_type"] and method in ("POST", "PUT"):
        accepted = set((op.get("requestBody") or {}).get("content", {}))
        sent = exchange["request_type"].split(";")[0].strip()
        assert sent in accepted, f"{where}: request content type {sent} not in {accepted}"
    if status >= 400:
        return
    responses = op.get("responses", {})
    assert str(status) in responses, f"{where}: status {status} not declared ({sorted(responses)})"
    content = responses[str(status)].get("content") or {}
    if exchange["response_type"] is None or not content:
        return
    kind = exchange["response_type"].split(";")[0]
    assert kind in content, f"{where}: answered {kind}, the spec says {sorted(content)}"
    if kind != "application/json" or "schema" not in content[kind]:
        return
    pointer = _pointer("paths", template, method.lower(), "responses", str(status), "content", kind, "schema")
    validator = jsonschema.Draft7Validator({"$ref": f"{SPEC_URI}#/{pointer}"}, registry=registry(major))
    errors = sorted(validator.iter_errors(json.loads(exchange["body"])), key=lambda e: list(e.path))
    assert not errors, f"{where}: the answer does not match the spec: " + "; ".join(
        f"{e.message} at {list(e.path)}" for e in errors[:8]
    )


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
        [execution async for execution in client.follow(started.id)]
        if await client.major() >= 2:  # the 1.3 spec leaves the (existing) log stream route out
            [entry async for entry in client.follow_logs(started.id)]
        await client.execution(started.id)
        await client.logs(started.id)
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
    with FakeKestra(version=version, step_seconds=0.05, plugin_docs=docs, blueprints=blueprints) as kestra:
        asyncio.run(scenario(kestra, tmp_path))
        exchanges = list(kestra.exchanges)
    major = int(version[0])
    assert len(exchanges) >= 20
    for exchange in exchanges:
        if exchange["status"] == 404 and exchange["path"].endswith("/kill"):
            continue  # the client's 1.x route tried first on a 2.x server
        check_exchange(major, exchange)
    methods = {(e["method"], operation(major, e["method"], e["path"])[0]) for e in exchanges if e["status"] < 400}
    assert ("GET", "/api/v1/{tenant}/executions/{executionId}/follow") in methods


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
