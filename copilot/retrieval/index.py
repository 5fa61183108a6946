"""The retrieval index: chunks in Chroma (dense) and BM25 (lexical), built incrementally.

Layout under the index folder:
    chroma/          Chroma's PersistentClient store (unless a Chroma server URL is given)
    chunks.jsonl     every indexed chunk (text + metadata): what BM25 is rebuilt from on open
    manifest.json    the fingerprint: sources, embedding model, chunker version, Kestra version

A rebuild embeds only chunks whose id (source, place and content hash) is new, and deletes the chunks of
sources that are gone or changed. Embedding runs at ~17 chunks/s on 2 cores, so this matters.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import CopilotError
from .chunks import Chunk
from .embeddings import MiniLMEmbedder
from .lexical import LexicalIndex

__all__ = ["CHUNKER_VERSION", "BuildReport", "Index", "IndexError_"]

CHUNKER_VERSION = 1
COLLECTION = "kestra-copilot-minilm"
EMBED_BATCH = 64


class IndexError_(CopilotError):
    pass


@dataclass
class BuildReport:
    added: int = 0
    removed: int = 0
    kept: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.added + self.kept


Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed)


class Index:
    def __init__(self, folder: Path, *, cache_dir: Path, chroma_url: str | None = None, embedder: Any = None) -> None:
        self.folder = Path(folder)
        self.cache_dir = Path(cache_dir)
        self.chroma_url = chroma_url
        self._embedder = embedder  # None: MiniLM, built on first use; else e.g. a GeminiEmbedder
        self._local = embedder is None or isinstance(embedder, MiniLMEmbedder)  # the default collection
        self._collection: Any = None
        self._chunks: dict[str, Chunk] | None = None
        self._lexical: dict[str, LexicalIndex] = {}
        self._order: list[str] = []

    # --- storage ------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return {}

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            self._embedder = MiniLMEmbedder.shared(self.cache_dir)
        return self._embedder

    @property
    def embedding_model(self) -> str:
        """The configured embedder's description, without loading it."""
        return MiniLMEmbedder.description if self._local else self._embedder.describe()

    def embeddings_mismatch(self) -> str | None:
        """Why dense search cannot answer yet: the index was embedded with another model."""
        built_with = self.manifest().get("embedding_model")
        if not built_with or built_with == self.embedding_model or not self.chunks():
            return None
        return (
            f"The index was embedded with {built_with}, not {self.embedding_model}: only BM25 answers "
            "until `kestra-copilot index build` embeds it again."
        )

    @property
    def collection_name(self) -> str:
        """One collection per index folder (on a shared Chroma server, indexes must not mix) and per
        embedding model other than the default (vectors of two models never mix)."""
        name = COLLECTION
        if not self._local:
            name += "-" + re.sub(r"[^A-Za-z0-9_-]", "-", self._embedder.key)
        if self.chroma_url:
            name += f"-{hashlib.sha1(str(self.folder.resolve()).encode()).hexdigest()[:10]}"
        return name

    def collection(self) -> Any:
        if self._collection is None:
            import chromadb

            from .chroma_function import CopilotMiniLM

            if self.chroma_url:
                client = _http_client(self.chroma_url)
            else:
                self.folder.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(self.folder / "chroma"))
            # Vectors are always computed here and passed in; the function is registered so a reopened
            # MiniLM collection never falls back to Chroma's downloading default.
            self._collection = client.get_or_create_collection(
                self.collection_name,
                embedding_function=CopilotMiniLM(cache_dir=str(self.cache_dir)) if self._local else None,
                metadata={"hnsw:space": "cosine"},
            )
        return self._collection

    def chunks(self) -> dict[str, Chunk]:
        if self._chunks is None:
            self._chunks = {}
            path = self.folder / "chunks.jsonl"
            if path.is_file():
                for line in path.read_text(encoding="utf-8").splitlines():
                    record = json.loads(line)
                    chunk = Chunk.from_metadata(record["text"], record["metadata"])
                    self._chunks[record["id"]] = chunk
        return self._chunks

    def _save_chunks(self, chunks: dict[str, Chunk], manifest: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = (json.dumps({"id": i, "text": c.text, "metadata": c.metadata()}) for i, c in chunks.items())
        _write_atomic(self.folder / "chunks.jsonl", "\n".join(lines) + ("\n" if chunks else ""))
        _write_atomic(self.manifest_path, json.dumps(manifest, indent=2))

    # --- building -----------------------------------------------------------------------------------
    def build(
        self,
        chunks: Sequence[Chunk],
        *,
        sources: dict[str, str],
        kestra_version: str | None = None,
        progress: Progress | None = None,
        rebuild: bool = False,
    ) -> BuildReport:
        """Make the index hold exactly `chunks` (`sources`: name → path or URL, for the fingerprint)."""
        started = time.perf_counter()
        report = BuildReport()
        wanted = {c.id: c for c in chunks}
        collection = self.collection()
        embedded = set() if rebuild else set(_all_ids(collection))
        if rebuild and collection.count():
            _delete(collection, _all_ids(collection))
        stale = [i for i in embedded if i not in wanted]
        _delete(collection, stale)
        report.removed = len(stale)
        fresh = [c for i, c in wanted.items() if i not in embedded]
        report.kept = len(wanted) - len(fresh)
        embedder = self.embedder
        manifest = {
            "sources": sources,
            "embedding_model": embedder.describe(),
            "chunker_version": CHUNKER_VERSION,
            "kestra_version": kestra_version,
            "chunks": len(wanted),
            "embedded": report.kept,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        # The chunk list is written first: BM25 answers from it at once, while dense embedding (minutes for
        # a large corpus) goes on; an interrupted build resumes from what Chroma already holds.
        self._save_chunks(wanted, manifest)
        self._chunks, self._lexical = dict(wanted), {}
        for start in range(0, len(fresh), EMBED_BATCH):
            batch = fresh[start : start + EMBED_BATCH]
            vectors = embedder.embed([c.embedded_text for c in batch])
            collection.upsert(
                ids=[c.id for c in batch],
                embeddings=[v.tolist() for v in vectors],
                documents=[c.text for c in batch],
                metadatas=[c.metadata() for c in batch],
            )
            report.added += len(batch)
            if progress:
                progress(report.added, len(fresh))
        manifest["embedded"] = len(wanted)
        _write_atomic(self.manifest_path, json.dumps(manifest, indent=2))
        report.seconds = time.perf_counter() - started
        return report

    def status(self) -> dict[str, Any]:
        """What `index status` shows: the manifest plus live counts."""
        manifest = self.manifest()
        return {
            **manifest,
            "folder": str(self.folder),
            "chroma_url": self.chroma_url,
            "chunks": len(self.chunks()),
            "configured_embedding_model": self.embedding_model,
        }

    # --- reading ------------------------------------------------------------------------------------
    def lexical(self, field: str = "text") -> LexicalIndex:
        """BM25 over each chunk's searched text (`text`) or over its title alone (`title`)."""
        if field not in self._lexical:
            chunks = self.chunks()
            self._order = list(chunks)
            texts = [chunks[i].embedded_text if field == "text" else chunks[i].title for i in self._order]
            self._lexical[field] = LexicalIndex(texts)
        return self._lexical[field]

    def lexical_search(
        self, query: str, k: int, kinds: Sequence[str] | None = None, *, field: str = "text"
    ) -> list[tuple[str, float]]:
        lexical, chunks = self.lexical(field), self.chunks()
        depth = k if not kinds else k * 8
        hits = [(self._order[p], s) for p, s in lexical.search(query, depth)]
        if kinds:
            hits = [(i, s) for i, s in hits if chunks[i].kind in kinds]
        return hits[:k]

    def dense_search(self, query: str, k: int, kinds: Sequence[str] | None = None) -> list[tuple[str, float]]:
        available = self.collection().count()
        if not available:
            return []
        vector = self.embedder.embed_query(query)
        where = None
        if kinds:
            where = {"kind": kinds[0]} if len(kinds) == 1 else {"kind": {"$in": list(kinds)}}
        result = self.collection().query(
            query_embeddings=[vector.tolist()], n_results=min(k, available), where=where, include=["distances"]
        )
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], result["distances"][0], strict=True)]

    def require_built(self) -> None:
        if not self.chunks():
            raise IndexError_(
                f"The retrieval index at {self.folder} is empty.",
                hint="Build it with `kestra-copilot index build` (see --help for sources).",
            )


def _http_client(url: str) -> Any:
    import chromadb

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise IndexError_(f"The Chroma URL must look like http://host:8000, not {url!r}.")
    port = parsed.port or (443 if parsed.scheme == "https" else 8000)
    try:
        return chromadb.HttpClient(host=parsed.hostname, port=port, ssl=parsed.scheme == "https")
    except ValueError as exc:  # what chromadb raises when nothing answers
        raise IndexError_(
            f"Cannot reach the Chroma server at {url}.",
            hint="Start it (`chroma run --path DIR`), fix --chroma-url / KESTRA_COPILOT_CHROMA_URL, "
            "or leave it unset to keep the index embedded.",
        ) from exc


def _all_ids(collection: Any) -> list[str]:
    return list(collection.get(include=[])["ids"])


def _delete(collection: Any, ids: Sequence[str]) -> None:
    for start in range(0, len(ids), 5000):  # Chroma caps the batch size
        collection.delete(ids=list(ids[start : start + 5000]))


def _write_atomic(path: Path, text: str) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temp, path)
