"""GeminiModel: the real google-genai SDK against the loopback Gemini (tests/fakes/gemini.py)."""

import asyncio
import time
from collections.abc import Iterator

import pytest

from copilot.llm.base import (
    Event,
    Finish,
    GenerationSettings,
    Message,
    MissingApiKey,
    ModelAuthError,
    ModelBlocked,
    ModelEmptyReply,
    ModelNotFound,
    ModelRateLimited,
    ModelStreamCut,
    ModelUnavailable,
    TextDelta,
    Usage,
)
from copilot.llm.gemini import GeminiModel
from copilot.llm.retry import RetryPolicy
from tests.fakes.gemini import Blocked, FakeGemini, Fault, Reply


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


class Sleeps:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def model(gemini: FakeGemini, sleeps: Sleeps | None = None, max_attempts: int = 4, timeout: float = 120) -> GeminiModel:
    retry = RetryPolicy(max_attempts=max_attempts, sleep=sleeps or Sleeps())
    return GeminiModel(api_key="test-key", base_url=gemini.url, retry=retry, timeout=timeout)


def run(chat: GeminiModel, text: str = "write a flow", **kwargs: object) -> list[Event]:
    async def collect() -> list[Event]:
        return [event async for event in chat.stream([Message("user", text)], **kwargs)]  # type: ignore[arg-type]

    return asyncio.run(collect())


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_streams_text_then_usage_then_finish_and_drops_thoughts(gemini: FakeGemini) -> None:
    gemini.script(Reply("id: hello\nnamespace: company.team\n", chunks=3, thoughts="**Planning** the flow"))
    events = run(model(gemini), system="You write Kestra flows.", settings=GenerationSettings(temperature=0.1))
    assert text_of(events) == "id: hello\nnamespace: company.team\n"
    assert sum(isinstance(e, TextDelta) for e in events) == 3
    usage = next(e for e in events if isinstance(e, Usage))
    assert usage.prompt_tokens == 120 and usage.thought_tokens > 0 and usage.total > usage.prompt_tokens
    assert events[-1] == Finish("STOP")
    request = gemini.requests[-1]
    assert (request.method, request.version, request.model) == ("streamGenerateContent", "v1", "gemini-3.8-flash")
    assert request.body["systemInstruction"]["parts"][0]["text"] == "You write Kestra flows."
    assert request.body["generationConfig"]["temperature"] == 0.1
    assert request.body["contents"] == [{"parts": [{"text": "write a flow"}], "role": "user"}]


def test_thinking_budget_is_sent(gemini: FakeGemini) -> None:
    run(model(gemini), settings=GenerationSettings(thinking_budget=0))
    config = gemini.requests[-1].body["generationConfig"]
    thinking = config.get("thinkingConfig") or config.get("thinking_config")
    assert thinking in (
        {"thinking_budget": 0, "include_thoughts": False},
        {"thinkingBudget": 0, "includeThoughts": False},
    )


def test_429_is_retried_after_the_delay_the_server_asks(gemini: FakeGemini) -> None:
    sleeps = Sleeps()
    gemini.script(Fault(429, retry_delay="7s"), Reply("ok"))
    assert text_of(run(model(gemini, sleeps))) == "ok"
    assert sleeps.waits == [7.0] and len(gemini.requests) == 2


def test_retry_after_header_is_honoured(gemini: FakeGemini) -> None:
    sleeps = Sleeps()
    gemini.script(Fault(429, retry_after_header="3"), Reply("ok"))
    assert text_of(run(model(gemini, sleeps))) == "ok"
    assert sleeps.waits == [3.0]


def test_5xx_is_retried_with_growing_backoff_then_reported(gemini: FakeGemini) -> None:
    sleeps = Sleeps()
    gemini.script(Fault(500), Fault(503))
    with pytest.raises(ModelUnavailable) as caught:
        run(model(gemini, sleeps, max_attempts=3))
    assert "overloaded" in str(caught.value) and caught.value.hint
    assert len(gemini.requests) == 3 and len(sleeps.waits) == 2
    assert 1.0 <= sleeps.waits[0] < 2.0 <= sleeps.waits[1] < 3.0
    assert {r.model for r in gemini.requests} == {"gemini-3.8-flash"}  # never another model


def test_a_long_quota_wait_is_reported_not_slept(gemini: FakeGemini) -> None:
    sleeps = Sleeps()
    gemini.script(Fault(429, retry_delay="3600s"))
    with pytest.raises(ModelRateLimited) as caught:
        run(model(gemini, sleeps))
    assert caught.value.retry_after == 3600 and "Wait 3600s" in (caught.value.hint or "")
    assert sleeps.waits == [] and len(gemini.requests) == 1


