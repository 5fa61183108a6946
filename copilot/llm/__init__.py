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
from .gemini import DEFAULT_MODEL, GeminiModel
from .openai_compat import OpenAICompatModel
from .retry import RetryPolicy

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
