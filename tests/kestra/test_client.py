"""The real Kestra client against the loopback Kestra double: auth, tenant routes, validation, errors."""

import asyncio
import json
import re

import httpx
import pytest

from copilot.flows import parse_flow
from copilot.kestra import (
    KestraAuthError,
    KestraClient,
    KestraNotFound,
    KestraRejected,
    KestraServerError,
    KestraUnavailable,
    server_diagnostics,
)
from copilot.kestra.errors import error_from_response
from tests.fakes.kestra import FakeKestra

FLOW = """\
id: hello
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    mesage: hi
  - id: private
    type: io.kestra.plugin.acme.Private
"""


def run(coro):
    return asyncio.run(coro)


@pytest.fixture()
def kestra():
    with FakeKestra() as fake:
        yield fake


def client(fake: FakeKestra, **kwargs) -> KestraClient:
    options = {"username": fake.username, "password": fake.password, **kwargs}
    return KestraClient(fake.url, **options)


def test_server_info_reads_the_version(kestra: FakeKestra) -> None:
    async def go():
        async with client(kestra) as c:
            return await c.server_info()

    info = run(go())
    assert (info.version, info.major) == ("1.3.2", 1)


def test_bearer_token_is_sent(kestra: FakeKestra) -> None:
    kestra.api_token = "tok-123"

    async def go():
        async with KestraClient(kestra.url, api_token="tok-123") as c:
            return await c.server_info()

    assert run(go()).major == 1


def test_wrong_credentials_say_what_to_check(kestra: FakeKestra) -> None:
    async def go():
        async with client(kestra, password="nope") as c:
            await c.server_info()

    with pytest.raises(KestraAuthError) as caught:
        run(go())
    assert caught.value.status == 401 and "KESTRA_USERNAME" in (caught.value.hint or "")


def test_a_server_that_is_down_is_reported_plainly() -> None:
    with FakeKestra() as fake:
        url = fake.url  # the port is free again once the server stops

    async def go():
        async with KestraClient(url, username="u", password="p", timeout=httpx.Timeout(2.0)) as c:
            await c.server_info()

    with pytest.raises(KestraUnavailable) as caught:
        run(go())
    assert url in str(caught.value) and "KESTRA_URL" in (caught.value.hint or "")


@pytest.mark.parametrize("version", ["1.3.2", "2.0.1"])
def test_server_errors_carry_kestras_words_in_both_shapes(version: str) -> None:
    with FakeKestra(version=version, fail_with=500) as fake:

        async def go():
            async with client(fake) as c:
                await c.server_info()

        with pytest.raises(KestraServerError) as caught:
            run(go())
    if version.startswith("1."):  # JsonError: the cause, as the server words it
        assert "Internal server error: the fake is told to fail" in str(caught.value)
    else:  # problem+json never tells the cause of a 5xx, only a traceId to quote
        assert re.search(r"Quote the traceId when contacting support\. \(traceId [0-9a-f]{32}\)", str(caught.value))


@pytest.mark.parametrize("version", ["1.3.2", "2.0.1"])
def test_a_flow_kestra_cannot_save_is_refused_with_every_field_error(version: str) -> None:
    async def go(fake: FakeKestra) -> None:
        async with client(fake) as c:
            await c.deploy(FLOW, "company.team", "hello")

    with FakeKestra(version=version) as fake, pytest.raises(KestraRejected) as caught:
        run(go(fake))
    [answer] = [e for e in fake.exchanges if e["status"] == 422]
    body = json.loads(answer["body"])
    said = str(caught.value)
    if version.startswith("1."):
        assert answer["response_type"] == "application/json"
        assert body["_embedded"]["errors"][1:] == [
            {"message": "must not be null", "path": "tasks[0].message"},
            {"message": "must not be null", "path": "tasks[1].endpoint"},
        ]
        expected = ['tasks[0].mesage: Unrecognized field "mesage"', "tasks[0].message: must not be null",
                    "tasks[1].endpoint: must not be null"]  # fmt: skip
    else:
        assert answer["response_type"] == "application/problem+json"
        assert (body["type"], body["title"], body["status"]) == (
            "https://kestra.io/docs/api-reference/problems/validation-failed", "Validation failed", 422)  # fmt: skip
        assert body["detail"] != body["title"] and body["instance"] == "/api/v1/main/flows"
        assert body["errors"][1:] == [
            {"detail": "must not be null", "pointer": "/tasks/0/message", "path": "tasks[log].message"},
            {"detail": "must not be null", "pointer": "/tasks/1/endpoint", "path": "tasks[private].endpoint"},
        ]
        # the detail names items by index, the field errors by id: those are the message
        expected = ['tasks[log].mesage: Unrecognized field "mesage"', "tasks[log].message: must not be null",
                    "tasks[private].endpoint: must not be null"]  # fmt: skip
        assert "tasks[1]" not in said
    assert all(part in said for part in expected), said
    assert said.startswith("Kestra refused to deploy company.team/hello (422): ")


