"""A content-addressed cache of model replies, so eval re-runs (and CI) replay offline.

The key is a hash of everything that decides the reply: the model name, the system instruction, the
messages, the generation settings, and the sample number of a repeated case (so `--repeat 3` replays
three different samples, not one three times). Entries are small JSON files under
`<cache dir>/eval-replies/ab/abcdef….json` (or `eval run --cache-dir DIR`, e.g. a folder CI keeps);
writes are atomic, so parallel cases cannot corrupt one, and private to the user (0600, folders 0700).
Each entry keeps the reply's usage and how long the call took, so a replay reports the figures it was
recorded with, apart from fresh calls.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NotRequired, TypedDict

from ..llm.base import ChatModel, Event, Finish, GenerationSettings, Message, ModelError, TextDelta, Usage
from ..private_files import private_dir, write_private

__all__ = ["CachedModel", "NotInCache", "ReplayOnlyModel", "ReplyCache"]


class NotInCache(ModelError):
    pass


class CacheEntry(TypedDict):
    """One cached reply: its text, usage (Usage's fields), finish reason and, since they are kept, the
    seconds the call took."""

    text: str
    usage: dict[str, int]
    finish: str
    seconds: NotRequired[float]


USAGE_FIELDS = frozenset(f.name for f in fields(Usage))


@dataclass(frozen=True)
class ReplayOnlyModel:
    """Stands for the model in a `--replay-only` run: only its name, part of the cache key; it has
    nothing to call, so a CachedModel around it replays or refuses."""

    name: str


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

    def get(self, key: str) -> CacheEntry | None:
        """The entry under `key`; None when there is none, or one this version cannot read (a miss)."""
        try:
            data: object = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        text, usage, finish, seconds = data.get("text"), data.get("usage"), data.get("finish"), data.get("seconds")
        if not (isinstance(text, str) and isinstance(finish, str) and isinstance(usage, dict)):
            return None
        counts = {str(name): count for name, count in usage.items() if isinstance(count, int)}
        if len(counts) != len(usage) or not counts.keys() <= USAGE_FIELDS:
            return None
        entry: CacheEntry = {"text": text, "usage": counts, "finish": finish}
        if isinstance(seconds, int | float):
            entry["seconds"] = seconds
        return entry

    def put(self, key: str, entry: CacheEntry) -> None:
        path = self._path(key)
        private_dir(path.parent)  # replies hold the user's requests and flows: only the user reads them
        write_private(path, json.dumps(entry))


class CachedModel:
    """A ChatModel that answers from the cache when it can and records fresh replies when it cannot.

    `enabled=False` (eval `--no-cache`) always asks the model and records nothing: independent samples.
    A reply cut by an error is never cached. Fresh calls and replayed replies are counted apart: a
    replay costs nothing and takes no time now, so it keeps the usage and duration it was recorded with.
    """

    def __init__(
        self,
        inner: ChatModel | ReplayOnlyModel,
        cache: ReplyCache,
        *,
        sample: int = 0,
        enabled: bool = True,
        replay_only: bool = False,
    ) -> None:
        self.inner, self.cache, self.sample, self.enabled = inner, cache, sample, enabled
        self.replay_only = replay_only  # a miss is an error, never a call (CI without a model key)
        self.name = inner.name
        self.fresh_usage: list[Usage] = []  # one per call made (an interrupted one too)
        self.replayed_usage: list[Usage] = []  # one per reply replayed
        self.replay_seconds = 0.0  # spent replaying (close to nothing)
        self.recorded_seconds: float | None = 0.0  # the replayed calls' durations when made; None: unknown

    @property
    def hits(self) -> int:
        """Replies replayed from the cache."""
        return len(self.replayed_usage)

    @property
    def misses(self) -> int:
        """Calls made to the model."""
        return len(self.fresh_usage)

    async def stream(
        self, messages: Sequence[Message], *, system: str = "", settings: GenerationSettings | None = None
    ) -> AsyncIterator[Event]:
        key = ReplyCache.key(self.name, system, messages, settings, self.sample)
        entry = self.cache.get(key) if self.enabled else None
        if entry is not None:
            async for event in self._replay(entry):
                yield event
            return
        if self.replay_only or isinstance(self.inner, ReplayOnlyModel):
            raise NotInCache(
                f"No cached reply for this prompt in {self.cache.folder} (--replay-only).",
                hint="The prompt changed since the cache was recorded: run without --replay-only, with a model "
                "key, to record it.",
            )
        started = time.perf_counter()
        text, usage, finish = [], Usage(), Finish("STOP")
        try:
            async for event in self.inner.stream(messages, system=system, settings=settings):
                if isinstance(event, TextDelta):
                    text.append(event.text)
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, Finish):
                    finish = event
                yield event
        finally:
            self.fresh_usage.append(usage)  # an interrupted call may still have been billed
        if self.enabled:
            seconds = round(time.perf_counter() - started, 3)
            self.cache.put(
                key, {"text": "".join(text), "usage": asdict(usage), "finish": finish.reason, "seconds": seconds}
            )

    async def _replay(self, entry: CacheEntry) -> AsyncIterator[Event]:
        started = time.perf_counter()
        usage = Usage(**entry["usage"])
        self.replayed_usage.append(usage)
        recorded = entry.get("seconds")  # entries written before durations were kept have none
        if recorded is None or self.recorded_seconds is None:
            self.recorded_seconds = None
        else:
            self.recorded_seconds += float(recorded)
        try:
            yield TextDelta(entry["text"])
            yield usage
            yield Finish(entry["finish"])
        finally:
            self.replay_seconds += time.perf_counter() - started
