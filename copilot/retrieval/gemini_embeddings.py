"""Gemini embeddings for the index, when configured (`embeddings = "gemini"`): better multilingual and
long-text vectors than MiniLM, at the price of an API call per batch and per query.

They live in their own Chroma collection (the vectors of two models never mix), and the index manifest
names the model. `gemini-embedding-001` answers 3072 dimensions by default; 768 is asked for (Google's
recommended smaller size), and vectors are normalised since truncated ones are not. Requests go through
google-genai (`batchEmbedContents`, up to 100 texts each), with the SDK's own environment variables
honoured, and the same retries and error messages as the chat model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..llm.base import ModelError, ModelNotFound
from ..llm.retry import RetryPolicy
from ..wording import counted

if TYPE_CHECKING:
    from google import genai

    from .embeddings import Vectors

__all__ = ["GEMINI_EMBEDDING_MODEL", "GeminiEmbedder"]

GEMINI_EMBEDDING_MODEL = "gemini-embedding-001"
BATCH = 100  # texts per batchEmbedContents request (the API's limit)
MAX_CHARS = 8000  # ~2k tokens, the model's input limit; longer chunks are cut for embedding only
SWITCH_BACK = 'Or set embeddings = "minilm" (local, offline) in the config file or KESTRA_COPILOT_EMBEDDINGS.'


class GeminiEmbedder:
    def __init__(
        self,
        *,
        api_key: str | None,
        model: str = GEMINI_EMBEDDING_MODEL,
        dimension: int = 768,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name, self.dimension = model, dimension
        self.api_key, self.base_url = api_key, base_url
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client: genai.Client | None = None
        self._client_lock = threading.Lock()  # queries are embedded in worker threads, several at once

    @property
    def key(self) -> str:
        """Names this embedder's own collection."""
        return f"{self.name}-{self.dimension}"

    def describe(self) -> str:
        return f"{self.name} ({self.dimension}d, Gemini API)"

    def _sdk(self) -> genai.Client:
        with self._client_lock:
            if self._client is None:
                from ..llm.gemini import gemini_client

                self._client = gemini_client(self.api_key, base_url=self.base_url)
            return self._client

    def embed(self, texts: Sequence[str], *, task: str = "RETRIEVAL_DOCUMENT") -> Vectors:
        """Unit-length float32 vectors, one row per text, in the order given."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            batch = [text[:MAX_CHARS] or " " for text in texts[start : start + BATCH]]
            out[start : start + len(batch)] = self._call(batch, task)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: Vectors = out / np.clip(norms, 1e-12, None)
        return unit

    def embed_query(self, text: str) -> Vectors:
        row: Vectors = self.embed([text], task="RETRIEVAL_QUERY")[0]
        return row

    def _call(self, batch: list[str], task: str) -> Vectors:
        from google.genai import types

        from ..llm.gemini import translate_error

        config = types.EmbedContentConfig(task_type=task, output_dimensionality=self.dimension)
        attempt = 0
        while True:
            attempt += 1
            try:
                result = self._sdk().models.embed_content(model=self.name, contents=batch, config=config)
                vectors = [e.values for e in result.embeddings or []]
                if len(vectors) != len(batch) or any(len(v or []) != self.dimension for v in vectors):
                    raise ModelError(
                        f"Gemini answered {counted(len(vectors), 'embedding')} for "
                        f"{counted(len(batch), 'text')}, or of the wrong size.",
                        hint='Try again; if it persists, set embeddings = "minilm".',
                    )
                return np.array(vectors, dtype=np.float32)
            except ModelError:
                raise
            except Exception as exc:  # every SDK error is translated here, at this one boundary
                error = translate_error(exc, self.name)
                wait = self.retry.delay(error, attempt)
                if wait is None:
                    raise _for_embeddings(error) from exc
                self._sleep(wait)


def _for_embeddings(error: ModelError) -> ModelError:
    """The chat model's advice does not fit an embedding call: say what to change for the index."""
    if isinstance(error, ModelNotFound):
        example = f'embeddings = "gemini:{GEMINI_EMBEDDING_MODEL}"'
        error.hint = f"Name an available embedding model ({example}). {SWITCH_BACK}"
    else:
        error.hint = f"{error.hint or ''} {SWITCH_BACK}".strip()
    return error
