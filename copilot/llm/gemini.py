"""Gemini through the google-genai SDK (async, streaming).

The SDK is left to its own environment variables (GOOGLE_GEMINI_BASE_URL for gateways, Vertex AI
settings) and given a base URL only when one is configured. It does not retry by default and ignores
the server's retry delay, so retries are done here: 429, 5xx, timeouts and connection errors are retried
with exponential backoff and jitter, waiting what the server asks (RetryInfo, "retry in 53s",
Retry-After) — but only until the first text has been streamed: a reply is never silently restarted,
and never sent to another model. Thinking parts are dropped; only the answer reaches the caller.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from .base import (
    STREAMED_USAGE,
    Event,
    Finish,
    GenerationSettings,
    Message,
    MissingApiKey,
    ModelAuthError,
    ModelBlocked,
    ModelEmptyReply,
    ModelError,
    ModelNotFound,
    ModelRateLimited,
    ModelUnavailable,
    TextDelta,
    Usage,
)
from .retry import RetryPolicy, stream_with_retries

if TYPE_CHECKING:  # the SDK is imported when a model is first used: it is slow to import
    from google import genai
    from google.genai import errors, types

__all__ = ["DEFAULT_MODEL", "GeminiModel", "gemini_client", "translate_error", "vertex_ai"]

DEFAULT_MODEL = "gemini-3.8-flash"
RETRYABLE = {408, 429, 500, 502, 503, 504}
BLOCKING_FINISH = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
VERTEX_HINT = (
    "Run `gcloud auth application-default login` and set GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION, "
    "or unset GOOGLE_GENAI_USE_VERTEXAI and use GEMINI_API_KEY."
)
KEY_HINT = (
    "Set GEMINI_API_KEY to a key from https://aistudio.google.com/apikey "
    "(or `gemini_api_key` in the config file: `kestra-copilot config path`)."
)


class GeminiModel:
    def __init__(
        self,
        *,
        api_key: str | None,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = model
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._client: genai.Client | None = None  # kept referenced while streaming: the SDK closes its session with it

    def _sdk(self) -> genai.Client:
        if self._client is None:
            self._client = gemini_client(self.api_key, base_url=self.base_url, timeout=self.timeout)
        return self._client

    def _config(self, system: str, settings: GenerationSettings) -> types.GenerateContentConfig:
        from google.genai import types

        thinking = None
        if settings.thinking_budget is not None:
            thinking = types.ThinkingConfig(thinking_budget=settings.thinking_budget, include_thoughts=False)
        return types.GenerateContentConfig(
            system_instruction=system or None,
            temperature=settings.temperature,
            max_output_tokens=settings.max_output_tokens,
            thinking_config=thinking,
        )

    async def stream(
        self, messages: Sequence[Message], *, system: str = "", settings: GenerationSettings | None = None
    ) -> AsyncIterator[Event]:
        client = self._sdk()
        contents: list[types.ContentDict] = [{"role": m.role, "parts": [{"text": m.text}]} for m in messages]
        config = self._config(system, settings or GenerationSettings())
        async for event in stream_with_retries(
            lambda: self._one_attempt(client, contents, config),
            lambda exc: translate_error(exc, self.name),
            self.retry,
            self.name,
        ):
            yield event

    async def _one_attempt(
        self, client: genai.Client, contents: list[types.ContentDict], config: types.GenerateContentConfig
    ) -> AsyncIterator[Event]:
        streamed = False
        usage: types.GenerateContentResponseUsageMetadata | None = None
        finish = None
        block_reason = None
        stream = await client.aio.models.generate_content_stream(model=self.name, contents=contents, config=config)
        async for chunk in stream:
            feedback = getattr(chunk, "prompt_feedback", None)
            if feedback is not None and feedback.block_reason:
                block_reason = str(_enum_name(feedback.block_reason))
            if chunk.usage_metadata is not None:
                usage = chunk.usage_metadata
                STREAMED_USAGE.set(_usage(usage))
            for candidate in (chunk.candidates or [])[:1]:
                if candidate.finish_reason:
                    finish = _enum_name(candidate.finish_reason)
                parts = candidate.content.parts if candidate.content and candidate.content.parts else []
                for part in parts:
                    if part.text and not part.thought:
                        streamed = True
                        yield TextDelta(part.text)
        if block_reason:
            raise ModelBlocked(
                f"Gemini refused the request ({block_reason}).",
                hint="Rephrase the request; nothing in it was sent back.",
            )
        if usage is not None:
            yield _usage(usage)
        if finish in BLOCKING_FINISH:
            raise ModelBlocked(
                f"Gemini stopped its reply for {finish}.",
                hint="Rephrase the request; the reply so far is kept." if streamed else "Rephrase the request.",
            )
        if not streamed:
            why = " (the output token limit was used up, by thinking?)" if finish == "MAX_TOKENS" else ""
            raise ModelEmptyReply(f"Gemini sent an empty reply{why}.", hint="Ask again, or raise max_output_tokens.")
        yield Finish(finish or "STOP")


def vertex_ai() -> bool:
    """Whether the SDK's own variable sends calls to Vertex AI (credentials from gcloud, no API key)."""
    return os.environ.get("GOOGLE_GENAI_USE_VERTEXAI", "").lower() in ("1", "true")


