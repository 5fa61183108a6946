"""The offline embedder as a registered Chroma EmbeddingFunction.

Chroma stores an embedding function's name and config with each collection and rebuilds it from them
when the collection is reopened; an unknown name falls back to Chroma's default function, which
downloads its model. Registering ours under a stable name keeps reopened collections offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from .embeddings import MiniLMEmbedder

__all__ = ["CopilotMiniLM"]


@register_embedding_function
class CopilotMiniLM(EmbeddingFunction[Documents]):
    def __init__(self, cache_dir: str) -> None:
        self.cache_dir = cache_dir

    def __call__(self, input: Documents) -> Embeddings:  # `input`: the name Chroma checks for
        vectors = MiniLMEmbedder.shared(Path(self.cache_dir)).embed(list(input))
        return [row for row in vectors]

    @staticmethod
    def name() -> str:
        return "kestra-copilot-minilm"

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"

    def get_config(self) -> dict[str, object]:
        return {"cache_dir": self.cache_dir}

    @staticmethod
    def build_from_config(config: Mapping[str, object]) -> CopilotMiniLM:
        return CopilotMiniLM(cache_dir=str(config["cache_dir"]))
