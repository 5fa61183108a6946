"""`kestra-copilot mcp`, driven as a coding agent drives it: the `mcp` SDK's own client starts `python -m copilot
mcp` as a subprocess and speaks the protocol over its stdio (once over streamable HTTP), with the data and cache
dirs in tmp_path and the loopback Kestra as the server. No network."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from copilot.cli import main
from tests.conftest import REPO
from tests.fakes.kestra import FakeKestra

READ_ONLY = {"validate_flow", "describe_plugin", "find_plugins", "search_docs", "diff_flows"}
WRITES = {"deploy_flow", "test_run_flow"}

BROKEN = """\
id: hello
namespace: company.team
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    mesage: hello
"""
HELLO = """\
id: hello
namespace: company.team
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hello
  - id: load
    type: io.kestra.plugin.core.log.Log
    message: loading
"""


def _env(**extra: str) -> dict[str, str]:
    """The test's environment (conftest points the data, cache and config at tmp_path), this checkout first."""
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


@asynccontextmanager
async def _session(env: dict[str, str]) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "copilot", "mcp"], env=env, cwd=str(REPO))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def _drive(scenario: Callable[[ClientSession], Awaitable[Any]], env: dict[str, str] | None = None) -> Any:
    async def run() -> Any:
        async with _session(env or _env()) as session:
            return await asyncio.wait_for(scenario(session), timeout=60)

    return asyncio.run(run())


def _error_text(result: Any) -> str:
    assert result.is_error, result
    return "\n".join(part.text for part in result.content)


# --- what an agent is offered ------------------------------------------------------------------------------
def test_the_tools_come_with_annotations_and_typed_schemas() -> None:
    async def scenario(session: ClientSession) -> Any:
        return (await session.list_tools()).tools, (await session.list_resources()).resources

    tools, resources = _drive(scenario)
    by_name = {tool.name: tool for tool in tools}
    assert set(by_name) == READ_ONLY | WRITES
    for name in READ_ONLY:
        assert by_name[name].annotations.read_only_hint is True, name
        assert by_name[name].annotations.destructive_hint is False, name
    for name in WRITES:  # not read-only: an agent asks the user before it calls them
        annotations = by_name[name].annotations
        assert annotations.read_only_hint is False and annotations.destructive_hint is True, name
        assert annotations.open_world_hint is True, name
    for tool in tools:
        assert tool.description and tool.output_schema, tool.name  # a typed result (structuredContent)
    validate = by_name["validate_flow"].input_schema
    assert validate["required"] == ["flow_yaml"]
    assert set(validate["properties"]) == {"flow_yaml", "kestra_version", "server_check"}
    assert set(by_name["search_docs"].input_schema["properties"]) == {"query", "k", "kind"}
    assert {str(resource.uri) for resource in resources} == {"kestra://schema/flow/1", "kestra://schema/flow/2"}


# --- read-only tools ---------------------------------------------------------------------------------------
def test_validate_points_at_each_problem_with_a_fix() -> None:
    async def scenario(session: ClientSession) -> Any:
        return await session.call_tool("validate_flow", {"flow_yaml": BROKEN, "kestra_version": 2})

    result = _drive(scenario)
    assert not result.is_error
    report = result.structured_content
    assert (report["valid"], report["verdict"], report["kestra_version"]) == (False, "invalid", 2)
    unknown = next(d for d in report["diagnostics"] if d["code"] == "unknown-property")
    assert (unknown["line"], unknown["column"], unknown["path"]) == (6, 5, "tasks[0].mesage")
    assert unknown["severity"] == "error" and "message" in unknown["hint"]
    assert any(d["code"] == "missing-property" and d["line"] == 4 for d in report["diagnostics"])


def test_validate_with_the_server_check_merges_the_servers_verdict(kestra: FakeKestra) -> None:
    async def scenario(session: ClientSession) -> Any:
        return await session.call_tool("validate_flow", {"flow_yaml": HELLO, "server_check": True})

    report = _drive(scenario).structured_content
    assert report["valid"] and report["server"].startswith("Kestra 1.3.2 at ")
    assert ("POST", "/api/v1/main/flows/validate") in kestra.requests
    assert kestra.password not in json.dumps(report)