def gemini_client(api_key: str | None, *, base_url: str | None = None, timeout: float | None = None) -> genai.Client:
    """A google-genai client making one attempt per call (retries are ours: the SDK's implicit aiohttp
    retry sleeps 1-10 s, its tenacity retry ignores the server's retry delay). Set-up problems — no key,
    no Vertex AI credentials — become ModelErrors that say what to do."""
    from google import genai
    from google.genai import types

    vertex = vertex_ai()
    if not api_key and not vertex:
        raise MissingApiKey("No Gemini API key is configured.", hint=KEY_HINT)
    options = types.HttpOptions(
        retry_options=types.HttpRetryOptions(attempts=1),
        timeout=int(timeout * 1000) if timeout else None,
        base_url=base_url or None,
    )
    try:
        return genai.Client(http_options=options, api_key=None if vertex else api_key)
    except Exception as exc:  # Vertex AI: no application default credentials, no project
        raise ModelAuthError(
            f"Cannot set up Gemini{' on Vertex AI' if vertex else ''}: {exc}",
            hint=VERTEX_HINT if vertex else KEY_HINT,
        ) from exc


def _enum_name(value: object) -> str:
    return str(getattr(value, "name", value))


_RETRY_IN = re.compile(r"retry in ([\d.]+)\s*s", re.I)


def _retry_after(exc: errors.APIError) -> float | None:
    """The wait the server asks for: RetryInfo.retryDelay, the message's "retry in Ns", or Retry-After."""
    body = getattr(exc, "details", None)
    details = body.get("error", {}).get("details", []) if isinstance(body, dict) else []
    for detail in details if isinstance(details, list) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                pass
    match = _RETRY_IN.search(str(getattr(exc, "message", "") or ""))
    if match:
        return float(match.group(1))
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if value and str(value).strip().isdigit():
        return float(value)
    return None


def translate_error(exc: BaseException, model: str) -> ModelError:
    """Any google-genai failure as the ModelError that says what happened and what to do (the one boundary)."""
    if isinstance(exc, ModelError):
        return exc
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        code, message = exc.code, (exc.message or str(exc))
        if code == 429:
            wait = _retry_after(exc)
            return ModelRateLimited(
                f"Gemini's rate limit or quota is reached: {message}",
                hint=(f"Wait {wait:.0f}s and ask again" if wait else "Wait a minute and ask again")
                + ", or check your plan's limits in Google AI Studio.",
                retry_after=wait,
            )
        if code in (401, 403) or (code == 400 and "API key" in message):
            return ModelAuthError(f"Gemini refused the API key: {message}", hint=KEY_HINT)
        if code == 404:
            return ModelNotFound(
                f"The model {model!r} is not available: {message}",
                hint="Pick another with --model or KESTRA_COPILOT_MODEL (e.g. gemini-3.8-flash).",
            )
        if code in RETRYABLE or code >= 500:
            return ModelUnavailable(f"Gemini is unavailable ({code}): {message}", hint="Try again in a moment.")
        return ModelError(f"Gemini rejected the request ({code}): {message}")
    if isinstance(exc, errors.UnknownApiResponseError):
        return ModelUnavailable(f"Gemini sent a malformed reply: {exc}", hint="Try again.")
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return ModelUnavailable(f"Gemini did not answer in time ({model}).", hint="Try again, or raise the timeout.")
    if _is_transport_error(exc):
        return ModelUnavailable(
            f"Cannot reach Gemini ({exc.__class__.__name__}).",
            hint="Check the network connection (or GOOGLE_GEMINI_BASE_URL), then try again.",
        )
    return ModelError(f"Unexpected error from Gemini: {exc.__class__.__name__}: {exc}")


def _is_transport_error(exc: BaseException) -> bool:
    import httpx

    kinds: list[type[BaseException]] = [httpx.TransportError, ConnectionError]
    try:
        import aiohttp

        kinds.append(aiohttp.ClientError)
    except ImportError:  # the SDK falls back to httpx without it
        pass
    try:
        import httpx2  # type: ignore[import-not-found,unused-ignore]

        kinds.append(httpx2.TransportError)
    except (ImportError, AttributeError):
        pass
    return isinstance(exc, tuple(kinds))


def _usage(usage: types.GenerateContentResponseUsageMetadata) -> Usage:
    return Usage(
        prompt_tokens=usage.prompt_token_count or 0,
        output_tokens=usage.candidates_token_count or 0,
        thought_tokens=usage.thoughts_token_count or 0,
        cached_tokens=usage.cached_content_token_count or 0,
    )