def test_a_stream_cut_mid_way_keeps_what_arrived_and_is_not_replayed(gemini: FakeGemini) -> None:
    gemini.script(Reply("tasks:\n  - id: a\n  - id: b\n", chunks=4, cut_after=2), Reply("never sent"))
    with pytest.raises(ModelStreamCut) as caught:
        run(model(gemini))
    assert caught.value.partial == "tasks:\n  - id: a\n"[: len(caught.value.partial)] and caught.value.partial
    assert "cut off" in str(caught.value) and len(gemini.requests) == 1


def test_a_cut_before_any_text_is_retried(gemini: FakeGemini) -> None:
    gemini.script(Reply("abcdef", chunks=3, cut_after=0), Reply("whole"))
    assert text_of(run(model(gemini))) == "whole"


def test_a_malformed_chunk_is_a_clear_error(gemini: FakeGemini) -> None:
    gemini.script(Reply("abcdef", chunks=3, malformed_after=1))
    with pytest.raises(ModelStreamCut) as caught:
        run(model(gemini))
    assert "malformed" in str(caught.value) and caught.value.partial == "ab"


def test_blocked_prompts_and_safety_stops_are_reported(gemini: FakeGemini) -> None:
    gemini.script(Blocked("PROHIBITED_CONTENT"))
    with pytest.raises(ModelBlocked, match="PROHIBITED_CONTENT"):
        run(model(gemini))
    gemini.script(Reply("", finish="SAFETY"))
    with pytest.raises(ModelBlocked, match="SAFETY"):
        run(model(gemini))


def test_an_empty_reply_says_so(gemini: FakeGemini) -> None:
    gemini.script(Reply("", finish="MAX_TOKENS"))
    with pytest.raises(ModelEmptyReply, match="output token limit"):
        run(model(gemini))


def test_a_slow_first_token_times_out(gemini: FakeGemini) -> None:
    gemini.script(Reply("late", delay=2.0))
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="did not answer in time"):
        run(model(gemini, timeout=0.3, max_attempts=1))
    assert time.monotonic() - started < 1.5


def test_a_timeout_before_the_first_token_is_retried(gemini: FakeGemini) -> None:
    gemini.script(Reply("late", delay=2.0), Reply("on time"))
    sleeps = Sleeps()
    events = run(model(gemini, sleeps, max_attempts=2, timeout=0.3))
    assert text_of(events) == "on time" and len(sleeps.waits) == 1
    assert len(gemini.requests) == 2 and {r.model for r in gemini.requests} == {gemini.requests[0].model}


def test_key_and_model_problems(gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelAuthError, match="API key not valid") as caught:
        run(GeminiModel(api_key="wrong", base_url=gemini.url, retry=RetryPolicy(sleep=Sleeps())))
    assert "GEMINI_API_KEY" in (caught.value.hint or "")
    monkeypatch.delenv("GOOGLE_GENAI_USE_VERTEXAI", raising=False)
    with pytest.raises(MissingApiKey):
        run(GeminiModel(api_key=None, base_url=gemini.url))
    gemini.script(Fault(404))
    with pytest.raises(ModelNotFound, match="not found") as not_found:
        run(model(gemini))
    assert "--model" in (not_found.value.hint or "")


def test_an_unreachable_server_is_retried_then_reported() -> None:
    sleeps = Sleeps()
    chat = GeminiModel(api_key="k", base_url="http://127.0.0.1:9", retry=RetryPolicy(max_attempts=2, sleep=sleeps))
    with pytest.raises(ModelUnavailable, match="Cannot reach Gemini"):
        run(chat)
    assert len(sleeps.waits) == 1


def test_the_api_key_is_sent_as_a_header_only(gemini: FakeGemini) -> None:
    run(model(gemini))
    request = gemini.requests[-1]
    assert request.headers.get("x-goog-api-key") == "test-key"
    assert "test-key" not in str(request.body)


def test_vertex_ai_without_credentials_says_how_to_sign_in(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from copilot.config import load_settings
    from copilot.workspace import Workspace

    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "1")
    monkeypatch.setenv("HOME", str(tmp_path))  # no gcloud application default credentials here
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path) + "/missing.json")
    chat = Workspace(load_settings({})).model()  # no API key needed on Vertex AI
    assert isinstance(chat, GeminiModel)
    with pytest.raises(ModelAuthError, match="Vertex AI") as caught:
        run(chat)
    assert "application-default login" in (caught.value.hint or "")
