"""A local model behind an OpenAI-compatible server (Ollama, llama.cpp's llama-server, vLLM), on httpx.

`POST {base_url}/chat/completions` with `stream: true`: SSE `data: {json}` events carrying
`choices[0].delta.content`, a `finish_reason`, usage when the server sends it
(`stream_options.include_usage`), and `data: [DONE]`. Reasoning never reaches the flow text: the
`reasoning_content`/`reasoning` fields are ignored and `<think>…</think>` blocks are cut from the content,
even when a tag is split across events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

import httpx

from ..tls import ssl_context, tls_failure
from ..urls import display_url
from .base import (
    Event,
    Finish,
    GenerationSettings,
    Message,
    ModelAuthError,
    ModelEmptyReply,
    ModelError,
    ModelNotFound,
    ModelRateLimited,
    ModelUnavailable,
    TextDelta,
    Usage,
)
from .retry import RetryPolicy, stream_with_retries

__all__ = ["OpenAICompatModel", "ThinkFilter"]


class ThinkFilter:
    """Removes `<think>…</think>` from streamed text; a tag may arrive split across deltas."""

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self.inside = False
        self.pending = ""

    def feed(self, text: str) -> str:
        data, out = self.pending + text, []
        self.pending = ""
        while data:
            tag = self.CLOSE if self.inside else self.OPEN
            at = data.find(tag)
            if at >= 0:
                if not self.inside:
                    out.append(data[:at])
                data, self.inside = data[at + len(tag) :], not self.inside
                continue
            keep = next((n for n in range(len(tag) - 1, 0, -1) if data.endswith(tag[:n])), 0)
            if not self.inside:
                out.append(data[: len(data) - keep])
            self.pending = data[len(data) - keep :] if keep else ""
            break
        return "".join(out)

    def flush(self) -> str:
        rest, self.pending = ("" if self.inside else self.pending), ""
        return rest


class _HttpFailure(Exception):
    def __init__(self, status: int, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


class OpenAICompatModel:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 300.0,  # local models can be slow to load and to answer
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retry = retry or RetryPolicy(max_attempts=2)
        self._verify = ssl_context()  # SSL_CERT_FILE / SSL_CERT_DIR honoured; verification always on

    async def stream(
        self, messages: Sequence[Message], *, system: str = "", settings: GenerationSettings | None = None
    ) -> AsyncIterator[Event]:
        settings = settings or GenerationSettings()
        chat = [{"role": "system", "content": system}] if system else []
        chat += [{"role": "assistant" if m.role == "model" else "user", "content": m.text} for m in messages]
        payload: dict[str, object] = {
            "model": self.name,
            "messages": chat,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if settings.temperature is not None:
            payload["temperature"] = settings.temperature
        if settings.max_output_tokens:
            payload["max_tokens"] = settings.max_output_tokens
        async for event in stream_with_retries(
            lambda: self._one_attempt(payload), self._translate, self.retry, self.name
        ):
            yield event

    async def _one_attempt(self, payload: dict[str, object]) -> AsyncIterator[Event]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        thinking = ThinkFilter()
        finish, usage, streamed = None, None, False
        timeout = httpx.Timeout(self.timeout, connect=5.0)
        async with (
            httpx.AsyncClient(timeout=timeout, verify=self._verify) as http,
            http.stream("POST", f"{self.base_url}/chat/completions", json=payload, headers=headers) as response,
        ):
            if response.status_code >= 400:
                raise _failure(response.status_code, (await response.aread()).decode(errors="replace"), response)
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk: object = json.loads(data)
                except ValueError as exc:
                    raise ModelUnavailable(f"{self.name} sent a malformed event: {data[:80]!r}") from exc
                if not isinstance(chunk, dict):
                    raise ModelUnavailable(f"{self.name} sent a malformed event: {data[:80]!r}")
                if "error" in chunk:
                    raise _failure(500, json.dumps(chunk), None)
                usage = chunk.get("usage") or usage
                for choice in (chunk.get("choices") or [])[:1]:
                    text = thinking.feed((choice.get("delta") or {}).get("content") or "")
                    if text:
                        streamed = True
                        yield TextDelta(text)
                    finish = choice.get("finish_reason") or finish
        tail = thinking.flush()
        if tail:
            streamed = True
            yield TextDelta(tail)
        if usage:
            yield Usage(
                prompt_tokens=usage.get("prompt_tokens") or 0, output_tokens=usage.get("completion_tokens") or 0
            )
        if not streamed:
            raise ModelEmptyReply(f"{self.name} sent an empty reply.", hint="Ask again, or try a larger model.")
        yield Finish(str(finish or "stop").upper())

    def _translate(self, exc: BaseException) -> ModelError:
        where = display_url(self.base_url)  # a user:password in the URL is Basic auth, never shown
        if isinstance(exc, ModelError):
            return exc
        if isinstance(exc, _HttpFailure):
            if exc.status == 404:
                return ModelNotFound(
                    f"The server at {where} has no model {self.name!r}: {exc.message}",
                    hint=f"Pull it first (`ollama pull {self.name}`) or pick one the server lists.",
                )
            if exc.status in (401, 403):
                return ModelAuthError(f"The server at {where} refused the request: {exc.message}")
            if exc.status == 429:
                return ModelRateLimited(
                    f"The server at {where} is rate limiting: {exc.message}", retry_after=exc.retry_after
                )
            if exc.status >= 500:
                return ModelUnavailable(f"The server at {where} failed ({exc.status}): {exc.message}")
            return ModelError(f"The server at {where} rejected the request ({exc.status}): {exc.message}")
        if isinstance(exc, httpx.TimeoutException):
            return ModelUnavailable(f"{self.name} at {where} did not answer in time.", hint="Try again.")
        failure = tls_failure(exc) if isinstance(exc, httpx.TransportError) else None
        if failure is not None:
            return ModelUnavailable(f"The model server at {where} answered, but {failure.reason}.", hint=failure.hint)
        if isinstance(exc, httpx.TransportError):
            return ModelUnavailable(
                f"Cannot reach the model server at {where} ({exc.__class__.__name__}).",
                hint="Is it running? (`ollama serve`, or `llama-server -m MODEL.gguf`)",
            )
        return ModelError(f"Unexpected error from {where}: {exc.__class__.__name__}: {exc}")


def _failure(status: int, body: str, response: httpx.Response | None) -> _HttpFailure:
    message = body.strip()[:300]
    try:
        parsed = json.loads(body)
        error = parsed.get("error") if isinstance(parsed, dict) else None
        message = str(error.get("message") if isinstance(error, dict) else error or message)
    except ValueError:
        pass
    retry_after = None
    if response is not None and response.headers.get("retry-after", "").strip().isdigit():
        retry_after = float(response.headers["retry-after"])
    return _HttpFailure(status, message, retry_after)
