"""Grounding: corpus sources → chunks → an offline-embedded Chroma index + BM25 → hybrid search.

    sources = default_sources(kestra=True)                # corpus/, its manifest, the Kestra server
    chunks = [c for s in sources for c in load(s, cache_dir=…, kestra=Workspace(settings).kestra).chunks]
    index = Index(settings.index_dir, cache_dir=settings.cache_dir)
    index.build(chunks, sources={s.name: s.describe() for s in sources})
    hits = fit_budget(search(index, "load a CSV into BigQuery", k=8), budget_tokens=3000)

Names are imported on first use, so `import copilot.retrieval.chunks` (the CLI's argument parser does)
does not pull in numpy, onnxruntime or Chroma.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "KINDS": "chunks",
    "Chunk": "chunks",
    "BuildReport": "index",
    "Index": "index",
    "IndexError_": "index",
    "Hit": "hybrid",
    "fit_budget": "hybrid",
    "search": "hybrid",
    "Source": "sources",
    "SourceError": "sources",
    "default_sources": "sources",
    "load": "sources",
    "parse_source": "sources",
    "MiniLMEmbedder": "embeddings",
    "load_source": "loaders",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'copilot.retrieval' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