def test_describe_and_find_plugins_from_the_catalog_without_an_index() -> None:
    async def scenario(session: ClientSession) -> Any:
        described = await session.call_tool("describe_plugin", {"type": "io.kestra.plugin.core.http.Request"})
        found = await session.call_tool("find_plugins", {"words": "postgres copy csv", "limit": 3})
        return described, found

    described, found = _drive(scenario)
    plugin = described.structured_content["plugin"]
    assert plugin["type"] == "io.kestra.plugin.core.http.Request" and plugin["kind"] == "task" and plugin["title"]
    uri = next(p for p in plugin["properties"] if p["name"] == "uri")
    assert uri["required"] and uri["type"] == "string"
    method = next(p for p in plugin["properties"] if p["name"] == "method")
    assert "POST" in method["enum"]
    assert plugin["properties"][0]["required"]  # required ones first
    names = {p["name"] for p in plugin["properties"]}  # what every task has is named once, not described again
    assert {"allowFailure", "retry", "timeout"} <= set(plugin["common_properties"]) and "allowFailure" not in names
    referred = {o["name"] for o in plugin["objects"]}  # `@Name` types resolved one level
    assert referred and all(o["properties"] for o in plugin["objects"])
    assert any(f"@{name}" in p["type"] for p in plugin["properties"] for name in referred)
    assert described.structured_content["examples"] == []
    assert "kestra-copilot index build" in described.structured_content["examples_note"]
    matches = found.structured_content["matches"]
    assert matches[0]["type"] == "io.kestra.plugin.jdbc.postgresql.CopyIn" and len(matches) == 3


def test_a_tool_error_is_the_clis_message_and_the_server_goes_on() -> None:
    async def scenario(session: ClientSession) -> Any:
        missing = await session.call_tool("search_docs", {"query": "run on a cron schedule"})
        unknown = await session.call_tool("describe_plugin", {"type": "io.kestra.plugin.core.log.Lgo"})
        after = await session.call_tool("find_plugins", {"words": "cron schedule"})
        return missing, unknown, after

    missing, unknown, after = _drive(scenario)
    said = _error_text(missing)
    assert "has not been built yet" in said and "hint: Build it with `kestra-copilot index build`" in said
    assert "Did you mean" in _error_text(unknown) and "io.kestra.plugin.core.log.Log" in _error_text(unknown)
    assert not after.is_error  # still serving
    assert after.structured_content["matches"][0]["type"] == "io.kestra.plugin.core.trigger.Schedule"


def test_diff_and_the_schema_resource() -> None:
    async def scenario(session: ClientSession) -> Any:
        changed = HELLO.replace("message: loading", "message: loading now")
        diff = await session.call_tool("diff_flows", {"old_yaml": HELLO, "new_yaml": changed})
        schema = await session.read_resource("kestra://schema/flow/2")
        return diff, schema

    diff, schema = _drive(scenario)
    report = diff.structured_content
    assert report["changed"] and "+    message: loading now" in report["unified"]
    assert any("load" in line for line in report["summary"])
    content = schema.contents[0]
    assert content.mime_type == "application/schema+json"
    assert "definitions" in json.loads(content.text)


