"""The chat model the settings describe: a local OpenAI-compatible server when `model_url` is set,
Gemini otherwise (API key, or Vertex AI through the SDK's own environment variables)."""

from __future__ import annotations

from ..config import Settings
from .base import ChatModel, MissingApiKey
from .gemini import GeminiModel, vertex_ai
from .openai_compat import OpenAICompatModel

__all__ = ["NO_MODEL_HINT", "model_from_settings"]

NO_MODEL_HINT = (
    "Set GEMINI_API_KEY (a key from https://aistudio.google.com/apikey), or use a local "
    "OpenAI-compatible server: KESTRA_COPILOT_MODEL_URL=http://localhost:11434/v1 "
    "KESTRA_COPILOT_MODEL=qwen2.5-coder:7b."
)


def model_from_settings(settings: Settings, model: str | None = None) -> ChatModel:
    name = model or settings.model
    if settings.model_url:
        return OpenAICompatModel(base_url=settings.model_url, model=name)
    if not settings.gemini_api_key and not vertex_ai():
        raise MissingApiKey("No model is configured: there is no Gemini API key.", hint=NO_MODEL_HINT)
    return GeminiModel(api_key=settings.gemini_api_key, model=name)
