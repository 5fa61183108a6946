"""The KV store and namespace files through the real client against the loopback Kestra: what the
server ends up holding, byte for byte."""

import asyncio
import os
from typing import Any

import pytest

from copilot.kestra import KestraClient, KestraRejected
from tests.fakes.kestra import FakeKestra

NS = "company.team"
VALUES: dict[str, Any] = {
    "month": "2024-01",
    "digits": "42",  # a string that looks like a number stays a string (sent JSON-quoted)
    "count": 42,
    "ratio": 0.5,
    "enabled": True,
    "config": {"tables": ["a", "b"], "retries": 3, "nested": {"on": False}},
}


def client(fake: FakeKestra) -> KestraClient:
    return KestraClient(fake.url, username=fake.username, password=fake.password)


@pytest.mark.parametrize("version", ["1.3.2", "2.0.1"])
def test_kv_values_are_stored_and_read_back_with_their_json_type(version: str) -> None:
    async def scenario(fake: FakeKestra) -> dict[str, Any]:
        async with client(fake) as c:
            for key, value in VALUES.items():
                await c.kv_set(NS, key, value)
            return {key: await c.kv_get(NS, key) for key in [*VALUES, "missing"]}

    with FakeKestra(version=version) as fake:
        read = asyncio.run(scenario(fake))
        stored = dict(fake.kv)
        puts = [e for e in fake.exchanges if e["method"] == "PUT"]
    assert stored == {(NS, key): value for key, value in VALUES.items()}
    assert read == {**VALUES, "missing": None}
    assert type(read["digits"]) is str and type(read["count"]) is int
    assert {e["request_type"] for e in puts} == {"text/plain"} and {e["status"] for e in puts} == {200}


def test_kv_ttl_is_sent_as_the_ttl_header() -> None:
    async def scenario(fake: FakeKestra) -> None:
        async with client(fake) as c:
            await c.kv_set(NS, "token", "abc", ttl="PT1H")
            await c.kv_set(NS, "forever", 1)
            await c.kv_set(NS, "short", "x", ttl="P1DT30M")
            with pytest.raises(KestraRejected, match="ISO-8601") as caught:
                await c.kv_set(NS, "bad", "x", ttl="1 hour")
            assert caught.value.status == 422

    with FakeKestra() as fake:
        asyncio.run(scenario(fake))
        assert fake.kv_ttl == {(NS, "token"): "PT1H", (NS, "short"): "P1DT30M"}
        assert fake.kv[(NS, "forever")] == 1 and (NS, "bad") not in fake.kv


@pytest.mark.parametrize("version", ["1.3.2", "2.0.1"])
def test_a_namespace_file_is_uploaded_byte_for_byte(version: str) -> None:
    script = b"import sys\r\nprint('hi')\n"
    blob = bytes(range(256)) + b"\r\n--boundary-like\r\n" + os.urandom(4096)

    async def scenario(fake: FakeKestra) -> None:
        async with client(fake) as c:
            await c.upload_namespace_file(NS, "/scripts/etl.py", script)
            await c.upload_namespace_file(NS, "/data/blob.bin", blob)

    with FakeKestra(version=version) as fake:
        asyncio.run(scenario(fake))
        uploads = [e for e in fake.exchanges if e["method"] == "POST"]
        assert fake.namespace_files == {(NS, "/scripts/etl.py"): script, (NS, "/data/blob.bin"): blob}
    assert [e["query"] for e in uploads] == [{"path": ["/scripts/etl.py"]}, {"path": ["/data/blob.bin"]}]
    assert all(e["request_type"].startswith("multipart/form-data; boundary=") for e in uploads)