def test_search_a_small_index_and_describe_with_its_examples() -> None:
    from copilot.config import load_settings
    from copilot.retrieval.chunks import Chunk
    from copilot.retrieval.index import Index

    settings = load_settings()
    load = "io.kestra.plugin.gcp.bigquery.Load"
    chunks = [
        Chunk(
            "Run a flow on a cron schedule with the Schedule trigger.",
            "doc",
            "docs",
            "Schedule trigger",
            "docs/schedule.md",
        ),
        Chunk("Store credentials as secrets and read them with secret().", "doc", "docs", "Secrets", "docs/secrets.md"),
        Chunk(
            f"Load a file into a BigQuery table with {load}.",
            "plugin-doc",
            "plugins",
            "BigQuery Load",
            "plugins/load.md",
            (load,),
        ),
        Chunk(  # its reference page's properties section, as the Markdown chunker cuts it
            "#### `destinationTable`\n\n- Java type: `Property<String>`\n\nThe table to load into, as "
            "project.dataset.table.\n\n#### `format`\n\n- Java type: `Format`\n- Default: `CSV`\n\nThe format "
            "of the file.",
            "plugin-doc",
            "plugins",
            "BigQuery Load > Properties",
            "plugins/load.md#properties",
            (load,),
        ),
        Chunk(
            f"```yaml\nid: taxi\ntasks:\n  - id: load\n    type: {load}\n```",
            "flow",
            "flows",
            "Flow taxi",
            "flows/taxi.yml",
            (load,),
        ),
    ]
    Index(settings.index_dir, cache_dir=settings.cache_dir).build(chunks, sources={"docs": "memory"})

    async def scenario(session: ClientSession) -> Any:
        search = await session.call_tool("search_docs", {"query": "run every day on a cron schedule", "k": 2})
        flows = await session.call_tool("search_docs", {"query": "bigquery", "kind": "flow"})  # one kind, as a string
        described = await session.call_tool("describe_plugin", {"type": load})
        return search, flows, described

    search, flows, described = _drive(scenario)
    hits = search.structured_content["hits"]
    assert len(hits) == 2 and hits[0]["title"] == "Schedule trigger"
    assert {"rank", "kind", "title", "source", "location", "score", "text"} <= set(hits[0])
    assert hits[0]["location"] == "docs/schedule.md" and hits[0]["source"] == "docs"
    assert [hit["kind"] for hit in flows.structured_content["hits"]] == ["flow"]
    said = {p["name"]: p["title"] for p in described.structured_content["plugin"]["properties"]}
    assert said["destinationTable"] == "The table to load into, as project.dataset.table."  # from its plugin doc
    assert said["format"] == "The format of the file."
    examples = described.structured_content["examples"]
    assert {example["kind"] for example in examples} == {"plugin-doc", "flow"}
    assert described.structured_content["examples_note"] is None


# --- writes: off unless mcp_writes ---------------------------------------------------------------------------
def test_writes_are_refused_with_how_to_enable_them(kestra: FakeKestra) -> None:
    async def scenario(session: ClientSession) -> Any:
        run = await session.call_tool("test_run_flow", {"flow_yaml": HELLO})
        deploy = await session.call_tool("deploy_flow", {"flow_yaml": HELLO})
        return run, deploy

    run, deploy = _drive(scenario)
    for result in (run, deploy):
        said = _error_text(result)
        assert "mcp_writes" in said and "KESTRA_COPILOT_MCP_WRITES=true" in said
    assert kestra.flows == {} and kestra.executions == {}


def test_a_test_run_with_writes_on_returns_the_verdict_and_the_failing_task(kestra: FakeKestra) -> None:
    kestra.outcomes["load"] = "FAILED"
    kestra.task_logs["load"] = [("ERROR", "connection refused, password=hunter2hunter2")]

    async def scenario(session: ClientSession) -> Any:
        failed = await session.call_tool("test_run_flow", {"flow_yaml": HELLO})
        kestra.outcomes.clear()
        passed = await session.call_tool("test_run_flow", {"flow_yaml": HELLO})
        return failed, passed

    failed, passed = _drive(scenario, _env(KESTRA_COPILOT_MCP_WRITES="true"))
    report = failed.structured_content
    assert not failed.is_error and (report["passed"], report["state"]) == (False, "FAILED")
    assert (report["namespace"], report["flow_id"], report["failing_task"]) == (
        "company.team.copilot_test",
        "hello",
        "load",
    )
    assert any("connection refused" in line for line in report["error_lines"])
    assert "hunter2hunter2" not in json.dumps(report)  # redacted
    assert report["execution_link"].startswith(kestra.url) and report["execution_id"] in report["execution_link"]
    assert report["approved"][0].startswith("Test-run company.team.copilot_test/hello")
    assert report["cleaned_up"].startswith("deleted ")
    assert passed.structured_content["passed"] and passed.structured_content["state"] == "SUCCESS"
    assert kestra.flows == {}  # each test copy deleted after its run; the team's namespace never touched


