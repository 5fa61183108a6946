"""Chat models behind one small protocol: `ChatModel.stream(messages, system=…, settings=…)` yields
TextDelta events, then Usage and Finish; errors are ModelError subclasses worded for the user.

    GeminiModel         Gemini through google-genai (retries 429/5xx/timeouts, honours the server's delay)
    OpenAICompatModel   a local OpenAI-compatible server: Ollama, llama.cpp's llama-server, vLLM
"""

from .base import (
    ChatModel,
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
    ModelStreamCut,
    ModelUnavailable,
    TextDelta,
    Usage,
)

# The model clients pull in google-genai and httpx, the retry policy asyncio: imported on first use, so
# `copilot.config` (which needs llm.prices), `validate` and the TUI's first frame stay fast.
_LAZY = {
    "DEFAULT_MODEL": "gemini",
    "GeminiModel": "gemini",
    "OpenAICompatModel": "openai_compat",
    "RetryPolicy": "retry",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL",
    "ChatModel",
    "Event",
    "Finish",
    "GeminiModel",
    "GenerationSettings",
    "Message",
    "MissingApiKey",
    "ModelAuthError",
    "ModelBlocked",
    "ModelEmptyReply",
    "ModelError",
    "ModelNotFound",
    "ModelRateLimited",
    "ModelStreamCut",
    "ModelUnavailable",
    "OpenAICompatModel",
    "RetryPolicy",
    "TextDelta",
    "Usage",
]
