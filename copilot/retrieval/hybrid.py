"""Hybrid search: dense (Chroma) and lexical (BM25) rankings fused by reciprocal rank, near-duplicates
dropped, the plugin types a request needs covered, and a token budget for what goes into a prompt.

Hybrid search fuses three rankings: dense vectors, BM25 over the chunk text, and BM25 over titles alone
(a request reads like a flow's title). Then, instead of the fused top k, it picks the k chunks that
together cover the plugin types the candidates agree on: each type gets the fused scores of the
candidates naming it as votes (plus a few for types many flows use, such as the Log, the Schedule or
the Slack alert, which requests rarely name), and each next chunk is the one adding the most votes of
types not yet covered (relevance breaks ties). Eight near-copies of one pattern teach the model one plugin; eight
chunks covering the trigger, the tasks and the alert teach it the flow. On the blueprint eval this
lifts type recall@8 from 0.64 (fusion alone) to 0.80 (README, "Retrieval eval").
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import CopilotError
from .chunks import SEARCH_MODES, Chunk
from .index import Index
from .lexical import tokenize

__all__ = ["MODES", "DenseUnavailable", "Hit", "fit_budget", "search"]

MODES = SEARCH_MODES
RRF_K = 10  # lower than the usual 60: a chunk two rankings put first should stay first
CANDIDATES = 200  # how deep each ranking is read before fusing
TITLE_WEIGHT = 0.5  # titles are short: a single shared word should not outrank a chunk both others agree on
POOL = 600  # fused candidates that vote for plugin types and may be picked (all of them, at 3 × 200)
COVERAGE_WEIGHT = 300.0  # votes of newly covered types against relevance: coverage first, relevance breaks ties
TYPE_PRIOR = 0.1  # extra votes, in proportion to how many flows use a type: the Log, the Schedule, the alert


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    dense_rank: int | None = None  # 1-based
    lexical_rank: int | None = None

    @property
    def id(self) -> str:
        return self.chunk.id


class DenseUnavailable(CopilotError):
    """Hybrid search could not embed the query (e.g. the Gemini embedding API is down): `hits` holds what
    BM25 alone found, so a caller can go on with them and say why they may be worse."""

    def __init__(self, cause: CopilotError, hits: list[Hit]) -> None:
        super().__init__(f"Dense search failed ({cause}); these sources come from BM25 alone.", hint=cause.hint)
        self.hits = hits


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
    cover_types: bool = True,
) -> list[Hit]:
    """The `k` best chunks for `query`. `exclude` drops chunks before selection (an eval's answer);
    `cover_types=False` keeps hybrid to plain rank fusion."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if mode == "fusion":  # hybrid's fused ranking, by relevance alone
        mode, cover_types = "hybrid", False
    chunks = index.chunks()
    depth = max(CANDIDATES, k * 3)
    dense_failure: CopilotError | None = None
    try:
        dense = index.dense_search(query, depth, kinds) if mode in ("hybrid", "dense") else []
    except CopilotError as exc:
        if mode != "hybrid":
            raise
        dense, dense_failure = [], exc  # hybrid goes on with its lexical rankings, then says so
    lexical = index.lexical_search(query, depth, kinds) if mode in ("hybrid", "bm25") else []
    dense_rank = {i: r for r, (i, _) in enumerate(dense, 1)}
    lexical_rank = {i: r for r, (i, _) in enumerate(lexical, 1)}
    if mode == "dense":
        scored = dense
    elif mode == "bm25":
        scored = lexical
    else:
        titles = index.lexical_search(query, depth, kinds, field="title")
        title_rank = {i: r for r, (i, _) in enumerate(titles, 1)}
        fused: dict[str, float] = defaultdict(float)
        for weight, ranking in ((1.0, dense_rank), (1.0, lexical_rank), (TITLE_WEIGHT, title_rank)):
            for chunk_id, rank in ranking.items():
                fused[chunk_id] += weight / (RRF_K + rank)
        scored = sorted(fused.items(), key=lambda item: -item[1])
    candidates = [
        Hit(chunk, score, dense_rank.get(chunk_id), lexical_rank.get(chunk_id))
        for chunk_id, score in scored
        if (chunk := chunks.get(chunk_id)) is not None and not (exclude and exclude(chunk))
    ]
    if mode == "hybrid" and cover_types:
        hits = _select_covering(candidates[:POOL], k, _type_prior(index))
    else:
        hits = []
        for hit in candidates:
            if not any(_near_duplicate(hit.chunk, h.chunk) for h in hits):
                hits.append(hit)
                if len(hits) == k:
                    break
    if dense_failure is not None:
        raise DenseUnavailable(dense_failure, hits) from dense_failure
    return hits


_PRIORS: weakref.WeakKeyDictionary[Index, tuple[int, dict[str, float]]] = weakref.WeakKeyDictionary()
_PRIORS_LOCK = threading.Lock()  # searches run in worker threads, several at once in `eval run`


def _type_prior(index: Index) -> dict[str, float]:
    """The share of the index's flows that use each plugin type (computed once per index size)."""
    chunks = index.chunks()
    with _PRIORS_LOCK:
        cached = _PRIORS.get(index)
    if cached is not None and cached[0] == len(chunks):
        return cached[1]
    counts: dict[str, int] = defaultdict(int)
    flows = 0
    for chunk in chunks.values():
        if chunk.kind in ("flow", "blueprint"):
            flows += 1
            for plugin_type in set(chunk.plugin_types):
                counts[plugin_type] += 1
    prior = {t: n / flows for t, n in counts.items()} if flows else {}
    with _PRIORS_LOCK:
        _PRIORS[index] = (len(chunks), prior)
    return prior


def _select_covering(pool: list[Hit], k: int, prior: dict[str, float] | None = None) -> list[Hit]:
    """Greedy weighted coverage: the candidates' fused scores are votes for the plugin types they name;
    common types (by the share of flows using them) get a few votes more, since requests rarely name them."""
    votes: dict[str, float] = defaultdict(float)
    for hit in pool:
        for plugin_type in set(hit.chunk.plugin_types):
            votes[plugin_type] += hit.score
    if prior:
        pool_votes = sum(votes.values())
        for plugin_type in list(votes):
            votes[plugin_type] += TYPE_PRIOR * pool_votes * prior.get(plugin_type, 0.0)
    total_votes = sum(votes.values()) or 1.0
    best_score = pool[0].score if pool else 1.0
    chosen: list[Hit] = pool[:1]  # the most relevant chunk leads, whatever types it names
    covered: set[str] = set(pool[0].chunk.plugin_types) if pool else set()
    remaining = list(pool[1:])
    while remaining and len(chosen) < k:

        def value(hit: Hit) -> float:
            gain = sum(votes[t] for t in set(hit.chunk.plugin_types) - covered)
            return hit.score / best_score + COVERAGE_WEIGHT * gain / total_votes

        pick = max(remaining, key=value)
        remaining.remove(pick)
        if not any(_near_duplicate(pick.chunk, h.chunk) for h in chosen):
            chosen.append(pick)
            covered.update(pick.chunk.plugin_types)
    return chosen


def fit_budget(hits: Sequence[Hit], budget_tokens: int) -> list[Hit]:
    """The best hits that fit in `budget_tokens` together (a hit too big to fit is skipped, not cut)."""
    chosen, used = [], 0
    for hit in hits:
        if used + hit.chunk.tokens <= budget_tokens:
            chosen.append(hit)
            used += hit.chunk.tokens
    return chosen
