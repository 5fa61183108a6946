"""OpenAICompatModel against a loopback OpenAI-compatible server (the protocol Ollama and llama-server speak)."""

import asyncio
from collections.abc import Iterator

import pytest

from copilot.llm.base import (
    Event,
    Finish,
    GenerationSettings,
    Message,
    ModelEmptyReply,
    ModelNotFound,
    ModelRateLimited,
    ModelStreamCut,
    ModelUnavailable,
    TextDelta,
    Usage,
)
from copilot.llm.openai_compat import OpenAICompatModel, ThinkFilter
from copilot.llm.retry import RetryPolicy
from tests.fakes.openai_server import Chat, Failure, FakeOpenAI

MODEL = "qwen2.5-coder:7b"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def local(server: FakeOpenAI, name: str = MODEL, sleeps: Sleeps | None = None) -> OpenAICompatModel:
    return OpenAICompatModel(
        base_url=server.url, model=name, retry=RetryPolicy(max_attempts=3, sleep=sleeps or Sleeps())
    )


def run(model: OpenAICompatModel, **kwargs: object) -> list[Event]:
    async def collect() -> list[Event]:
        messages = [Message("user", "write a flow"), Message("model", "id: a"), Message("user", "add a retry")]
        return [event async for event in model.stream(messages, **kwargs)]  # type: ignore[arg-type]

    return asyncio.run(collect())


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_streams_deltas_usage_and_finish(server: FakeOpenAI) -> None:
    server.script(Chat("id: hello\nnamespace: dev\n", chunks=4, reasoning="Let me think about it"))
    events = run(local(server), system="You write Kestra flows.", settings=GenerationSettings(temperature=0.3))
    assert text_of(events) == "id: hello\nnamespace: dev\n"
    assert Usage(prompt_tokens=42, output_tokens=6) in events and events[-1] == Finish("STOP")
    request = server.requests[-1]
    assert [m["role"] for m in request["messages"]] == ["system", "user", "assistant", "user"]
    assert request["temperature"] == 0.3 and request["stream"] is True


def test_think_blocks_are_cut_even_when_tags_are_split() -> None:
    think = ThinkFilter()
    pieces = ["<thi", "nk>plan the", " flow</th", "ink>id: a", "\n<", "not a tag>"]
    assert "".join(think.feed(p) for p in pieces) + think.flush() == "id: a\n<not a tag>"


def test_think_blocks_in_streamed_content_never_reach_the_text(server: FakeOpenAI) -> None:
    server.script(Chat("<think>the user wants a flow</think>id: flow\n", chunks=7))
    assert text_of(run(local(server))) == "id: flow\n"


def test_an_unknown_model_says_how_to_get_it(server: FakeOpenAI) -> None:
    with pytest.raises(ModelNotFound) as caught:
        run(local(server, name="llama9"))
    assert "ollama pull llama9" in (caught.value.hint or "")


def test_429_and_5xx_are_retried(server: FakeOpenAI) -> None:
    sleeps = Sleeps()
    server.script(Failure(429, "slow down", retry_after="2"), Failure(503, "loading model"), Chat("ok"))
    assert text_of(run(local(server, sleeps=sleeps))) == "ok"
    assert sleeps.waits[0] == 2.0 and len(sleeps.waits) == 2
    server.script(Failure(429, "slow down"))
    with pytest.raises(ModelRateLimited):
        run(local(server))


def test_a_cut_stream_keeps_its_text(server: FakeOpenAI) -> None:
    server.script(Chat("abcdefgh", chunks=4, cut_after=2), Chat("never"))
    with pytest.raises(ModelStreamCut) as caught:
        run(local(server))
    assert caught.value.partial == "abcd"


def test_an_empty_reply_and_a_missing_server(server: FakeOpenAI) -> None:
    server.script(Chat("<think>only thinking</think>"))
    with pytest.raises(ModelEmptyReply):
        run(local(server))
    gone = OpenAICompatModel(base_url="http://127.0.0.1:9/v1", model=MODEL, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ModelUnavailable) as caught:
        run(gone)
    assert "ollama serve" in (caught.value.hint or "")
