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
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names as the checker sees them; at run time each is imported on first use
    from .chunks import KINDS as KINDS
    from .chunks import Chunk as Chunk
    from .embeddings import MiniLMEmbedder as MiniLMEmbedder
    from .hybrid import Hit as Hit
    from .hybrid import fit_budget as fit_budget
    from .hybrid import search as search
    from .index import BuildReport as BuildReport
    from .index import Index as Index
    from .index import IndexError_ as IndexError_
    from .loaders import load_source as load_source
    from .sources import Source as Source
    from .sources import SourceError as SourceError
    from .sources import default_sources as default_sources
    from .sources import load as load
    from .sources import parse_source as parse_source

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


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'copilot.retrieval' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
