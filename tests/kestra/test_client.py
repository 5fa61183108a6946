"""The real Kestra client against the loopback Kestra double: auth, tenant routes, validation, errors."""

import asyncio

import httpx
import pytest

from copilot.flows import parse_flow
from copilot.kestra import (
    KestraAuthError,
    KestraClient,
    KestraServerError,
    KestraUnavailable,
    server_diagnostics,
)
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
def test_server_errors_carry_kestras_message_in_both_shapes(version: str) -> None:
    with FakeKestra(version=version, fail_with=500) as fake:

        async def go():
            async with client(fake) as c:
                await c.server_info()

        with pytest.raises(KestraServerError) as caught:
            run(go())
    assert "the fake is told to fail" in str(caught.value)


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
