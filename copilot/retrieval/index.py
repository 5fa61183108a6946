"""The retrieval index: chunks in Chroma (dense) and BM25 (lexical), built incrementally.

Layout under the index folder:
    chroma/          Chroma's PersistentClient store (unless a Chroma server URL is given)
    chunks.jsonl     every indexed chunk (text + metadata): what BM25 is built from
    manifest.json    the fingerprint: sources, embedding model, chunker version, Kestra version
    bm25/            the BM25 indexes of those chunks (over their text, over their titles), saved by the
                     build or the first search for the next process, named by a digest of the chunk ids

A rebuild embeds only chunks whose id (source, place and content hash) is new, and deletes the chunks of
sources that are gone or changed. Embedding runs at ~17 chunks/s on 2 cores, so this matters. A build ends
with Chroma's vector index written out in full (`_persist_vectors`), so that a search process opens it
rather than rebuilding it from Chroma's log.

A damaged index (a bad chunk line, a manifest that is not an object, a Chroma store that will not open) is
an IndexError_ saying so; `build(rebuild=True)` recovers from any state: it drops what the folder holds
(moving aside a file that stands where the folder should be) and embeds from scratch. The folder and its
files are private to the user.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ..errors import CopilotError
from ..private_files import private_dir, private_tree, write_private
from .chunks import Chunk
from .embeddings import Embedder, MiniLMEmbedder
from .lexical import FORMAT as LEXICAL_FORMAT
from .lexical import LexicalIndex

if TYPE_CHECKING:  # chromadb is imported on first use: it takes seconds
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Where
    from chromadb.base_types import InclusionExclusionOperator, LiteralValue

__all__ = ["CHUNKER_VERSION", "BuildReport", "Index", "IndexError_"]

CHUNKER_VERSION = 1
COLLECTION = "kestra-copilot-minilm"
EMBED_BATCH = 64
_SEGMENT_ID = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")  # a folder name, never a path
# Chroma keeps one System per store path, process-wide: two threads opening (or dropping) a store at once fail
# ("Could not connect to tenant default_tenant"). Every opening and dropping goes through this lock.
_CHROMA_LOCK = threading.RLock()
# Never a chunk id (20 hex digits): the id `_persist_vectors` deletes, which makes Chroma write its index.
NO_SUCH_ID = "kestra-copilot: no such chunk"
REBUILD_HINT = "Rebuild it: `kestra-copilot index build --rebuild` (with the --source options it was built from)."


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
    """Safe to share between threads (a turn searches in a worker thread; `eval run` runs cases at once):
    what is loaded on first use (the chunks, the BM25 indexes, the embedder, the Chroma collection) is
    loaded once, under a lock."""

    def __init__(
        self, folder: Path, *, cache_dir: Path, chroma_url: str | None = None, embedder: Embedder | None = None
    ) -> None:
        self.folder = Path(folder)
        self.cache_dir = Path(cache_dir)
        self.chroma_url = chroma_url
        self._embedder = embedder  # None: MiniLM, built on first use; else e.g. a GeminiEmbedder
        # Another model than the default has a collection of its own; None: MiniLM's, the default collection.
        self._other_model = None if isinstance(embedder, MiniLMEmbedder) else embedder
        self._collection: Collection | None = None
        self._chunks: dict[str, Chunk] | None = None
        self._lexical: dict[str, LexicalIndex] = {}
        self._order: list[str] = []
        self._lock = threading.RLock()  # the lazily loaded state above

    # --- storage ------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def manifest(self) -> dict[str, object]:
        """The index's fingerprint; {} when there is none yet."""
        try:
            manifest: object = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except (OSError, ValueError) as exc:
            raise self._damaged(f"{self.manifest_path.name} cannot be read ({exc})") from exc
        if not isinstance(manifest, dict):
            raise self._damaged(f"{self.manifest_path.name} is not a JSON object")
        return manifest

    def sources(self) -> dict[str, str]:
        """What the index was built from, as its manifest records it: source name → where (a path, a URL)."""
        sources = self.manifest().get("sources")
        return {str(name): str(where) for name, where in sources.items()} if isinstance(sources, dict) else {}

    def _damaged(self, what: str) -> IndexError_:
        return IndexError_(f"The retrieval index at {self.folder} is damaged: {what}.", hint=REBUILD_HINT)

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = MiniLMEmbedder.shared(self.cache_dir)
            return self._embedder

    @property
    def embedding_model(self) -> str:
        """The configured embedder's description, without loading it."""
        return MiniLMEmbedder.description if self._other_model is None else self._other_model.describe()

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
        if self._other_model is not None:
            name += "-" + re.sub(r"[^A-Za-z0-9_-]", "-", self._other_model.key)
        if self.chroma_url:
            name += f"-{hashlib.sha1(str(self.folder.resolve()).encode()).hexdigest()[:10]}"
        return name

    def collection(self) -> Collection:
        with _CHROMA_LOCK:
            if self._collection is None:
                from .chroma_function import CopilotMiniLM

                with self._chroma():
                    # Vectors are always computed here and passed in; the function is registered so a reopened
                    # MiniLM collection never falls back to Chroma's downloading default.
                    function = CopilotMiniLM(cache_dir=str(self.cache_dir)) if self._other_model is None else None
                    self._collection = self._client().get_or_create_collection(
                        self.collection_name,
                        # Chroma asks for a function of texts or images, and types its own text functions
                        # (EmbeddingFunction[Documents], as ours) with this same ignore.
                        embedding_function=function,  # type: ignore[arg-type]
                        metadata={"hnsw:space": "cosine"},
                    )
            return self._collection

    def _client(self) -> ClientAPI:
        if self.chroma_url:
            return _http_client(self.chroma_url)
        import chromadb

        private_dir(self.folder)
        return chromadb.PersistentClient(path=str(self.folder / "chroma"))

    @contextlib.contextmanager
    def _chroma(self) -> Iterator[None]:
        """Chroma's own errors (its Rust core, SQLite, the vector files, the server) as an IndexError_ that
        says how to recover; they share no base class worth naming."""
        try:
            yield
        except CopilotError:
            raise
        except Exception as exc:
            with _CHROMA_LOCK:
                self._collection = None
            if self.chroma_url:
                raise IndexError_(
                    f"The Chroma server at {self.chroma_url} failed: {exc}.",
                    hint=f"Check the server (`chroma run --path DIR`); if its data is damaged: {REBUILD_HINT}",
                ) from exc
            _forget_chroma(str(self.folder / "chroma"))  # Chroma keeps a broken store per path: open it afresh
            raise self._damaged(f"its Chroma store cannot be read ({exc})") from exc

    def chunks(self) -> dict[str, Chunk]:
        with self._lock:
            if self._chunks is None:
                self._chunks = self._load_chunks()
            return self._chunks

    def _load_chunks(self) -> dict[str, Chunk]:
        chunks: dict[str, Chunk] = {}
        path = self.folder / "chunks.jsonl"
        if path.is_file():
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, ValueError) as exc:
                raise self._damaged(f"{path.name} cannot be read ({exc})") from exc
            for number, line in enumerate(lines, 1):
                try:
                    record = json.loads(line)
                    chunks[record["id"]] = Chunk.from_metadata(record["text"], record["metadata"])
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    raise self._damaged(f"line {number} of {path.name} is not a chunk ({exc!r})") from exc
        return chunks

    def _save_chunks(self, chunks: dict[str, Chunk], manifest: dict[str, object]) -> None:
        private_dir(self.folder)
        lines = (json.dumps({"id": i, "text": c.text, "metadata": c.metadata()}) for i, c in chunks.items())
        try:
            write_private(self.folder / "chunks.jsonl", "\n".join(lines) + ("\n" if chunks else ""))
            write_private(self.manifest_path, json.dumps(manifest, indent=2))
        except OSError as exc:
            raise IndexError_(f"Cannot write the index at {self.folder}: {exc}.", hint=REBUILD_HINT) from exc

    def reset(self) -> list[str]:
        """Drop everything the index holds, whatever state it is in (`index build --rebuild`). A file standing
        where the folder should be is moved aside, not deleted; the notes say where."""
        with _CHROMA_LOCK, self._lock:
            return self._reset()

    def _reset(self) -> list[str]:
        notes: list[str] = []
        self._collection, self._chunks, self._lexical = None, None, {}
        if not self.folder.is_dir() and (self.folder.exists() or self.folder.is_symlink()):
            aside = _aside(self.folder)
            os.replace(self.folder, aside)
            notes.append(f"{self.folder} was not a folder: it was moved to {aside}.")
        for name in ("chunks.jsonl", "manifest.json", "bm25"):
            _remove(self.folder / name)
        if self.chroma_url:
            with contextlib.suppress(Exception):  # none yet (Chroma raises NotFoundError or ValueError, by version)
                self._client().delete_collection(self.collection_name)
            return notes
        path = str(self.folder / "chroma")
        _forget_chroma(path)  # a store this process opened before is opened afresh, as a new process would
        try:
            client = self._client()
            if self.collection_name in {getattr(c, "name", c) for c in client.list_collections()}:
                folders = _segment_folders(Path(path), str(client.get_collection(self.collection_name).id))
                client.delete_collection(self.collection_name)  # other models' collections stay
                for folder in folders:  # Chroma leaves a deleted collection's vectors on disk (chroma#5520)
                    _remove(folder)
        except Exception:  # the store itself is damaged: it is derived data, embedded again below
            _forget_chroma(path)
            _remove(Path(path))
        return notes

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
        if rebuild:
            report.warnings += self.reset()
        collection = self.collection()
        with self._chroma():
            embedded = set() if rebuild else set(_all_ids(collection))
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
        with self._lock:
            self._chunks, self._lexical = dict(wanted), {}
        for start in range(0, len(fresh), EMBED_BATCH):
            batch = fresh[start : start + EMBED_BATCH]
            vectors = embedder.embed([c.embedded_text for c in batch])
            with self._chroma():
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
        write_private(self.manifest_path, json.dumps(manifest, indent=2))
        if not self.chroma_url:
            self._persist_vectors()
            private_tree(self.folder)  # Chroma writes its files with the umask's modes
        for searched in ("text", "title"):  # saved now, so the first search does not build them
            self.lexical(searched)
        report.seconds = time.perf_counter() - started
        return report

    def _persist_vectors(self) -> None:
        """Have the embedded Chroma write its vector index out in full. It writes it only every 1,000 new vectors
        (`hnsw:sync_threshold`); the others stay in its log, and every process that opens the store builds
        them into a graph again: ~0.1 s for a few hundred vectors, before each first search, and in an order
        that varies between processes (so did the deepest dense ranks). Chroma has no call for it (chroma#7463):
        the threshold is lowered, the store reopened (a loaded segment keeps the threshold it was loaded with),
        one write that changes nothing is made, and the threshold put back."""
        path = str(self.folder / "chroma")
        with _CHROMA_LOCK:
            try:  # an optimisation only: a store left as Chroma keeps it still answers
                threshold = (self.collection().configuration.get("hnsw") or {}).get("sync_threshold")
                if not isinstance(threshold, int) or threshold <= 2:
                    return
                self.collection().modify(configuration={"hnsw": {"sync_threshold": 2}})
                try:
                    self._reopen(path)
                    self.collection().delete(ids=[NO_SUCH_ID])
                finally:
                    self.collection().modify(configuration={"hnsw": {"sync_threshold": threshold}})
                    self._reopen(path)  # later writes of this process with the threshold put back
            except Exception:  # Chroma's errors share no base class worth naming (see _chroma)
                self._reopen(path)

    def _reopen(self, path: str) -> None:
        _forget_chroma(path)
        self._collection = None

    def status(self) -> dict[str, object]:
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
        with self._lock:
            if field not in self._lexical:
                chunks = self.chunks()
                self._order = list(chunks)
                self._lexical[field] = self._saved_lexical(field, chunks)
            return self._lexical[field]

    def _saved_lexical(self, field: str, chunks: dict[str, Chunk]) -> LexicalIndex:
        """The BM25 index saved in bm25/ for exactly these chunks in this order (their ids name their content),
        else built and saved there for the next process. A folder that cannot be written only costs the time."""
        if not chunks:
            return LexicalIndex([])
        digest = hashlib.sha256(f"{LEXICAL_FORMAT}\0{field}\0{chr(0).join(chunks)}".encode()).hexdigest()[:20]
        folder = self.folder / "bm25" / f"{field}-{digest}"
        if folder.is_dir():
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):  # damaged: built again
                return LexicalIndex.load(folder)
        lexical = LexicalIndex([chunks[i].embedded_text if field == "text" else chunks[i].title for i in chunks])
        with contextlib.suppress(OSError, CopilotError):
            _save_lexical(lexical, folder)
        return lexical

    def lexical_search(
        self, query: str, k: int, kinds: Sequence[str] | None = None, *, field: str = "text"
    ) -> list[tuple[str, float]]:
        with self._lock:  # the BM25 index and the chunk order it was built on, from the same load
            lexical, chunks, order = self.lexical(field), self.chunks(), self._order
        depth = k if not kinds else k * 8
        hits = [(order[p], s) for p, s in lexical.search(query, depth)]
        if kinds:
            hits = [(i, s) for i, s in hits if chunks[i].kind in kinds]
        return hits[:k]

    def dense_search(self, query: str, k: int, kinds: Sequence[str] | None = None) -> list[tuple[str, float]]:
        with self._chroma():
            available = self.collection().count()
        if not available:
            return []
        vector = self.embedder.embed_query(query)
        with self._chroma():
            result = self.collection().query(
                query_embeddings=[vector.tolist()],
                n_results=min(k, available),
                where=_of_kinds(kinds or ()),
                include=["distances"],
            )
        distances = result["distances"]
        if distances is None:  # asked for in `include`: a store that answers without them is broken
            raise self._damaged("its Chroma store answered a search without distances")
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], distances[0], strict=True)]

    def require_built(self) -> None:
        if not self.chunks():
            what = "is empty" if self.folder.is_dir() else "has not been built yet"
            raise IndexError_(
                f"The retrieval index at {self.folder} {what}.",
                hint="Build it with `kestra-copilot index build` (see --help for sources).",
            )


