"""Small asyncio helpers shared by the front ends."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Coroutine
from types import FrameType
from typing import TypeVar

__all__ = ["end_live_stream", "run_to_a_clean_stop", "stop_after"]

T = TypeVar("T")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_to_a_clean_stop(coroutine: Coroutine[object, object, T], *, stopping: str) -> T:
    """`asyncio.run(coroutine)`, where Ctrl+C, SIGTERM or SIGHUP (a closed terminal, a cancelled CI job)
    cancel it once and then let it finish cleaning up — killing what it started on a server — instead of
    cutting the clean-up short as a second Ctrl+C would. Further signals only print `stopping`. After the
    clean-up, Ctrl+C ends in KeyboardInterrupt and SIGTERM/SIGHUP in SystemExit(128 + the signal)."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(coroutine)
    loop = asyncio.new_event_loop()
    task = loop.create_task(coroutine)
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if not received:
            loop.call_soon_threadsafe(task.cancel)
        else:
            sys.stderr.write(stopping)
        received.append(signum)

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        if not received:
            raise
        if received[0] == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise SystemExit(128 + received[0]) from None
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def stop_after(task: asyncio.Task[T], grace: float) -> None:
    """Give `task` `grace` seconds to finish on its own (a log stream delivering its last lines:
    Kestra indexes logs asynchronously), then cancel it."""
    try:
        await asyncio.wait_for(asyncio.shield(task), grace)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def end_live_stream(task: asyncio.Task[bool], grace: float) -> bool:
    """Once what a live stream follows has ended (an execution's log stream, which Kestra never ends by
    itself): `stop_after` it, and say whether it saw everything — it was still streaming when the end came
    and did not fail (`task` returns False when it was refused or cut). False: read what it missed again."""
    streaming = not task.done()
    await stop_after(task, grace)
    return streaming and (task.cancelled() or task.result())
