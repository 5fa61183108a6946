"""The index: incremental builds, BM25 before dense is done, reopening, hybrid search, filters, budgets."""

from pathlib import Path

import pytest

from copilot.retrieval import index as index_module
from copilot.retrieval.chunks import Chunk
from copilot.retrieval.embeddings import MiniLMEmbedder
from copilot.retrieval.hybrid import fit_budget, search
from copilot.retrieval.index import Index, IndexError_


def doc(title: str, text: str, kind: str = "doc", source: str = "docs", types: tuple[str, ...] = ()) -> Chunk:
    return Chunk(text, kind, source, title, f"{source}/{title.lower().replace(' ', '-')}.md", types)


CORPUS = [
    doc("Schedule trigger", "Run a flow on a cron schedule. The Schedule trigger takes a cron expression."),
    doc("Backfills", "Backfill executions for past dates of a schedule from the UI, for a date range."),
    doc("Webhook trigger", "Start an execution when an HTTP request hits the webhook URL with its key."),
    doc("Secrets", "Store credentials as secrets and read them with the secret() function."),
    doc("KV store", "Keep a value between executions in the key-value store with kv() and the Set task."),
    doc(
        "BigQuery Load",
        "Load a file from internal storage into a BigQuery table with io.kestra.plugin.gcp.bigquery.Load.",
        kind="plugin-doc",
        types=("io.kestra.plugin.gcp.bigquery.Load",),
    ),
    doc(
        "Postgres CopyIn",
        "Copy a CSV file into a PostgreSQL table with io.kestra.plugin.jdbc.postgresql.CopyIn.",
        kind="plugin-doc",
        types=("io.kestra.plugin.jdbc.postgresql.CopyIn",),
    ),
    doc(
        "Flow load_taxi",
        "```yaml\nid: load_taxi\ntasks:\n  - id: load\n    type: io.kestra.plugin.gcp.bigquery.Load\n```",
        kind="flow",
        source="flows",
        types=("io.kestra.plugin.gcp.bigquery.Load",),
    ),
    doc("Python scripts", "Run Python code in a container with the Script task and return outputs."),
    doc("Retries", "Retry a failing task with an exponential backoff, a maximum of attempts and an interval."),
]


@pytest.fixture
def built(tmp_path: Path, model_cache: Path, embedder: MiniLMEmbedder) -> Index:
    index = Index(tmp_path / "index", cache_dir=model_cache)
    index.build(CORPUS, sources={"docs": "memory"}, kestra_version="1.3.2")
    return index


def test_build_then_rebuild_embeds_only_what_changed(built: Index) -> None:
    changed = [*CORPUS[:-1], doc("Retries", "Retry a failing task up to five times, waiting a minute between tries.")]
    changed.append(doc("Subflows", "Call another flow with the Subflow task and wait for it."))
    report = built.build(changed, sources={"docs": "memory"})
    assert (report.added, report.removed, report.kept) == (2, 1, 9)
    assert built.collection().count() == 11
    again = built.build(changed, sources={"docs": "memory"})
    assert (again.added, again.removed, again.kept) == (0, 0, 11)


def test_manifest_records_the_fingerprint(built: Index) -> None:
    manifest = built.manifest()
    assert manifest["sources"] == {"docs": "memory"}
    assert manifest["kestra_version"] == "1.3.2"
    assert "all-MiniLM-L6-v2" in manifest["embedding_model"]
    assert manifest["chunker_version"] == index_module.CHUNKER_VERSION
    assert manifest["chunks"] == manifest["embedded"] == len(CORPUS)


def test_a_reopened_index_searches_offline_with_the_same_vectors(built: Index, model_cache: Path) -> None:
    reopened = Index(built.folder, cache_dir=model_cache)
    hits = search(reopened, "run every day on a cron schedule", k=3, mode="dense")
    assert hits[0].chunk.title == "Schedule trigger"
    assert search(built, "run every day on a cron schedule", k=3, mode="dense")[0].score == pytest.approx(hits[0].score)


def test_bm25_answers_while_dense_embedding_is_still_running(
    tmp_path: Path, model_cache: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "EMBED_BATCH", 3)
    index = Index(tmp_path / "index", cache_dir=model_cache)
    seen: list[list[str]] = []

    def progress(done: int, total: int) -> None:
        # The lexical side already covers every chunk; dense covers those embedded so far.
        lexical = [hit.chunk.title for hit in search(index, "webhook HTTP request key", k=1, mode="bm25")]
        seen.append(lexical)
        if done == 3:
            raise KeyboardInterrupt  # the user gives up half-way

    with pytest.raises(KeyboardInterrupt):
        index.build(CORPUS, sources={"docs": "memory"}, progress=progress)
    assert seen == [["Webhook trigger"]]
    assert index.collection().count() == 3
    resumed = Index(index.folder, cache_dir=model_cache).build(CORPUS, sources={"docs": "memory"})
    assert (resumed.added, resumed.kept) == (len(CORPUS) - 3, 3)


