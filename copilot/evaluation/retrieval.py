"""Retrieval eval: does a user's request bring back the plugin types the right flow needs?

Each case is a blueprint: its `title` is the query (its description often names the answer), its plugin
types are what should be retrieved. The index holds every source, the case's own blueprint included;
that chunk is excluded from the results of its own query (BM25's statistics still count it, a negligible
difference against rebuilding the index 239 times).

    type recall@k   share of the blueprint's plugin types named by the top-k chunks
    MRR             1 / rank of the first chunk naming one of its distinctive types (`core` types such as
                    Log are everywhere, so they count only when the flow uses nothing else); 0 if none

Dense, BM25 and hybrid retrieval are scored on the same cases in one run, with `fusion` (hybrid's rank
fusion without its plugin-type coverage selection) as an ablation.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CopilotError
from ..retrieval.hybrid import Hit, search
from ..retrieval.index import Index

__all__ = [
    "VARIANTS",
    "CaseResult",
    "ModeScore",
    "RetrievalCase",
    "load_cases",
    "run_retrieval_eval",
    "score_hits",
]

# name → search() settings; every variant runs on the same cases
VARIANTS: dict[str, dict[str, object]] = {
    "hybrid": {"mode": "hybrid"},
    "fusion": {"mode": "hybrid", "cover_types": False},
    "dense": {"mode": "dense"},
    "bm25": {"mode": "bm25"},
}

_CORE = "io.kestra.plugin.core."


@dataclass(frozen=True)
class RetrievalCase:
    id: str
    query: str
    types: tuple[str, ...]
    location: str  # where its own chunk sits in the index (excluded from its results)


@dataclass
class CaseResult:
    case_id: str
    recall: float
    reciprocal_rank: float
    missing: list[str]


@dataclass
class ModeScore:
    mode: str
    cases: list[CaseResult] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return statistics.fmean(c.recall for c in self.cases) if self.cases else 0.0

    @property
    def mrr(self) -> float:
        return statistics.fmean(c.reciprocal_rank for c in self.cases) if self.cases else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0


def load_cases(path: Path, *, limit: int | None = None) -> list[RetrievalCase]:
    """Blueprint records (with a title and task types) from a JSONL file such as kestra-flows/dev.jsonl."""
    cases = []
    from ..fileio import MAX_DATASET_BYTES, read_text

    lines = read_text(path, limit=MAX_DATASET_BYTES, what="cases").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise CopilotError(f"{path}:{number} is not a JSON line.") from exc
        types = tuple(t for t in record.get("task_types") or [] if isinstance(t, str) and t.startswith("io.kestra."))
        if record.get("title") and types:
            location = str(record.get("source") or f"{path.name}#{record.get('id', number)}")
            cases.append(RetrievalCase(str(record.get("id", number)), str(record["title"]), types, location))
    if not cases:
        raise CopilotError(f"{path} holds no usable cases (records need `title` and `task_types`).")
    return cases[:limit] if limit else cases


def score_hits(case: RetrievalCase, hits: Sequence[Hit]) -> CaseResult:
    expected = set(case.types)
    found: set[str] = set()
    for hit in hits:
        found.update(hit.chunk.plugin_types)
    distinctive = {t for t in expected if not t.startswith(_CORE)} or expected
    rank = next((r for r, hit in enumerate(hits, 1) if distinctive & set(hit.chunk.plugin_types)), None)
    return CaseResult(
        case_id=case.id,
        recall=len(expected & found) / len(expected),
        reciprocal_rank=1 / rank if rank else 0.0,
        missing=sorted(expected - found),
    )


def run_retrieval_eval(
    index: Index, cases: Iterable[RetrievalCase], *, k: int = 8, modes: Sequence[str] = tuple(VARIANTS)
) -> list[ModeScore]:
    scores = [ModeScore(mode) for mode in modes]
    for case in cases:

        def own_chunk(chunk: object, where: str = case.location) -> bool:
            return getattr(chunk, "location", None) == where

        for score in scores:
            started = time.perf_counter()
            hits = search(index, case.query, k=k, exclude=own_chunk, **VARIANTS[score.mode])  # type: ignore[arg-type]
            score.latencies.append(time.perf_counter() - started)
            score.cases.append(score_hits(case, hits))
    return scores