def _http_client(url: str) -> ClientAPI:
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


def _of_kinds(kinds: Sequence[str]) -> Where | None:
    """Chroma's filter on chunks of these kinds; None (no filter) for every kind."""
    if len(kinds) == 1:
        return {"kind": kinds[0]}
    if not kinds:
        return None
    one_of: dict[InclusionExclusionOperator, list[LiteralValue]] = {"$in": [*kinds]}
    return {"kind": one_of}


def _all_ids(collection: Collection) -> list[str]:
    return list(collection.get(include=[])["ids"])


def _delete(collection: Collection, ids: Sequence[str]) -> None:
    for start in range(0, len(ids), 5000):  # Chroma caps the batch size
        collection.delete(ids=list(ids[start : start + 5000]))


def _segment_folders(store: Path, collection_id: str) -> list[Path]:
    """The folders holding a collection's vectors in a PersistentClient store, read from Chroma's own catalog
    (its `segments` table); none if this Chroma version keeps them otherwise."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store / 'chroma.sqlite3'}?mode=ro", uri=True)) as catalog:
            rows = catalog.execute("SELECT id FROM segments WHERE collection = ?", (collection_id,)).fetchall()
    except sqlite3.Error:
        return []
    return [store / name for (name,) in rows if isinstance(name, str) and _SEGMENT_ID.fullmatch(name)]


def _forget_chroma(path: str) -> None:
    """Chroma caches one System per store path, a broken one too: drop it, so the next client starts afresh."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        with _CHROMA_LOCK:
            system = SharedSystemClient._identifier_to_system.pop(path, None)
            SharedSystemClient._identifier_to_refcount.pop(path, None)
            if system is not None:
                system.stop()
    except Exception:  # another Chroma version: at worst this process cannot reopen the store
        pass


def _save_lexical(lexical: LexicalIndex, folder: Path) -> None:
    """Save into a private temporary folder beside `folder`, then rename it into place (atomic: another process
    reads a whole index or none); the same field's indexes of other chunks are removed."""
    parent = private_dir(folder.parent)
    field = folder.name.split("-", 1)[0]
    temporary = Path(tempfile.mkdtemp(dir=parent, prefix=f".{field}-"))
    try:
        lexical.save(temporary)
        private_tree(temporary)
        os.replace(temporary, folder)  # fails when another process saved it first: theirs is the same
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    for entry in parent.iterdir():
        if entry != folder and entry.name.startswith((f"{field}-", f".{field}-")):
            shutil.rmtree(entry, ignore_errors=True)


def _remove(path: Path) -> None:
    """Delete an entry of the index folder, whatever it is (a link is removed, not what it points to)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside, count = path.with_name(f"{path.name}.moved-{stamp}"), 1
    while aside.exists() or aside.is_symlink():
        count += 1
        aside = path.with_name(f"{path.name}.moved-{stamp}-{count}")
    return aside
