"""The settings mapped onto the parts, in one place: the chat model, the Kestra client and its credentials,
the session store. `llm/` and `kestra/` take plain constructor arguments and know nothing of the settings;
the front ends (the CLI commands, the chat, the eval runner) ask a Workspace for what they use.

    workspace = Workspace(load_settings())
    model = workspace.model()                      # MissingApiKey when none is configured, saying what to do
    async with workspace.kestra() as kestra:       # ConfigError when no server is configured
        ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import Settings
from .errors import ConfigError
from .urls import check_url, display_url, same_origin

if TYPE_CHECKING:  # the heavy parts are imported when asked for: a light command loads none of them
    import httpx

    from .engine.sessions import SessionStore
    from .kestra.client import KestraClient
    from .llm.base import ChatModel
    from .retrieval.gemini_embeddings import GeminiEmbedder

__all__ = ["NO_MODEL_HINT", "Workspace"]

NO_MODEL_HINT = (
    "Set GEMINI_API_KEY (a key from https://aistudio.google.com/apikey), or use a local "
    "OpenAI-compatible server: KESTRA_COPILOT_MODEL_URL=http://localhost:11434/v1 "
    "KESTRA_COPILOT_MODEL=qwen2.5-coder:7b."
)
NO_KESTRA_HINT = "Set KESTRA_URL (e.g. http://localhost:8080) or `[kestra] url` in the config file."


@dataclass(frozen=True)
class Workspace:
    settings: Settings

    # --- the model ------------------------------------------------------------------------------------
    def model(self, name: str | None = None) -> ChatModel:
        """The configured chat model (`name` overrides the settings' one): a local OpenAI-compatible
        server when `model_url` is set, Gemini otherwise (an API key, or Vertex AI through the SDK's own
        variables). MissingApiKey when there is neither."""
        from .llm.base import MissingApiKey
        from .llm.gemini import GeminiModel, vertex_ai
        from .llm.openai_compat import OpenAICompatModel

        settings = self.settings
        chosen = name or settings.model
        if settings.model_url:
            return OpenAICompatModel(base_url=settings.model_url, model=chosen)
        if not settings.gemini_api_key and not vertex_ai():
            raise MissingApiKey("No model is configured: there is no Gemini API key.", hint=NO_MODEL_HINT)
        return GeminiModel(api_key=settings.gemini_api_key, model=chosen)

    def embedder(self) -> GeminiEmbedder | None:
        """The index's embedder: None for the default local MiniLM, Gemini's API for `gemini[:MODEL]`."""
        from .retrieval.gemini_embeddings import GEMINI_EMBEDDING_MODEL, GeminiEmbedder

        kind, _, model = self.settings.embeddings.partition(":")
        if kind != "gemini":
            return None
        return GeminiEmbedder(api_key=self.settings.gemini_api_key, model=model or GEMINI_EMBEDDING_MODEL)

    # --- Kestra ---------------------------------------------------------------------------------------
    def owns(self, url: str) -> bool:
        """Whether `url` is on the configured server's origin: the only place its credentials are sent."""
        return bool(self.settings.kestra_url) and same_origin(url, self.settings.kestra_url or "")

    def kestra_auth(self, url: str) -> httpx.Auth | None:
        """The configured Kestra credentials for a request to `url`: none unless it is the server's origin."""
        from .kestra.client import kestra_auth

        settings = self.settings
        if not self.owns(url):
            return None
        return kestra_auth(settings.kestra_username, settings.kestra_password, settings.kestra_api_token)

    def kestra(self, url: str | None = None) -> KestraClient:
        """A client for the configured server, or for `url` (`validate --server URL`). The configured
        credentials go only to the configured server's origin (scheme, host, port): another URL gets none
        but its own userinfo, and the client's `credentials_note` says so."""
        from .kestra.client import URL_EXAMPLE, KestraClient

        settings = self.settings
        target = check_url(url, "The Kestra URL", URL_EXAMPLE) if url else settings.kestra_url
        if not target:
            raise ConfigError("No Kestra server is configured.", hint=NO_KESTRA_HINT)
        own = self.owns(target)
        client = KestraClient(
            target,
            tenant=settings.kestra_tenant,
            username=settings.kestra_username if own else None,
            password=settings.kestra_password if own else None,
            api_token=settings.kestra_api_token if own else None,
            ca_bundle=settings.kestra_ca_bundle,
        )
        if not own and (settings.kestra_username or settings.kestra_password or settings.kestra_api_token):
            configured = settings.kestra_url
            belong = f"to {display_url(configured)}" if configured else "to the server KESTRA_URL names"
            client.credentials_note = (
                f"The configured Kestra credentials were not sent to {client.url}: they go only {belong}."
            )
        return client

    # --- the session store ----------------------------------------------------------------------------
    def sessions(self) -> SessionStore:
        """The session store (every turn and revision), opened (and migrated, or moved aside if damaged)."""
        from .engine.sessions import SessionStore

        return SessionStore.open(self.settings.sessions_path)
