"""Gemini embeddings for the index: the real google-genai SDK against the loopback Gemini's batchEmbedContents,
their own Chroma collection, and hybrid search that degrades to BM25 when the API fails."""

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from copilot.cli import main
from copilot.config import load_settings, with_embeddings
from copilot.errors import CopilotError
from copilot.llm.base import MissingApiKey, ModelAuthError, ModelNotFound
from copilot.retrieval.embeddings import MiniLMEmbedder
from copilot.retrieval.gemini_embeddings import BATCH, GeminiEmbedder
from copilot.retrieval.hybrid import DenseUnavailable, search
from copilot.retrieval.index import Index
from copilot.workspace import Workspace
from tests.fakes.gemini import FakeGemini, Fault
from tests.retrieval.test_index import CORPUS


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


def embedder(gemini: FakeGemini, **options: object) -> GeminiEmbedder:
    sleeps: list[float] = []
    made = GeminiEmbedder(api_key="test-key", base_url=gemini.url, sleep=sleeps.append, **options)  # type: ignore[arg-type]
    made.sleeps = sleeps  # type: ignore[attr-defined]
    return made


def test_texts_are_embedded_in_batches_as_unit_vectors_in_order(gemini: FakeGemini) -> None:
    texts = [f"load csv number {i} into bigquery" for i in range(BATCH + 20)]
    vectors = embedder(gemini).embed(texts)
    assert vectors.shape == (BATCH + 20, 768)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    batches = [r for r in gemini.requests if r.method == "batchEmbedContents"]
    assert [len(r.body["requests"]) for r in batches] == [BATCH, 20]
    first = batches[0].body["requests"][0]
    assert first["model"] == "models/gemini-embedding-001" and first["outputDimensionality"] == 768
    assert first["taskType"] == "RETRIEVAL_DOCUMENT"
    assert gemini.embedded_texts == texts  # order kept across batches


def test_a_query_is_embedded_as_a_query(gemini: FakeGemini) -> None:
    embedder(gemini).embed_query("merge a staging table")
    (request,) = gemini.requests
    assert request.body["requests"][0]["taskType"] == "RETRIEVAL_QUERY"


def test_a_rate_limit_is_waited_out_as_the_server_asks(gemini: FakeGemini) -> None:
    gemini.script_embeddings(Fault(429, retry_delay="3s"), None)
    made = embedder(gemini)
    assert made.embed(["a"]).shape == (1, 768)
    assert made.sleeps == [3.0] and len(gemini.requests) == 2  # type: ignore[attr-defined]


def test_a_retired_model_and_a_missing_key_say_what_to_do(gemini: FakeGemini) -> None:
    with pytest.raises(ModelNotFound) as retired:
        embedder(gemini, model="text-embedding-004").embed(["a"])
    assert "text-embedding-004" in str(retired.value)
    assert "gemini:gemini-embedding-001" in retired.value.hint and 'embeddings = "minilm"' in retired.value.hint
    with pytest.raises(MissingApiKey):
        GeminiEmbedder(api_key=None, base_url=gemini.url).embed(["a"])
    with pytest.raises(ModelAuthError) as refused:
        GeminiEmbedder(api_key="wrong", base_url=gemini.url).embed(["a"])
    assert 'embeddings = "minilm"' in refused.value.hint


def test_the_setting_picks_the_embedder() -> None:
    settings = load_settings({})
    assert Workspace(settings).embedder() is None  # MiniLM, local
    assert Workspace(with_embeddings(settings, "gemini")).embedder().name == "gemini-embedding-001"
    assert Workspace(with_embeddings(settings, "Gemini:gemini-embedding-002")).embedder().name == "gemini-embedding-002"
    with pytest.raises(CopilotError, match="minilm, gemini or gemini:MODEL"):
        with_embeddings(settings, "openai")


