"""`eval compare BASE CANDIDATE`: did the candidate (a prompt, recipe or model change) get better or worse?

Per case, each run has n samples with c passes. A case *passes* in a run when most of its samples do
(with one sample: when it passed). Cases are paired across the two runs:

- flips: cases that pass in one run and fail in the other;
- pass@k = 1 − C(n−c, k)/C(n, k) (at least one of k samples passes) and pass^k = C(c, k)/C(n, k) (all k
  pass: the reliability a user feels), averaged over cases, for k in 1, 2, 3, 5, 10, 20, 50, 100 up to
  the smaller sample count of the two runs, and that count itself: both runs get the same columns;
- significance of the pass/fail difference: exact McNemar test (two-sided binomial on the flips);
- significance of the score difference: paired bootstrap over cases (10 000 resamples, fixed seed), with
  a 95 % confidence interval of the mean score difference;
- token, latency and cost deltas, on the figures as recorded (a replayed reply counts what it cost and
  took when it was made), so a replayed run compares fairly with a fresh one; what each run itself spent
  (its fresh calls) is shown apart, and so are the rubric grades (live runs only, never in the score).

A regression is *significant* when McNemar's p < alpha with more pass→fail than fail→pass flips, or the
whole score-difference interval lies below zero: `eval compare` then exits non-zero, so CI can gate on it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property
from math import comb
from pathlib import Path
from typing import Literal, TypedDict

from .records import Manifest, ResultRecord, RubricSummary, UsageTotals, load_run
from .runner import rubric_summary, skipped_checks, usage_totals

__all__ = [
    "CaseComparison",
    "Comparison",
    "RubricRow",
    "Side",
    "compare_runs",
    "mcnemar_exact",
    "paired_bootstrap",
    "pass_at_k",
    "pass_hat_k",
    "shared_ks",
]

Side = Literal["base", "candidate"]
SIDES: tuple[Side, Side] = ("base", "candidate")

K_STEPS = (1, 2, 3, 5, 10, 20, 50, 100)


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


def shared_ks(base_n: int, candidate_n: int) -> list[int]:
    """The k of pass@k both runs can report: the usual steps up to the smaller sample count, and it."""
    n = max(1, min(base_n, candidate_n))
    return sorted({k for k in K_STEPS if k <= n} | {n})


def mcnemar_exact(worse: int, better: int) -> float:
    """Two-sided exact McNemar p-value for `worse` pass→fail and `better` fail→pass discordant pairs."""
    n = worse + better
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(worse, better) + 1)) / (1 << n)
    return min(1.0, 2 * tail)


def paired_bootstrap(diffs: list[float], *, resamples: int = 10_000, seed: int = 7) -> tuple[float, float, float]:
    """(mean difference, 2.5 % and 97.5 % quantiles of the bootstrapped mean) over paired differences."""
    if not diffs:
        return 0.0, 0.0, 0.0
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return sum(diffs) / n, means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


class RubricRow(TypedDict):
    """A graded case's mean grade in both runs (None where that run has no grade)."""

    case: str
    base: float | None
    candidate: float | None


@dataclass
class CaseComparison:
    case: str
    base: list[ResultRecord]  # the samples' results
    candidate: list[ResultRecord]

    @staticmethod
    def _passes(samples: list[ResultRecord]) -> bool:
        return sum(bool(s["passed"]) for s in samples) * 2 > len(samples)

    def samples(self, side: Side) -> list[ResultRecord]:
        return self.base if side == "base" else self.candidate

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

    def mean_score(self, side: Side) -> float:
        samples = self.samples(side)
        return sum(float(s["score"]) for s in samples) / len(samples)


