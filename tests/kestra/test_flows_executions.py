"""Deploying flows and running executions through the real client against the loopback Kestra."""

import asyncio
from pathlib import Path

import pytest

from copilot.kestra import KestraClient, KestraNotFound, KestraRejected, KestraUnavailable
from copilot.kestra.models import Execution
from tests.fakes.kestra import FakeKestra

FLOW = """id: hello
namespace: company.team
inputs:
  - id: who
    type: STRING
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.who }}"
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "42"
"""


def client(kestra: FakeKestra) -> KestraClient:
    return KestraClient(kestra.url, username=kestra.username, password=kestra.password)


@pytest.mark.parametrize("version", ["1.3.2", "2.0.0"])
def test_deploy_creates_then_updates_with_a_new_revision(version: str) -> None:
    async def scenario(kestra: FakeKestra) -> None:
        async with client(kestra) as kestra_client:
            assert await kestra_client.get_flow("company.team", "hello") is None
            first = await kestra_client.deploy(FLOW, "company.team", "hello")
            assert (first.revision, first.source) == (1, FLOW)
            second = await kestra_client.deploy(FLOW.replace("42", "43"), "company.team", "hello")
            assert second.revision == 2 and "43" in second.source
            deployed = await kestra_client.get_flow("company.team", "hello")
            assert deployed is not None and deployed.revision == 2
            await kestra_client.delete_flow("company.team", "hello")
            assert await kestra_client.get_flow("company.team", "hello") is None
            with pytest.raises(KestraNotFound):
                await kestra_client.delete_flow("company.team", "hello")

    with FakeKestra(version=version) as kestra:
        asyncio.run(scenario(kestra))
        methods = [m for m, p in kestra.requests if p.endswith("/flows") or "/flows/company.team" in p]
    # The second deploy: POST refused (422 on 1.x, 409 on 2.x), then PUT.
    assert methods[:5] == ["GET", "POST", "POST", "PUT", "GET"]


def test_an_invalid_flow_is_refused_with_kestras_words() -> None:
    async def scenario(kestra: FakeKestra) -> None:
        async with client(kestra) as kestra_client:
            with pytest.raises(KestraRejected) as caught:
                await kestra_client.deploy(FLOW.replace("format:", "colour:"), "company.team", "hello")
            assert 'Unrecognized field "colour"' in str(caught.value)

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))


