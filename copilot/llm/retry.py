"""Retrying a streamed reply: only before its first text, waiting what the server asks or backing off.

A reply that has started streaming is never restarted behind the user's back (they have seen it):
a failure then raises ModelStreamCut with the text so far. Only rate limits and unavailability are
retried, always against the same model.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from .base import Event, ModelError, ModelRateLimited, ModelStreamCut, ModelUnavailable, TextDelta

__all__ = ["RetryPolicy", "stream_with_retries"]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4  # the first call included
    initial_delay: float = 1.0
    max_delay: float = 60.0  # longer waits (a daily quota) are reported, not slept
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)

    def delay(self, error: ModelError, attempt: int) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up with `error`."""
        if attempt >= self.max_attempts or not isinstance(error, ModelRateLimited | ModelUnavailable):
            return None
        asked = error.retry_after if isinstance(error, ModelRateLimited) else None
        if asked is not None:
            return asked if asked <= self.max_delay else None
        backoff = min(self.max_delay, self.initial_delay * 2.0 ** (attempt - 1))
        return backoff + random.uniform(0, self.initial_delay)


async def stream_with_retries(
    attempt: Callable[[], AsyncIterator[Event]],
    translate: Callable[[BaseException], ModelError],
    policy: RetryPolicy,
    model: str,
) -> AsyncIterator[Event]:
    """Run `attempt()` until it completes; foreign errors go through `translate` (the one boundary)."""
    number = 0
    while True:
        number += 1
        streamed: list[str] = []
        try:
            async for event in attempt():
                if isinstance(event, TextDelta):
                    streamed.append(event.text)
                yield event
            return
        except ModelStreamCut:
            raise
        except Exception as exc:
            error = translate(exc)
            if streamed:
                raise ModelStreamCut(
                    f"The reply from {model} was cut off mid-way: {error}",
                    partial="".join(streamed),
                    hint="What arrived is kept; ask again to get the whole answer.",
                ) from exc
            delay = policy.delay(error, number)
            if delay is None:
                raise error from exc
            await policy.sleep(delay)
