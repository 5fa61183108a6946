"""A content-addressed cache of model replies, so eval re-runs (and CI) replay offline.

The key is a hash of everything that decides the reply: the model name, the system instruction, the
messages, the generation settings, and the sample number of a repeated case (so `--repeat 3` replays
three different samples, not one three times). Entries are small JSON files under
`<cache dir>/eval-replies/ab/abcdef….json`; writes are atomic, so parallel cases cannot corrupt one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..llm.base import ChatModel, Event, Finish, GenerationSettings, Message, TextDelta, Usage

__all__ = ["CachedModel", "ReplyCache"]


class ReplyCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def key(
        model: str, system: str, messages: Sequence[Message], settings: GenerationSettings | None, sample: int
    ) -> str:
        payload = {
            "model": model,
            "system": system,
            "messages": [[m.role, m.text] for m in messages],
            "settings": asdict(settings) if settings else None,
            "sample": sample,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8") as f:
            json.dump(entry, f)
        os.replace(f.name, path)


class CachedModel:
    """A ChatModel that answers from the cache when it can and records fresh replies when it cannot.

    `enabled=False` (eval `--no-cache`) always asks the model and records nothing: independent samples.
    A reply cut by an error is never cached.
    """

    def __init__(self, inner: ChatModel, cache: ReplyCache, *, sample: int = 0, enabled: bool = True) -> None:
        self.inner, self.cache, self.sample, self.enabled = inner, cache, sample, enabled
        self.name = inner.name
        self.hits = 0
        self.misses = 0

    async def stream(
        self, messages: Sequence[Message], *, system: str = "", settings: GenerationSettings | None = None
    ) -> AsyncIterator[Event]:
        key = ReplyCache.key(self.name, system, messages, settings, self.sample)
        entry = self.cache.get(key) if self.enabled else None
        if entry is not None:
            self.hits += 1
            yield TextDelta(entry["text"])
            yield Usage(**entry["usage"])
            yield Finish(entry["finish"])
            return
        self.misses += 1
        text, usage, finish = [], Usage(), Finish("STOP")
        async for event in self.inner.stream(messages, system=system, settings=settings):
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, Usage):
                usage = event
            elif isinstance(event, Finish):
                finish = event
            yield event
        if self.enabled:
            self.cache.put(key, {"text": "".join(text), "usage": asdict(usage), "finish": finish.reason})
