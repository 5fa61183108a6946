"""The reply cache keeps what a reply cost and took when it was made, and counts replays apart."""

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from copilot.evaluation.cache import CachedModel, NotInCache, ReplayOnlyModel, ReplyCache
from copilot.llm.base import Event, Finish, GenerationSettings, Message, TextDelta, Usage

SECONDS = 0.2


class SlowModel:
    """An in-process ChatModel whose every answer takes SECONDS."""

    name = "slow-model"

    def __init__(self) -> None:
        self.calls = 0

    async def stream(
        self, messages: Sequence[Message], *, system: str = "", settings: GenerationSettings | None = None
    ) -> AsyncIterator[Event]:
        self.calls += 1
        await asyncio.sleep(SECONDS)
        yield TextDelta("id: x")
        yield Usage(prompt_tokens=100, output_tokens=20)
        yield Finish("STOP")


def ask(model: CachedModel) -> str:
    async def collect() -> str:
        return "".join([e.text async for e in model.stream([Message("user", "hi")]) if isinstance(e, TextDelta)])

    return asyncio.run(collect())


def test_fresh_calls_and_replays_are_counted_apart(tmp_path: Path) -> None:
    inner, cache = SlowModel(), ReplyCache(tmp_path)
    fresh = CachedModel(inner, cache)
    assert ask(fresh) == "id: x"
    assert (fresh.misses, fresh.hits, fresh.fresh_usage, fresh.replayed_usage) == (1, 0, [Usage(100, 20)], [])
    (entry,) = tmp_path.rglob("*.json")
    assert json.loads(entry.read_text())["seconds"] >= SECONDS

    replay = CachedModel(inner, cache)
    assert ask(replay) == "id: x" and inner.calls == 1
    assert (replay.hits, replay.misses, replay.fresh_usage, replay.replayed_usage) == (1, 0, [], [Usage(100, 20)])
    assert replay.replay_seconds < SECONDS <= (replay.recorded_seconds or 0.0)

    recorded = json.loads(entry.read_text())
    del recorded["seconds"]  # an entry written before durations were kept
    entry.write_text(json.dumps(recorded))
    older = CachedModel(inner, cache)
    ask(older)
    assert older.recorded_seconds is None and older.replayed_usage == [Usage(100, 20)]


def test_replay_only_never_calls_the_model(tmp_path: Path) -> None:
    inner = SlowModel()
    strict = CachedModel(inner, ReplyCache(tmp_path), replay_only=True)
    with pytest.raises(NotInCache, match="No cached reply") as caught:
        ask(strict)
    assert inner.calls == 0 and strict.misses == 0 and "--replay-only" in (caught.value.hint or "")
    ask(CachedModel(inner, ReplyCache(tmp_path)))  # record it
    assert ask(strict) == "id: x" and inner.calls == 1 and strict.hits == 1


def test_a_replay_only_stand_in_names_the_model_and_has_nothing_to_call(tmp_path: Path) -> None:
    cache = ReplyCache(tmp_path)
    stand_in = CachedModel(ReplayOnlyModel(SlowModel.name), cache)  # even without replay_only=True
    with pytest.raises(NotInCache, match="No cached reply"):
        ask(stand_in)
    ask(CachedModel(SlowModel(), cache))  # recorded under the model's name …
    assert ask(stand_in) == "id: x" and stand_in.hits == 1 and stand_in.misses == 0  # … which is all it has