def _answer(status: int, body: dict, content_type: str = "application/problem+json") -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"Content-Type": content_type})


def test_field_errors_are_the_message_when_the_detail_says_nothing() -> None:
    # ProblemFactory.responseWithoutMessage: the detail falls back to the title, the fields say what is wrong
    problem = {"type": "https://kestra.io/docs/api-reference/problems/validation-failed", "title": "Validation failed",
               "status": 422, "detail": "Validation failed", "instance": "/api/v1/main/flows",
               "errors": [{"detail": "must not be null", "pointer": "/tasks/0/uri", "path": "tasks[get].uri"},
                          {"detail": "must match \"^[a-z0-9][a-z0-9._-]*$\"", "pointer": "/namespace"}]}  # fmt: skip
    error = error_from_response(_answer(422, problem), "deploy a.b")
    assert isinstance(error, KestraRejected) and error.status == 422
    assert str(error) == (
        "Kestra refused to deploy a.b (422): Validation failed; tasks[get].uri: must not be null; "
        '/namespace: must match "^[a-z0-9][a-z0-9._-]*$".'
    )


def test_a_field_error_with_the_same_words_as_another_is_kept() -> None:
    json_error = {"message": "Invalid entity: tasks[0].message: must not be null",
                  "_links": {"self": {"href": "/api/v1/main/flows", "templated": False}},
                  "_embedded": {"errors": [{"message": "must not be null", "path": "tasks[0].message"},
                                           {"message": "must not be null", "path": "tasks[1].uri"}]}}  # fmt: skip
    error = error_from_response(_answer(422, json_error, "application/json"), "deploy a.b")
    assert str(error).endswith("Invalid entity: tasks[0].message: must not be null; tasks[1].uri: must not be null.")


@pytest.mark.parametrize("version", ["1.3.2", "2.0.1"])
def test_a_bare_404_is_not_found_in_both_versions(version: str) -> None:
    async def go(fake: FakeKestra) -> None:
        async with client(fake) as c:
            await c.delete_flow("company.team", "nope")

    with FakeKestra(version=version) as fake, pytest.raises(KestraNotFound) as caught:
        run(go(fake))
    [answer] = [e for e in fake.exchanges if e["status"] == 404]
    if version.startswith("1."):
        assert answer["body"] == b""  # the route's empty 404
    else:  # filled in by the ProblemResponseFilter
        assert json.loads(answer["body"])["type"].endswith("/not-found")
    assert "KESTRA_TENANT" in (caught.value.hint or "")


def test_validate_posts_yaml_to_the_tenant_route_and_places_constraints(kestra: FakeKestra) -> None:
    async def go():
        async with client(kestra) as c:
            return await c.validate(FLOW)

    [verdict] = run(go())
    assert ("POST", "/api/v1/main/flows/validate") in kestra.requests
    assert not verdict.valid and verdict.flow == "hello"
    diagnostics = server_diagnostics(verdict, parse_flow(FLOW), "Kestra 1.3.2")
    placed = sorted((d.line, d.code) for d in diagnostics)
    # the Jackson error at the stray key's line, the bean-validation ones at their tasks
    assert placed == [(4, "server-constraint"), (6, "server-constraint"), (7, "server-constraint")]
    assert any('Unrecognized field "mesage"' in d.message for d in diagnostics)


def test_2x_names_list_items_by_id() -> None:
    with FakeKestra(version="2.0.1") as fake:

        async def go():
            async with client(fake) as c:
                return await c.validate(FLOW.replace("    mesage: hi\n", ""))

        [verdict] = run(go())
    assert any(c.startswith("tasks[log].message") for c in verdict.constraints)
    diagnostics = server_diagnostics(verdict, parse_flow(FLOW), "Kestra 2.0.1")
    assert (4, "server-constraint") in {(d.line, d.code) for d in diagnostics}


def test_unknown_type_is_placed_at_its_type_line(kestra: FakeKestra) -> None:
    text = FLOW.replace("io.kestra.plugin.acme.Private", "io.kestra.plugin.acme.Nope")

    async def go():
        async with client(kestra) as c:
            return await c.validate(text)

    [verdict] = run(go())
    lines = {d.line for d in server_diagnostics(verdict, parse_flow(text), "k") if "Invalid type" in d.message}
    assert lines == {8}


def test_warnings_and_infos_come_through(kestra: FakeKestra) -> None:
    text = (
        "id: a\nnamespace: n\ntasks:\n  - id: l\n    type: io.kestra.core.tasks.log.Log\n    message: hi\n"
        "  - id: s\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: n\n    flowId: missing\n"
    )

    async def go():
        async with client(kestra) as c:
            return await c.validate(text)

    [verdict] = run(go())
    codes = sorted(d.code for d in server_diagnostics(verdict, parse_flow(text), "k"))
    assert verdict.valid and codes == ["server-info", "server-warning"]


def test_a_url_without_scheme_is_a_config_error() -> None:
    from copilot.errors import ConfigError

    with pytest.raises(ConfigError):
        KestraClient("localhost:8080")
