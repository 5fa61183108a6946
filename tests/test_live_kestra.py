"""Against a real Kestra (`pytest -m live`, with KESTRA_URL and credentials set; `docker compose up -d`
starts one): create → validate → execute → follow → logs → delete."""

import asyncio
import os
import uuid

import pytest

from copilot.kestra import KestraClient

# Read at import: the suite's autouse fixture clears KESTRA_* variables for every other test.
LIVE = {name: os.environ.get(name) for name in ("KESTRA_URL", "KESTRA_USERNAME", "KESTRA_PASSWORD", "KESTRA_API_TOKEN")}

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not LIVE["KESTRA_URL"], reason="KESTRA_URL is not set (see docker-compose.yml)"),
]


def test_create_validate_execute_follow_logs_delete() -> None:
    flow_id = f"copilot_live_{uuid.uuid4().hex[:8]}"
    namespace = "company.copilot_test"
    flow = (
        f"id: {flow_id}\nnamespace: {namespace}\ninputs:\n  - id: who\n    type: STRING\n    defaults: world\n"
        'tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: "Hello {{ inputs.who }}"\n'
    )

    async def scenario() -> None:
        async with KestraClient(
            str(LIVE["KESTRA_URL"]),
            username=LIVE["KESTRA_USERNAME"],
            password=LIVE["KESTRA_PASSWORD"],
            api_token=LIVE["KESTRA_API_TOKEN"],
        ) as client:
            await client.server_info()
            (verdict,) = await client.validate(flow)
            assert verdict.valid, verdict.constraints
            deployed = await client.deploy(flow, namespace, flow_id)
            try:
                assert deployed.revision >= 1
                started = await client.execute(namespace, flow_id, inputs={"who": "live test"})
                final = [execution async for execution in client.follow(started.id)][-1]
                assert final.state == "SUCCESS"
                await asyncio.sleep(2)  # the log indexer is asynchronous
                logs = await client.logs(started.id)
                assert any("Hello live test" in entry.message for entry in logs)
            finally:
                await client.delete_flow(namespace, flow_id)
            assert await client.get_flow(namespace, flow_id) is None

    asyncio.run(scenario())