def test_execute_with_inputs_files_and_labels_then_follow_to_the_end(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")

    async def scenario(kestra: FakeKestra) -> tuple[Execution, list[Execution]]:
        async with client(kestra) as kestra_client:
            await kestra_client.deploy(FLOW, "company.team", "hello")
            started = await kestra_client.execute(
                "company.team", "hello", inputs={"who": "world"}, files={"data": data}, labels={"team": "data"}
            )
            seen = [execution async for execution in kestra_client.follow(started.id)]
            return started, seen

    with FakeKestra() as kestra:
        started, seen = asyncio.run(scenario(kestra))
        stored = kestra.executions[started.id]
        [request] = [e for e in kestra.exchanges if e["path"] == "/api/v1/main/executions/company.team/hello"]
    assert started.state == "CREATED" and started.url and started.url.endswith(started.id)
    uri = f"kestra:///company/team/hello/executions/{started.id}/inputs/data/data.csv"
    assert stored["inputs"] == {"who": "world", "data": uri} and kestra.storage == {uri: b"a,b\n1,2\n"}
    assert request["request_type"].startswith("multipart/form-data; boundary=")
    assert stored["labels"] == [{"key": "team", "value": "data"}]
    assert seen[-1].terminal and seen[-1].state == "SUCCESS"
    assert [run.task_id for run in seen[-1].task_runs] == ["greet", "answer"]
    states = [e.state for e in seen]
    assert "RUNNING" in states and states.index("RUNNING") < len(states) - 1


def test_an_execution_without_inputs_is_created_with_no_body() -> None:
    """The spec's multipart body is optional; Kestra's own SDK sends none, and neither does the client."""
    no_inputs = FLOW.replace("inputs:\n  - id: who\n    type: STRING\n", "").replace("{{ inputs.who }}", "you")

    async def scenario(kestra: FakeKestra) -> Execution:
        async with client(kestra) as kestra_client:
            await kestra_client.deploy(no_inputs, "company.team", "hello")
            started = await kestra_client.execute("company.team", "hello", labels={"env": "test"})
            return [e async for e in kestra_client.follow(started.id)][-1]

    with FakeKestra() as kestra:
        final = asyncio.run(scenario(kestra))
        [request] = [e for e in kestra.exchanges if e["path"] == "/api/v1/main/executions/company.team/hello"]
        assert kestra.executions[final.id]["inputs"] == {}
    assert final.state == "SUCCESS"
    assert (request["request_type"], request["request_body"]) == (None, b"")
    assert request["query"] == {"labels": ["env:test"]}


def test_an_unreadable_file_input_is_reported_before_anything_is_sent(tmp_path: Path) -> None:
    from copilot.kestra import KestraError

    async def scenario(kestra: FakeKestra) -> None:
        async with client(kestra) as kestra_client:
            await kestra_client.execute("company.team", "hello", files={"data": tmp_path / "missing.csv"})

    with (
        FakeKestra() as kestra,
        pytest.raises(KestraError, match=r"Cannot read the file for input 'data': .*missing\.csv"),
    ):
        asyncio.run(scenario(kestra))
    assert not kestra.requests


def test_a_failing_task_shows_in_state_and_logs() -> None:
    async def scenario(kestra: FakeKestra) -> tuple[Execution, list[str]]:
        async with client(kestra) as kestra_client:
            await kestra_client.deploy(FLOW, "company.team", "hello")
            started = await kestra_client.execute("company.team", "hello", inputs={"who": "x"})
            final = [e async for e in kestra_client.follow(started.id)][-1]
            logs = await kestra_client.logs(started.id, min_level="INFO")
            return final, [f"{entry.task_id} {entry.level} {entry.message}" for entry in logs]

    with FakeKestra(
        outcomes={"answer": "FAILED"}, task_logs={"answer": [("ERROR", "boom: division by zero")]}
    ) as kestra:
        final, logs = asyncio.run(scenario(kestra))
    assert final.state == "FAILED"
    assert [(r.task_id, r.state) for r in final.task_runs] == [("greet", "SUCCESS"), ("answer", "FAILED")]
    assert logs == ["answer ERROR boom: division by zero"]


@pytest.mark.parametrize("version", ["1.3.2", "2.0.0"])
def test_a_task_runs_logs_are_read_once_kestra_has_indexed_them(version: str) -> None:
    """One task run's lines at INFO and above (1.x `taskRunId`, 2.x `filters[taskRunId][EQUALS]`), asked
    again while the indexer has not stored them; and an empty answer once `wait` has passed."""

    async def scenario(kestra: FakeKestra) -> tuple[list[str], list[str]]:
        async with client(kestra) as kestra_client:
            await kestra_client.deploy(FLOW, "company.team", "hello")
            started = await kestra_client.execute("company.team", "hello", inputs={"who": "x"})
            final = [e async for e in kestra_client.follow(started.id)][-1]
            failed = final.failing_run
            assert failed is not None and failed.task_id == "answer"
            kestra.unindexed_log_reads = 2
            lines = await kestra_client.task_run_logs(final.id, failed.id, wait=30)
            assert kestra.log_reads[final.id] == 3
            kestra.log_reads.clear()
            kestra.unindexed_log_reads = 10**6
            none = await kestra_client.task_run_logs(final.id, failed.id, wait=0.3)
            return [f"{e.level} {e.message}" for e in lines], [f"{e.level} {e.message}" for e in none]

    logs = {"greet": [("INFO", "hi")], "answer": [("DEBUG", "noise"), ("INFO", "start"), ("ERROR", "boom")]}
    with FakeKestra(version=version, outcomes={"answer": "FAILED"}, task_logs=logs) as kestra:
        lines, none = asyncio.run(scenario(kestra))
    assert lines == ["INFO start", "ERROR boom"] and none == []


@pytest.mark.parametrize(
    ("state", "seconds"),
    [
        ({"duration": "PT6.3S"}, 6.3),
        ({"duration": "PT1H2M3.5S"}, 3723.5),
        ({"duration": "P1DT1S"}, 86401.0),
        ({"startDate": "2024-01-01T00:00:00Z", "endDate": "2024-01-01T00:01:30.5Z"}, 90.5),
        ({"startDate": "2024-01-01T00:00:00Z"}, None),  # still running, or Kestra left it out
        ({"duration": "soon"}, None),
        ({}, None),
    ],
)
def test_how_long_an_execution_ran(state: dict[str, str], seconds: float | None) -> None:
    execution = Execution.from_json({"id": "e", "state": {"current": "SUCCESS", **state}})
    assert execution.seconds == (pytest.approx(seconds) if seconds is not None else None)


def test_running_a_missing_flow_and_a_dropped_stream_are_clear() -> None:
    async def scenario(kestra: FakeKestra) -> None:
        async with client(kestra) as kestra_client:
            with pytest.raises(KestraNotFound, match="Requested Flow is not found"):
                await kestra_client.execute("company.team", "nope")
            await kestra_client.deploy(FLOW, "company.team", "hello")
            started = await kestra_client.execute("company.team", "hello", inputs={"who": "x"})
            kestra.drop_follow_after = 1
            with pytest.raises(KestraUnavailable, match=r"dropped|ended before"):
                async for _ in kestra_client.follow(started.id):
                    pass
            await kestra_client.kill(started.id)
            assert (await kestra_client.execution(started.id)).state == "KILLED"

    with FakeKestra(step_seconds=0.2) as kestra:
        asyncio.run(scenario(kestra))


def test_the_server_schema_is_cached_per_server_version(tmp_path: Path) -> None:
    from copilot.schema_store import schema_from_server

    async def fetch(kestra: FakeKestra) -> dict:
        async with client(kestra) as kestra_client:
            return await schema_from_server(kestra_client, tmp_path)

    with FakeKestra(version="1.3.2") as kestra:
        kestra.flow_schema = {"title": "v1.3.2"}
        assert asyncio.run(fetch(kestra)) == {"title": "v1.3.2"}
        kestra.flow_schema = {"title": "changed without an upgrade"}
        assert asyncio.run(fetch(kestra)) == {"title": "v1.3.2"}  # from the cache
        kestra.version = "1.3.3"  # upgraded: fetched again
        assert asyncio.run(fetch(kestra)) == {"title": "changed without an upgrade"}
        fetched = [p for m, p in kestra.requests if p == "/api/v1/plugins/schemas/flow"]
    assert len(fetched) == 2


def test_a_slow_server_and_a_failing_server_are_clear() -> None:
    from copilot.kestra import KestraServerError

    async def with_timeout(kestra: FakeKestra) -> None:
        async with KestraClient(kestra.url, username=kestra.username, password=kestra.password, timeout=0.2) as c:
            await c.get_flow("company.team", "hello")

    with FakeKestra(delay_seconds=0.6) as kestra, pytest.raises(KestraUnavailable, match="did not answer in time"):
        asyncio.run(with_timeout(kestra))
    with FakeKestra(fail_with=500) as kestra, pytest.raises(KestraServerError, match="500"):
        asyncio.run(with_timeout(kestra))


@pytest.mark.parametrize("operation", ["validate", "deploy", "execute", "follow", "logs", "kill"])
def test_a_server_older_than_0_24_is_refused_before_anything_is_sent(operation: str) -> None:
    from copilot.kestra import KestraError

    async def scenario(kestra: FakeKestra) -> None:
        async with client(kestra) as kestra_client:
            calls = {
                "validate": lambda: kestra_client.validate(FLOW),
                "deploy": lambda: kestra_client.deploy(FLOW, "company.team", "hello"),
                "execute": lambda: kestra_client.execute("company.team", "hello", inputs={"who": "x"}),
                "logs": lambda: kestra_client.logs("exec0001"),
                "kill": lambda: kestra_client.kill("exec0001"),
            }
            if operation == "follow":
                [_ async for _ in kestra_client.follow("exec0001")]
            else:
                await calls[operation]()

    with FakeKestra(version="0.19.4") as kestra:
        with pytest.raises(KestraError, match=r"^Cannot .+: Kestra 0\.19\.4 at .+ is too old") as caught:
            asyncio.run(scenario(kestra))
        assert kestra.requests == [("GET", "/api/v1/configs")]  # asked once, then nothing else was sent
    assert "needs 0.24 or newer" in str(caught.value) and "Upgrade" in (caught.value.hint or "")


def test_the_version_is_asked_once_per_client_even_by_concurrent_first_calls() -> None:
    async def scenario(kestra: FakeKestra) -> None:
        async with client(kestra) as kestra_client:
            await asyncio.gather(kestra_client.validate(FLOW), kestra_client.get_flow("company.team", "hello"))
            await kestra_client.deploy(FLOW, "company.team", "hello")
            started = await kestra_client.execute("company.team", "hello", inputs={"who": "x"})
            [_ async for _ in kestra_client.follow(started.id)]
            await kestra_client.logs(started.id)

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))
        assert kestra.requests.count(("GET", "/api/v1/configs")) == 1
        assert kestra.requests[0] == ("GET", "/api/v1/configs")


