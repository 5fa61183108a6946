"""`search` in a fresh process: what a build leaves for it (BM25 saved, Chroma's vector index written out), the
same answers as without those caches, and no module a search does not need (bench/search_cold.py times it)."""

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.retrieval.embeddings import MiniLMEmbedder
from copilot.retrieval.hybrid import search
from copilot.retrieval.index import Index
from copilot.retrieval.lexical import LexicalIndex
from copilot.retrieval.sources import corpus_dir
from tests.retrieval.test_index import CORPUS, doc

REPO = Path(__file__).resolve().parents[2]
QUERIES = ("io.kestra.plugin.jdbc.postgresql.CopyIn", "run every day on a cron schedule", "keep credentials safe")
NOT_FOR_SEARCH = (
    "textual",
    "google.genai",
    "copilot.kestra",
    "copilot.tui",
    "copilot.llm.gemini",
    "copilot.flows._validate",  # the validator (the package itself loads its parts on first use)
    "copilot.flows._parse",
    "onnx",
)
# Registered first, the handler runs last at exit: after search's own, which freezes what is left.
LIST_IMPORTS = """
import atexit, gc, json, sys
atexit.register(lambda: print(json.dumps({"frozen at exit": gc.get_freeze_count() > 0}), file=sys.stderr))
from copilot.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "imported": sorted(m for m in %r if m in sys.modules)}), file=sys.stderr)
"""


@pytest.fixture
def built(tmp_path: Path, model_cache: Path, embedder: MiniLMEmbedder) -> Index:
    index = Index(tmp_path / "index", cache_dir=model_cache)
    index.build(CORPUS, sources={"docs": "memory"})
    return index


def _answers(index: Index) -> list[list[tuple[str, float, int | None, int | None]]]:
    return [[(h.id, h.score, h.dense_rank, h.lexical_rank) for h in search(index, q, k=5)] for q in QUERIES]


def _vector_segment_lag(store: Path, collection_id: str) -> int:
    """How many log entries a process opening the store replays into the vector index (Chroma's own catalog)."""
    with contextlib.closing(sqlite3.connect(f"file:{store / 'chroma.sqlite3'}?mode=ro", uri=True)) as catalog:
        rows = catalog.execute(
            "SELECT s.scope, m.seq_id FROM segments s LEFT JOIN max_seq_id m ON m.segment_id = s.id "
            "WHERE s.collection = ?",
            (collection_id,),
        ).fetchall()
    done = {scope: seq or 0 for scope, seq in rows}
    return done["METADATA"] - done["VECTOR"]


def test_a_build_leaves_chromas_vector_index_written_out(built: Index, model_cache: Path) -> None:
    """Below 1,000 vectors Chroma kept them only in its log, and every process rebuilt the graph on open."""
    assert _vector_segment_lag(built.folder / "chroma", str(built.collection().id)) == 0
    assert built.collection().configuration["hnsw"]["sync_threshold"] == 1000  # put back as it was
    more = Index(built.folder, cache_dir=model_cache)
    more.build([*CORPUS, doc("Subflows", "Call another flow with the Subflow task and wait for it.")], sources={})
    assert _vector_segment_lag(built.folder / "chroma", str(more.collection().id)) == 0