def test_an_index_on_gemini_vectors_has_its_own_collection_and_searches_by_meaning(
    gemini: FakeGemini, tmp_path: Path, model_cache: Path, embedder: MiniLMEmbedder
) -> None:
    local = Index(tmp_path / "index", cache_dir=model_cache)
    local.build(CORPUS, sources={"docs": "memory"})
    remote = Index(
        tmp_path / "index", cache_dir=model_cache, embedder=GeminiEmbedder(api_key="test-key", base_url=gemini.url)
    )
    assert remote.collection_name != local.collection_name
    assert "all-MiniLM-L6-v2" in (remote.embeddings_mismatch() or "")  # built with MiniLM: BM25 only for now

    report = remote.build(CORPUS, sources={"docs": "memory"})
    assert report.added == len(CORPUS) and remote.embeddings_mismatch() is None
    assert remote.manifest()["embedding_model"] == "gemini-embedding-001 (768d, Gemini API)"
    assert local.collection().count() == len(CORPUS)  # the MiniLM vectors are untouched
    (top, *_) = remote.dense_search("store credentials as secrets", 3)
    assert remote.chunks()[top[0]].title == "Secrets"
    assert remote.build(CORPUS, sources={"docs": "memory"}).added == 0  # incremental as with MiniLM


def test_hybrid_search_falls_back_to_bm25_when_the_embedding_api_fails(
    gemini: FakeGemini, tmp_path: Path, model_cache: Path
) -> None:
    index = Index(
        tmp_path / "index", cache_dir=model_cache, embedder=GeminiEmbedder(api_key="test-key", base_url=gemini.url)
    )
    index.build(CORPUS, sources={"docs": "memory"})
    broken = Index(
        tmp_path / "index", cache_dir=model_cache, embedder=GeminiEmbedder(api_key="wrong", base_url=gemini.url)
    )
    with pytest.raises(DenseUnavailable) as failed:
        search(broken, "io.kestra.plugin.gcp.bigquery.Load", k=3)
    assert "BM25 alone" in str(failed.value) and failed.value.hint
    assert failed.value.hits and failed.value.hits[0].chunk.plugin_types == ("io.kestra.plugin.gcp.bigquery.Load",)
    assert all(hit.dense_rank is None for hit in failed.value.hits)
    with pytest.raises(ModelAuthError):  # asked for dense alone, there is nothing to fall back on
        search(broken, "anything", mode="dense")


def test_the_cli_builds_and_searches_with_gemini_embeddings(
    gemini: FakeGemini,
    tmp_path: Path,
    model_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "secrets.md").write_text("# Secrets\n\nStore credentials as secrets and read them with secret().\n")
    (docs / "webhook.md").write_text("# Webhook trigger\n\nStart an execution from an HTTP request.\n")
    monkeypatch.setenv("KESTRA_COPILOT_CACHE_DIR", str(model_cache))
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gemini.url)  # the SDK's own variable

    assert main(["index", "build", "--source", str(docs), "--embeddings", "gemini"]) == 0
    assert "2 embedded" in capsys.readouterr().out and len(gemini.embedded_texts) == 2
    assert main(["index", "status", "--json", "--embeddings", "gemini"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (
        status["embedding_model"] == status["configured_embedding_model"] == "gemini-embedding-001 (768d, Gemini API)"
    )

    assert main(["index", "status"]) == 0  # the setting says minilm: the index was embedded with Gemini
    assert "warning:    The index was embedded with gemini-embedding-001" in capsys.readouterr().out

    monkeypatch.setenv("KESTRA_COPILOT_EMBEDDINGS", "gemini")
    monkeypatch.setenv("GEMINI_API_KEY", "revoked")
    assert main(["search", "http request starts a run", "-k", "1"]) == 0
    captured = capsys.readouterr()
    assert "warning: Dense search failed" in captured.err and "hint:" in captured.err
    assert captured.out.startswith("1. [doc] Webhook trigger")