def test_reads_are_retried_through_a_transient_outage_and_writes_are_not() -> None:
    from copilot.kestra import KestraServerError

    async def after_the_version(kestra: FakeKestra, times: int, call: str) -> object:
        async with client(kestra) as kestra_client:
            await kestra_client.server_info()
            kestra.requests.clear()
            kestra.fail_with, kestra.fail_times = 503, times
            if call == "read":
                return await kestra_client.get_flow("company.team", "hello")
            return await kestra_client.deploy(FLOW, "company.team", "hello")

    with FakeKestra() as kestra:
        assert asyncio.run(after_the_version(kestra, 2, "read")) is None  # answered after two 503s
        assert len(kestra.requests) == 3
    with FakeKestra() as kestra, pytest.raises(KestraServerError):
        asyncio.run(after_the_version(kestra, 1, "write"))
    assert [m for m, _ in kestra.requests] == ["POST"]


def test_the_version_question_itself_is_retried_through_an_outage() -> None:
    async def scenario(kestra: FakeKestra) -> int:
        async with client(kestra) as kestra_client:
            return (await kestra_client.deploy(FLOW, "company.team", "hello")).revision

    with FakeKestra(fail_with=503, fail_times=1) as kestra:
        assert asyncio.run(scenario(kestra)) == 1
        assert [m for m, _ in kestra.requests] == ["GET", "GET", "POST"]


def test_follow_logs_streams_entries_as_they_are_written() -> None:
    async def scenario(kestra: FakeKestra) -> list[str]:
        async with client(kestra) as kestra_client:
            await kestra_client.deploy(FLOW, "company.team", "hello")
            started = await kestra_client.execute("company.team", "hello", inputs={"who": "x"})
            return [f"{e.task_id}:{e.message}" async for e in kestra_client.follow_logs(started.id)]

    logs = {"greet": [("INFO", "Hello x")], "answer": [("WARN", "slow"), ("INFO", "done")]}
    with FakeKestra(task_logs=logs) as kestra:
        assert asyncio.run(scenario(kestra)) == ["greet:Hello x", "answer:slow", "answer:done"]


def test_saving_a_flow_applies_the_strict_validator() -> None:
    async def scenario(kestra: FakeKestra) -> None:
        async with client(kestra) as kestra_client:
            bad = FLOW.replace('    format: "42"\n', '    format: "42"\n    retry: three times\n')
            with pytest.raises(KestraRejected, match="retry"):
                await kestra_client.deploy(bad, "company.team", "hello")

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))
        assert not kestra.flows
