"""Small asyncio helpers shared by the front ends."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["stop_after"]


async def stop_after(task: asyncio.Task[Any], grace: float) -> None:
    """Give `task` `grace` seconds to finish on its own (a log stream delivering its last lines:
    Kestra indexes logs asynchronously), then cancel it."""
    try:
        await asyncio.wait_for(asyncio.shield(task), grace)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
