"""Hybrid search: dense (Chroma) and lexical (BM25) rankings fused by reciprocal rank, near-duplicates
dropped, and a token budget for what goes into a prompt."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .chunks import SEARCH_MODES, Chunk
from .index import Index
from .lexical import tokenize

__all__ = ["MODES", "Hit", "fit_budget", "search"]

MODES = SEARCH_MODES
RRF_K = 60  # the usual constant: damps the head of each ranking
CANDIDATES = 50  # how deep each ranking is read before fusing


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    dense_rank: int | None = None  # 1-based
    lexical_rank: int | None = None

    @property
    def id(self) -> str:
        return self.chunk.id


def _near_duplicate(a: Chunk, b: Chunk) -> bool:
    if a.content_hash == b.content_hash or a.text == b.text:
        return True
    ta, tb = set(tokenize(a.text)), set(tokenize(b.text))
    if not ta or not tb:
        return False
    return len(ta & tb) / len(ta | tb) > 0.9


def search(
    index: Index,
    query: str,
    *,
    k: int = 8,
    kinds: Sequence[str] | None = None,
    mode: str = "hybrid",
    exclude: Callable[[Chunk], bool] | None = None,
) -> list[Hit]:
    """The `k` best chunks for `query`; `exclude` drops chunks before ranking is cut (an eval's answer)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    chunks = index.chunks()
    depth = max(CANDIDATES, k * 3)
    dense = index.dense_search(query, depth, kinds) if mode in ("hybrid", "dense") else []
    lexical = index.lexical_search(query, depth, kinds) if mode in ("hybrid", "bm25") else []
    dense_rank = {i: r for r, (i, _) in enumerate(dense, 1)}
    lexical_rank = {i: r for r, (i, _) in enumerate(lexical, 1)}
    if mode == "dense":
        scored = [(i, s) for i, s in dense]
    elif mode == "bm25":
        scored = [(i, s) for i, s in lexical]
    else:
        fused: dict[str, float] = {}
        for ranking in (dense_rank, lexical_rank):
            for chunk_id, rank in ranking.items():
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
        scored = sorted(fused.items(), key=lambda item: -item[1])
    hits: list[Hit] = []
    for chunk_id, score in scored:
        chunk = chunks.get(chunk_id)
        if chunk is None or (exclude and exclude(chunk)) or any(_near_duplicate(chunk, h.chunk) for h in hits):
            continue
        hits.append(Hit(chunk, score, dense_rank.get(chunk_id), lexical_rank.get(chunk_id)))
        if len(hits) == k:
            break
    return hits


def fit_budget(hits: Sequence[Hit], budget_tokens: int) -> list[Hit]:
    """The best hits that fit in `budget_tokens` together (a hit too big to fit is skipped, not cut)."""
    chosen, used = [], 0
    for hit in hits:
        if used + hit.chunk.tokens <= budget_tokens:
            chosen.append(hit)
            used += hit.chunk.tokens
    return chosen