def test_a_deploy_outside_the_allow_list_is_refused(kestra: FakeKestra) -> None:
    async def scenario(session: ClientSession) -> Any:
        refused = await session.call_tool("deploy_flow", {"flow_yaml": HELLO})
        deployed = await session.call_tool("deploy_flow", {"flow_yaml": HELLO, "namespace": "sandbox.agent"})
        return refused, deployed

    env = _env(KESTRA_COPILOT_MCP_WRITES="true", KESTRA_COPILOT_DEPLOY_NAMESPACES="sandbox")
    refused, deployed = _drive(scenario, env)
    said = _error_text(refused)
    assert "company.team" in said and "deploy_namespaces" in said
    report = deployed.structured_content
    assert (report["status"], report["namespace"], report["revision"]) == ("deployed", "sandbox.agent", 1)
    assert report["link"].startswith(kestra.url) and report["capabilities"]
    assert list(kestra.flows) == [("sandbox.agent", "hello")]


def test_with_writes_on_a_deploy_needs_an_allow_list_and_an_invalid_flow_says_why(kestra: FakeKestra) -> None:
    """An agent deploys only where the user said it may; a test-run refused for an invalid flow lists the
    problems, so the agent can fix them."""
    broken = HELLO.replace("message:", "mesage:")

    async def scenario(session: ClientSession) -> Any:
        deploy = await session.call_tool("deploy_flow", {"flow_yaml": HELLO})
        run = await session.call_tool("test_run_flow", {"flow_yaml": broken})
        return deploy, run

    deploy, run = _drive(scenario, _env(KESTRA_COPILOT_MCP_WRITES="true"))
    assert "until the user sets deploy_namespaces" in _error_text(deploy)
    said = _error_text(run)
    assert "does not validate" in said and "unknown-property" in said and "mesage" in said
    assert kestra.flows == {} and kestra.executions == {}


# --- the command line and HTTP -----------------------------------------------------------------------------
def test_a_host_that_is_not_loopback_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mcp", "--http", "0.0.0.0:8765"]) == 2
    err = capsys.readouterr().err
    assert "not a loopback address" in err and "--allow-remote" in err
    assert main(["mcp", "--allow-remote"]) == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_port_in_use_is_said_as_the_cli_says_things(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["mcp", "--http", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"Cannot listen on 127.0.0.1:{port}" in err and "hint: Choose another port" in err


def test_the_streamable_http_transport_on_loopback(tmp_path: Path) -> None:
    from mcp.client.streamable_http import streamable_http_client

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "copilot", "mcp", "--http", str(port)],
        env=_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "server.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            time.sleep(0.1)

        async def call() -> Any:
            url = f"http://127.0.0.1:{port}/mcp"
            async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                return await session.call_tool("find_plugins", {"words": "cron schedule", "limit": 1})

        result = asyncio.run(asyncio.wait_for(call(), timeout=30))
        assert result.structured_content["matches"][0]["type"] == "io.kestra.plugin.core.trigger.Schedule"
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert server.stdout is not None and server.stdout.read() == b""  # logs go to stderr


def test_what_a_plugin_doc_says_of_each_property_is_read_whole_or_chunked() -> None:
    from copilot.lookup import property_notes
    from copilot.retrieval.markdown import chunk_markdown
    from tests.conftest import shared_path

    page = shared_path("kestra-plugin-docs", "reference", "plugin-aws", "io.kestra.plugin.aws.sqs.Trigger.md")
    text = page.read_text(encoding="utf-8")
    whole = property_notes([text])
    chunked = property_notes(c.text for c in chunk_markdown(text, source="aws", location=str(page), kind="plugin-doc"))
    assert whole == chunked and whole["queueUrl"] == "Queue url" and len(whole) > 10
    assert not any(note.startswith("- ") for note in whole.values())  # not a `- Java type:` line
