"""`eval compare BASE CANDIDATE`: did the candidate (a prompt, recipe or model change) get better or worse?

Per case, each run has n samples with c passes. A case *passes* in a run when most of its samples do
(with one sample: when it passed). Cases are paired across the two runs:

- flips: cases that pass in one run and fail in the other;
- pass@k = 1 − C(n−c, k)/C(n, k) (at least one of k samples passes) and pass^k = C(c, k)/C(n, k) (all k
  pass: the reliability a user feels), averaged over cases, k = 1 and k = n;
- significance of the pass/fail difference: exact McNemar test (two-sided binomial on the flips);
- significance of the score difference: paired bootstrap over cases (10 000 resamples, fixed seed), with
  a 95 % confidence interval of the mean score difference;
- token, latency and cost deltas.

A regression is *significant* when McNemar's p < alpha with more pass→fail than fail→pass flips, or the
whole score-difference interval lies below zero: `eval compare` then exits non-zero, so CI can gate on it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Any

from .runner import load_run

__all__ = [
    "CaseComparison",
    "Comparison",
    "compare_runs",
    "mcnemar_exact",
    "paired_bootstrap",
    "pass_at_k",
    "pass_hat_k",
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples (drawn from n with c passes) passes."""
    if k > n or n == 0:
        return float(c > 0)
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Probability that all k samples (drawn from n with c passes) pass."""
    if k > n or n == 0:
        return float(c == n and n > 0)
    return comb(c, k) / comb(n, k)


def mcnemar_exact(worse: int, better: int) -> float:
    """Two-sided exact McNemar p-value for `worse` pass→fail and `better` fail→pass discordant pairs."""
    n = worse + better
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(worse, better) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(diffs: list[float], *, resamples: int = 10_000, seed: int = 7) -> tuple[float, float, float]:
    """(mean difference, 2.5 % and 97.5 % quantiles of the bootstrapped mean) over paired differences."""
    if not diffs:
        return 0.0, 0.0, 0.0
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return sum(diffs) / n, means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


@dataclass
class CaseComparison:
    case: str
    base: list[dict[str, Any]]  # the samples' results
    candidate: list[dict[str, Any]]

    @staticmethod
    def _passes(samples: list[dict[str, Any]]) -> bool:
        return sum(s["passed"] for s in samples) * 2 > len(samples)

    @property
    def base_passed(self) -> bool:
        return self._passes(self.base)

    @property
    def candidate_passed(self) -> bool:
        return self._passes(self.candidate)

    @property
    def flip(self) -> str | None:
        if self.base_passed == self.candidate_passed:
            return None
        return "fixed" if self.candidate_passed else "broken"

    def mean_score(self, side: str) -> float:
        samples = self.base if side == "base" else self.candidate
        return sum(s["score"] for s in samples) / len(samples)


@dataclass
class Comparison:
    base_dir: str
    candidate_dir: str
    base_manifest: dict[str, Any]
    candidate_manifest: dict[str, Any]
    cases: list[CaseComparison]
    alpha: float = 0.05
    only_base: list[str] = field(default_factory=list)
    only_candidate: list[str] = field(default_factory=list)

    @property
    def broken(self) -> list[CaseComparison]:
        return [c for c in self.cases if c.flip == "broken"]

    @property
    def fixed(self) -> list[CaseComparison]:
        return [c for c in self.cases if c.flip == "fixed"]

    @property
    def mcnemar_p(self) -> float:
        return mcnemar_exact(len(self.broken), len(self.fixed))

    @property
    def score_diff(self) -> tuple[float, float, float]:
        return paired_bootstrap([c.mean_score("candidate") - c.mean_score("base") for c in self.cases])

    def rates(self, side: str) -> dict[str, float]:
        """pass@1, pass@n and pass^n averaged over cases (n: that run's samples per case)."""
        out: dict[str, float] = {}
        per_case = [c.base if side == "base" else c.candidate for c in self.cases]
        if not per_case:
            return {"pass@1": 0.0}
        n = min(len(samples) for samples in per_case)
        for k in sorted({1, n}):
            at = [pass_at_k(len(s), sum(x["passed"] for x in s), k) for s in per_case]
            hat = [pass_hat_k(len(s), sum(x["passed"] for x in s), k) for s in per_case]
            out[f"pass@{k}"] = sum(at) / len(at)
            if k > 1:
                out[f"pass^{k}"] = sum(hat) / len(hat)
        out["mean_score"] = sum(c.mean_score(side) for c in self.cases) / len(self.cases)
        return out

    def totals(self, side: str) -> dict[str, float | None]:
        samples = [s for c in self.cases for s in (c.base if side == "base" else c.candidate)]
        costs = [s["cost"] for s in samples if s.get("cost") is not None]
        latencies = sorted(s["latency"] for s in samples)
        return {
            "tokens": float(sum(s["tokens"] for s in samples)),
            "cost": sum(costs) if costs else None,
            "latency_p50": latencies[len(latencies) // 2] if latencies else 0.0,
            "cache_hits": float(sum(s.get("cache_hits", 0) for s in samples)),
            "fresh_calls": float(sum(s.get("cache_misses", 0) for s in samples)),
        }

    @property
    def significant_regression(self) -> bool:
        worse_flips = len(self.broken) > len(self.fixed) and self.mcnemar_p < self.alpha
        _, _, high = self.score_diff
        return worse_flips or (len(self.cases) > 1 and high < 0)

    def to_json(self) -> dict[str, Any]:
        mean, low, high = self.score_diff
        return {
            "base": {"dir": self.base_dir, "manifest": self.base_manifest, **self.rates("base"), **self.totals("base")},
            "candidate": {
                "dir": self.candidate_dir,
                "manifest": self.candidate_manifest,
                **self.rates("candidate"),
                **self.totals("candidate"),
            },
            "cases": len(self.cases),
            "broken": [c.case for c in self.broken],
            "fixed": [c.case for c in self.fixed],
            "mcnemar_p": self.mcnemar_p,
            "score_diff": {"mean": mean, "ci95": [low, high]},
            "alpha": self.alpha,
            "significant_regression": self.significant_regression,
            "only_in_base": self.only_base,
            "only_in_candidate": self.only_candidate,
        }


def compare_runs(base_dir: Path, candidate_dir: Path, *, alpha: float = 0.05) -> Comparison:
    base_manifest, _, base_results = load_run(base_dir)
    cand_manifest, _, cand_results = load_run(candidate_dir)

    def by_case(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for record in results:
            grouped.setdefault(record["case"], []).append(record)
        return grouped

    base, cand = by_case(base_results), by_case(cand_results)
    shared = sorted(set(base) & set(cand))
    return Comparison(
        base_dir=str(base_dir),
        candidate_dir=str(candidate_dir),
        base_manifest=base_manifest,
        candidate_manifest=cand_manifest,
        cases=[CaseComparison(case, base[case], cand[case]) for case in shared],
        alpha=alpha,
        only_base=sorted(set(base) - set(cand)),
        only_candidate=sorted(set(cand) - set(base)),
    )