def test_a_build_saves_the_bm25_indexes_and_a_new_process_reads_them(
    built: Index, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = sorted(p.name.split("-")[0] for p in (built.folder / "bm25").iterdir())
    assert saved == ["text", "title"]
    expected = _answers(built)

    def not_built(self: LexicalIndex, texts: object) -> None:
        raise AssertionError("BM25 built again")

    monkeypatch.setattr(LexicalIndex, "__init__", not_built)
    assert _answers(Index(built.folder, cache_dir=model_cache)) == expected


def test_a_damaged_or_outdated_bm25_index_is_built_again(built: Index, model_cache: Path) -> None:
    expected = _answers(built)
    (text,) = (built.folder / "bm25").glob("text-*")
    (text / "vocab.index.json").write_text("{not json")
    assert _answers(Index(built.folder, cache_dir=model_cache)) == expected
    Index(built.folder, cache_dir=model_cache).build(CORPUS[:-1], sources={})  # other chunks, other indexes
    names = [p.name for p in (built.folder / "bm25").iterdir()]
    assert len(names) == 2 and text.name not in names  # the old ones removed, no temporary folder left
    fewer = [h.chunk.title for h in search(Index(built.folder, cache_dir=model_cache), "retry backoff", k=3)]
    assert "Retries" not in fewer


def test_a_rebuild_drops_the_saved_bm25_indexes(built: Index) -> None:
    built.reset()
    assert not (built.folder / "bm25").exists()


def test_a_fresh_process_answers_as_the_index_does_without_its_caches(built: Index, model_cache: Path) -> None:
    """The saved BM25 indexes, the optimized ONNX copy and Chroma's written-out vectors change no answer: a
    fresh process ranks and scores as an Index with BM25 built from the chunks and the embedder running the
    ONNX graph at onnxruntime's default level."""
    import onnxruntime

    env = {**os.environ, "PYTHONPATH": str(REPO), "KESTRA_COPILOT_CACHE_DIR": str(model_cache)}
    fresh = []
    for query in QUERIES:
        argv = ["-m", "copilot", "search", query, "-k", "5", "--mode", "hybrid", "--json", "--index", str(built.folder)]
        out = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, check=True).stdout
        fresh.append([(h["id"], h["score"], h["dense_rank"], h["bm25_rank"]) for h in json.loads(out)])

    shutil.rmtree(built.folder / "bm25")
    plain = MiniLMEmbedder.__new__(MiniLMEmbedder)
    plain.__dict__.update(MiniLMEmbedder.shared(model_cache).__dict__)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    plain._session = onnxruntime.InferenceSession(str(plain.onnx_path), options, providers=["CPUExecutionProvider"])
    uncached = Index(built.folder, cache_dir=model_cache)
    uncached._embedder = plain
    uncached._saved_lexical = lambda field, chunks: LexicalIndex(  # type: ignore[method-assign]
        [chunks[i].embedded_text if field == "text" else chunks[i].title for i in chunks]
    )
    assert fresh == _answers(uncached)


def test_search_imports_no_ui_model_sdk_or_kestra_client_and_exits_quickly(
    tmp_path: Path, model_cache: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KESTRA_COPILOT_CACHE_DIR", str(model_cache))
    assert main(["index", "build", "--source", f"corpus={corpus_dir() / 'flows'}"]) == 0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = ["-c", LIST_IMPORTS % (NOT_FOR_SEARCH,), "search", "load a csv into postgres", "-k", "5"]
    done = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, check=True, cwd=tmp_path)
    report, at_exit = (json.loads(line) for line in done.stderr.strip().splitlines()[-2:])
    assert report == {"code": 0, "imported": []}
    assert "1. [flow]" in done.stdout
    # The interpreter's last collection through Chroma's and onnxruntime's objects is skipped (~0.15 s)
    assert at_exit == {"frozen at exit": True}


def test_search_from_a_shell_ranks_by_relevance_and_hybrid_shows_what_a_turn_sends(
    built: Index, model_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KESTRA_COPILOT_CACHE_DIR", str(model_cache))
    for query in QUERIES:
        assert main(["search", query, "-k", "5", "--json", "--index", str(built.folder)]) == 0
        scores = [hit["score"] for hit in json.loads(capsys.readouterr().out)]
        assert scores == sorted(scores, reverse=True)  # best first: what a person or an agent reads
    assert main(["search", QUERIES[1], "-k", "5", "--mode", "hybrid", "--json", "--index", str(built.folder)]) == 0
    assert json.loads(capsys.readouterr().out)  # the hits a turn would send the model