@dataclass
class Comparison:
    base_dir: str
    candidate_dir: str
    base_manifest: Manifest
    candidate_manifest: Manifest
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

    @cached_property  # 10,000 resamples: every report reads it, once is enough
    def score_diff(self) -> tuple[float, float, float]:
        return paired_bootstrap([c.mean_score("candidate") - c.mean_score("base") for c in self.cases])

    def _sides(self, side: Side) -> list[list[ResultRecord]]:
        return [c.samples(side) for c in self.cases]

    @property
    def ks(self) -> list[int]:
        """The k reported for both runs (a case's sample count is its smallest in that run)."""
        if not self.cases:
            return [1]
        return shared_ks(*(min(len(s) for s in self._sides(side)) for side in SIDES))

    def rates(self, side: Side) -> dict[str, float]:
        """pass@k (and pass^k for k > 1) over `ks`, averaged over cases, and the mean score."""
        per_case = self._sides(side)
        if not per_case:
            return {"pass@1": 0.0}
        out: dict[str, float] = {}
        counts = [(len(s), sum(x["passed"] for x in s)) for s in per_case]
        for k in self.ks:
            out[f"pass@{k}"] = sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)
            if k > 1:
                out[f"pass^{k}"] = sum(pass_hat_k(n, c, k) for n, c in counts) / len(counts)
        out["mean_score"] = sum(c.mean_score(side) for c in self.cases) / len(self.cases)
        return out

    def _samples(self, side: Side) -> list[ResultRecord]:
        return [sample for samples in self._sides(side) for sample in samples]

    def totals(self, side: Side) -> UsageTotals:
        """Usage figures: `recorded_*` (compared), fresh and replayed apart, cache use."""
        return usage_totals(self._samples(side))

    def rubric(self, side: Side) -> RubricSummary | None:
        """The rubric grades of one side (live runs only; reported apart, never part of a verdict)."""
        return rubric_summary(self._samples(side))

    def rubric_by_case(self) -> list[RubricRow]:
        """Each graded case's mean grade in both runs (None where that run has no grade)."""
        rows: list[RubricRow] = []
        for case in self.cases:
            base, candidate = (rubric_summary(case.samples(side)) for side in SIDES)
            if base or candidate:
                rows.append(
                    {
                        "case": case.case,
                        "base": base["mean_grade"] if base else None,
                        "candidate": candidate["mean_grade"] if candidate else None,
                    }
                )
        return rows

    def skipped(self, side: Side) -> int:
        """Checks skipped in that run (live-only checks of an offline run)."""
        return sum(skipped_checks(self._samples(side)).values())

    @property
    def significant_regression(self) -> bool:
        worse_flips = len(self.broken) > len(self.fixed) and self.mcnemar_p < self.alpha
        _, _, high = self.score_diff
        return worse_flips or (len(self.cases) > 1 and high < 0)

    def side_json(self, side: Side) -> dict[str, object]:
        return {
            "dir": self.base_dir if side == "base" else self.candidate_dir,
            "manifest": self.base_manifest if side == "base" else self.candidate_manifest,
            **self.rates(side),
            **self.totals(side),
            "skipped_checks": self.skipped(side),
            "rubric": self.rubric(side),
        }

    def to_json(self) -> dict[str, object]:
        mean, low, high = self.score_diff
        return {
            "base": self.side_json("base"),
            "candidate": self.side_json("candidate"),
            "ks": self.ks,
            "cases": len(self.cases),
            "broken": [c.case for c in self.broken],
            "fixed": [c.case for c in self.fixed],
            "mcnemar_p": self.mcnemar_p,
            "score_diff": {"mean": mean, "ci95": [low, high]},
            "rubric_by_case": self.rubric_by_case(),
            "alpha": self.alpha,
            "significant_regression": self.significant_regression,
            "only_in_base": self.only_base,
            "only_in_candidate": self.only_candidate,
        }


def compare_runs(base_dir: Path, candidate_dir: Path, *, alpha: float = 0.05) -> Comparison:
    base_run, candidate_run = load_run(base_dir), load_run(candidate_dir)

    def by_case(results: list[ResultRecord]) -> dict[str, list[ResultRecord]]:
        grouped: dict[str, list[ResultRecord]] = {}
        for record in results:
            grouped.setdefault(record["case"], []).append(record)
        return grouped

    base, cand = by_case(base_run.results), by_case(candidate_run.results)
    shared = sorted(set(base) & set(cand))
    return Comparison(
        base_dir=str(base_dir),
        candidate_dir=str(candidate_dir),
        base_manifest=base_run.manifest,
        candidate_manifest=candidate_run.manifest,
        cases=[CaseComparison(case, base[case], cand[case]) for case in shared],
        alpha=alpha,
        only_base=sorted(set(base) - set(cand)),
        only_candidate=sorted(set(cand) - set(base)),
    )
