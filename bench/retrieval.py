"""Retrieval speed over all of ../shared (docs, plugin docs, flows), every figure measured in this run.

    build      chunking; embedding throughput in chunks/s, batched (as `index build` does) against one
               chunk per call (the baseline); the time a full build takes at that rate
    query      p50/p95 latency, query embedding included, of Chroma alone (dense) and of hybrid search
               (dense + BM25 + fusion + de-duplication), on the full corpus (1×) and on 4× as many chunks

The 1× index is the eval index (`kestra-copilot eval retrieval` builds it; this script builds it when it
is missing, ~10 min on 2 cores). The 4× index reuses its vectors: copies with a little noise, so the
vector search does real work without four times the embedding.

Run: .venv/bin/python bench/retrieval.py [--sample 256] [--queries 60]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from copilot.config import load_settings
from copilot.retrieval.chunks import Chunk
from copilot.retrieval.embeddings import BATCH_SIZE, MiniLMEmbedder
from copilot.retrieval.hybrid import search
from copilot.retrieval.index import Index
from copilot.retrieval.loaders import load_source

SHARED = Path(__file__).resolve().parents[2] / "shared"
FOLDERS = ("kestra-flows", "kestra-docs", "kestra-plugin-docs")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def load_chunks() -> list[Chunk]:
    started = time.perf_counter()
    chunks: list[Chunk] = []
    for folder in FOLDERS:
        chunks.extend(load_source(SHARED / folder).chunks)
    print(f"chunking: {len(chunks)} chunks from {', '.join(FOLDERS)} in {time.perf_counter() - started:.1f}s")
    return chunks


def embedding_throughput(embedder: MiniLMEmbedder, chunks: list[Chunk], sample: int) -> float:
    """Chunks/s at several batch sizes on the same texts; one text per run is the baseline."""
    texts = [c.embedded_text for c in random.Random(7).sample(chunks, min(sample, len(chunks)))]
    rates: dict[int, float] = {}
    for batch_size in sorted({1, BATCH_SIZE, 32}):
        started = time.perf_counter()
        embedder.embed(texts, batch_size=batch_size)
        rates[batch_size] = len(texts) / (time.perf_counter() - started)
    for batch_size, rate in rates.items():
        note = " (default)" if batch_size == BATCH_SIZE else ""
        print(
            f"embedding, {batch_size:>2} per run{note:<10} {rate:6.1f} chunks/s   ×{rate / rates[1]:.2f} of one per run"
        )
    return rates[BATCH_SIZE]


def queries(count: int) -> list[str]:
    lines = (SHARED / "kestra-flows" / "dev.jsonl").read_text().splitlines()
    titles = [json.loads(line)["title"] for line in lines]
    return random.Random(11).sample(titles, min(count, len(titles)))


def latency(index: Index, texts: list[str], label: str) -> None:
    embedder = MiniLMEmbedder.shared(index.cache_dir)
    collection = index.collection()
    search(index, texts[0], k=8)  # warm: BM25 built, HNSW loaded

    def dense(text: str) -> None:
        vector = embedder.embed([text])[0]
        collection.query(query_embeddings=[vector.tolist()], n_results=8, include=["documents", "metadatas"])

    timings: dict[str, list[float]] = {"chroma only": [], "hybrid": []}
    for text in texts:
        for name, run in (("chroma only", dense), ("hybrid", lambda t: search(index, t, k=8))):
            started = time.perf_counter()
            run(text)
            timings[name].append(time.perf_counter() - started)
    base = statistics.median(timings["chroma only"])
    for name, values in timings.items():
        ratio = statistics.median(values) / base
        print(
            f"{label:>3} {name:<12} p50 {percentile(values, 0.5):7.1f} ms   p95 {percentile(values, 0.95):7.1f} ms"
            f"   ×{ratio:.2f} of chroma only"
        )


def scaled_copy(index: Index, factor: int, folder: Path) -> Index:
    """An index with `factor` × the chunks of `index`: each copy at its own location, vectors jittered."""
    big = Index(folder, cache_dir=index.cache_dir)
    source = index.collection()
    target = big.collection()
    chunks = index.chunks()
    rng = np.random.default_rng(3)
    copies: dict[str, Chunk] = {}
    total = source.count()
    for offset in range(0, total, 1000):
        page = source.get(include=["embeddings"], limit=1000, offset=offset)
        vectors = np.asarray(page["embeddings"], dtype=np.float32)
        for n in range(factor):
            batch = [replace(chunks[i], location=f"{chunks[i].location}#copy{n}") for i in page["ids"]]
            jittered = vectors + rng.normal(0, 0.01, vectors.shape).astype(np.float32) * (n > 0)
            jittered /= np.linalg.norm(jittered, axis=1, keepdims=True)
            target.upsert(
                ids=[c.id for c in batch],
                embeddings=jittered.tolist(),
                documents=[c.text for c in batch],
                metadatas=[c.metadata() for c in batch],
            )
            copies.update((c.id, c) for c in batch)
    big._save_chunks(copies, {"chunks": len(copies)})
    big._chunks = None
    return big


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=128, help="chunks embedded to measure throughput")
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} is missing: this benchmark reads the shared Kestra material")
    settings = load_settings()
    chunks = load_chunks()
    embedder = MiniLMEmbedder.shared(settings.cache_dir)
    rate = embedding_throughput(embedder, chunks, args.sample)
    print(f"full build at that rate:   {len(chunks) / rate / 60:6.1f} min for {len(chunks)} chunks")

    index = Index(settings.cache_dir / "eval-index", cache_dir=settings.cache_dir)
    missing = len(set(c.id for c in chunks) - set(index.chunks())) if index.chunks() else len(chunks)
    if missing:
        print(f"building the 1× index ({missing} chunks to embed)…")
    report = index.build(chunks, sources={f: str(SHARED / f) for f in FOLDERS})
    if report.added:
        rate = report.added / report.seconds
        print(f"index build: {report.added} chunks embedded in {report.seconds:.0f}s ({rate:.1f}/s)")
    texts = queries(args.queries)
    latency(index, texts, "1×")
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        big = scaled_copy(index, 4, Path(folder))
        print(f"4× index: {len(big.chunks())} chunks (copied in {time.perf_counter() - started:.0f}s)")
        latency(big, texts, "4×")


if __name__ == "__main__":
    main()