def test_hybrid_search_finds_exact_plugin_types_and_filters_by_kind(built: Index) -> None:
    hits = search(built, "io.kestra.plugin.jdbc.postgresql.CopyIn", k=3)
    assert hits[0].chunk.title == "Postgres CopyIn"
    assert hits[0].lexical_rank == 1 and hits[0].dense_rank is not None
    flows = search(built, "load into BigQuery", k=5, kinds=["flow"])
    assert [h.chunk.kind for h in flows] == ["flow"]
    both = search(built, "load into BigQuery", k=5, kinds=["flow", "plugin-doc"])
    assert {h.chunk.kind for h in both} == {"flow", "plugin-doc"}


def test_modes_rank_differently_and_reject_unknown_modes(built: Index) -> None:
    query = "keep credentials out of the flow"
    dense = [h.id for h in search(built, query, k=3, mode="dense")]
    lexical = [h.id for h in search(built, query, k=3, mode="bm25")]
    hybrid = search(built, query, k=3)
    assert dense and lexical and hybrid[0].chunk.title == "Secrets"
    with pytest.raises(ValueError):
        search(built, query, mode="magic")


def test_near_duplicates_are_dropped(tmp_path: Path, model_cache: Path, embedder: MiniLMEmbedder) -> None:
    same = "Run a flow on a cron schedule. The Schedule trigger takes a cron expression."
    twins = [doc("Schedule trigger", same, source="a"), doc("Schedule trigger", same + " ", source="b"), *CORPUS[1:4]]
    index = Index(tmp_path / "index", cache_dir=model_cache)
    index.build(twins, sources={})
    titles = [h.chunk.title for h in search(index, "cron schedule", k=4)]
    assert titles.count("Schedule trigger") == 1


def test_fit_budget_keeps_the_best_hits_that_fit(built: Index) -> None:
    hits = search(built, "schedule backfill cron", k=5)
    budget = hits[0].chunk.tokens + hits[1].chunk.tokens
    chosen = fit_budget(hits, budget)
    assert chosen[:2] == hits[:2] and sum(h.chunk.tokens for h in chosen) <= budget
    assert fit_budget(hits, 0) == []


def test_an_empty_index_says_how_to_build_it(tmp_path: Path, model_cache: Path) -> None:
    index = Index(tmp_path / "nothing", cache_dir=model_cache)
    with pytest.raises(IndexError_) as caught:
        index.require_built()
    assert "index build" in (caught.value.hint or "")
    assert search(index, "anything", mode="bm25") == []


def test_the_package_exports_its_api_lazily() -> None:
    import subprocess
    import sys

    import copilot.retrieval as retrieval
    from copilot.retrieval import hybrid

    assert retrieval.search is hybrid.search and retrieval.Index is Index
    with pytest.raises(AttributeError):
        retrieval.nothing_here  # noqa: B018
    # The CLI's parser imports chunk kinds; that must not load numpy, onnxruntime or Chroma.
    code = "import sys, copilot.retrieval.chunks; print(sorted({'numpy', 'chromadb'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_coverage_selection_prefers_new_types_and_common_ones_on_a_tie() -> None:
    from copilot.retrieval.chunks import Chunk
    from copilot.retrieval.hybrid import Hit, _select_covering

    def hit(title: str, score: float, *types: str) -> Hit:
        text = f"{title} uses {' '.join(types)} in a flow about {title} and more words {score}"
        return Hit(Chunk(text=text, kind="flow", source="s", title=title, location=title, plugin_types=types), score)

    load, log, alert = "io.x.bigquery.Load", "io.kestra.plugin.core.log.Log", "io.x.rare.Alert"
    pool = [hit("a", 1.0, load), hit("b", 0.9, load), hit("c", 0.5, log), hit("d", 0.5, alert)]
    picked = [h.chunk.title for h in _select_covering(pool, 2)]
    assert picked[0] == "a" and picked[1] in ("c", "d")  # a second Load chunk teaches nothing new
    assert [h.chunk.title for h in _select_covering(pool, 2, {log: 0.6, alert: 0.001})] == ["a", "c"]
    assert [h.chunk.title for h in _select_covering(pool, 2, {log: 0.001, alert: 0.6})] == ["a", "d"]
