"""Chat models behind one small protocol: `ChatModel.stream(messages, system=…, settings=…)` yields
TextDelta events, then Usage and Finish; errors are ModelError subclasses worded for the user.

    GeminiModel   Gemini through google-genai (retries 429/5xx/timeouts, honours the server's delay)
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
    "TextDelta",
    "Usage",
]
