"""Comparing two runs: the statistics against known values, and the four reports."""

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from copilot.cli import main
from copilot.evaluation.compare import (
    compare_runs,
    mcnemar_exact,
    paired_bootstrap,
    pass_at_k,
    pass_hat_k,
    shared_ks,
)
from copilot.evaluation.reports import markdown_report, write_reports


def test_statistics_match_known_values() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(6, 0) == pytest.approx(2 / 64)  # 2 × 0.5^6
    assert mcnemar_exact(5, 1) == pytest.approx(2 * 7 / 64)  # 2 × (C(6,0)+C(6,1)) / 2^6
    assert mcnemar_exact(3, 3) == 1.0
    assert pass_at_k(5, 1, 1) == pytest.approx(0.2) and pass_at_k(5, 1, 5) == 1.0 and pass_at_k(5, 0, 3) == 0.0
    assert pass_hat_k(5, 4, 5) == 0.0 and pass_hat_k(5, 5, 5) == 1.0 and pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)
    mean, low, high = paired_bootstrap([-0.5] * 8 + [0.0] * 2)
    assert mean == pytest.approx(-0.4) and low < mean < high < 0
    assert paired_bootstrap([0.1, -0.1] * 10)[1] < 0 < paired_bootstrap([0.1, -0.1] * 10)[2]


FIGURES = {  # as `eval run` writes them: fresh and replayed apart, nothing added up
    "fresh_tokens": 100, "fresh_cost": 0.001, "replayed_tokens": 0, "replayed_cost": None,
    "latency": 1.0, "recorded_latency": 1.0, "cache_hits": 0, "cache_misses": 1,
}  # fmt: skip


def write_run(
    folder: Path,
    outcomes: dict[str, list[bool]],
    recipe: str,
    *,
    failed_score: float = 0.4,
    grades: dict[str, int] | None = None,
    figures: dict[str, Any] | None = None,
) -> Path:
    """A run directory as `eval run` writes it; `grades` adds a rubric score (apart) to those cases,
    `figures` replaces each result's usage figures (as an older version wrote them)."""
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"recipe": recipe, "model": "m", "commit": "abc"}))
    (folder / "cases.json").write_text("[]")
    lines = []
    for case, passes in outcomes.items():
        for sample, passed in enumerate(passes):
            scores = [
                {
                    "check": "valid",
                    "value": 1.0 if passed else 0.0,
                    "passed": passed,
                    "detail": "valid" if passed else "1 error(s)",
                    "skipped": False,
                    "apart": False,
                }
            ]
            if grades and case in grades:
                scores.append(
                    {
                        "check": "rubric",
                        "value": (grades[case] - 1) / 4,
                        "passed": grades[case] >= 4,
                        "detail": "graded",
                        "skipped": False,
                        "apart": True,
                    }
                )
            record: dict[str, Any] = {
                "case": case, "sample": sample, "passed": passed, "score": 1.0 if passed else failed_score,
                "output": f"id: {case}\nnamespace: n\ntasks: []\n# {recipe}\n", "error": None, "scores": scores,
                **(FIGURES if figures is None else figures),
            }  # fmt: skip
            lines.append(json.dumps(record))
    (folder / "results.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_compare_reports_flips_pass_at_k_and_a_significant_regression(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", {f"c{i}": [True, True, True] for i in range(10)}, "default")
    worse = {f"c{i}": ([False, False, True] if i < 7 else [True, True, True]) for i in range(10)}
    candidate = write_run(tmp_path / "cand", {**worse, "new": [True]}, "experiment")
    comparison = compare_runs(base, candidate)
    assert [c.case for c in comparison.broken] == [f"c{i}" for i in range(7)] and not comparison.fixed
    assert comparison.mcnemar_p == pytest.approx(2 / 128) and comparison.significant_regression
    rates = comparison.rates("candidate")
    assert rates["pass@1"] == pytest.approx((7 / 3 + 3) / 10) and rates["pass@3"] == 1.0
    assert rates["pass^3"] == pytest.approx(0.3)
    assert comparison.only_candidate == ["new"]
    text = markdown_report(comparison)
    assert "7 pass→fail, 0 fail→pass" in text and "**significant regression**" in text and "`c0`" in text

    paths = write_reports(comparison, tmp_path / "report")
    assert [p.name for p in paths] == ["compare.md", "compare.json", "compare.junit.xml", "compare.html"]
    junit = ET.parse(tmp_path / "report" / "compare.junit.xml").getroot()
    assert junit.get("tests") == "10" and junit.get("failures") == "7" and len(junit.findall("testcase/failure")) == 7
    page = (tmp_path / "report" / "compare.html").read_text()
    assert page.count('<div class="pair">') == 7 and "# default" in page and "# experiment" in page
    assert json.loads((tmp_path / "report" / "compare.json").read_text())["broken"][0] == "c0"


def test_no_regression_when_the_flips_are_few_or_better(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", {f"c{i}": [i != 0] for i in range(6)}, "a")
    candidate = write_run(tmp_path / "cand", {f"c{i}": [i != 1] for i in range(6)}, "b")
    comparison = compare_runs(base, candidate)
    assert len(comparison.broken) == 1 and len(comparison.fixed) == 1
    assert comparison.mcnemar_p == 1.0 and not comparison.significant_regression


def test_a_score_drop_alone_is_a_significant_regression(tmp_path: Path) -> None:
    """No case flips (every case fails in both runs), so McNemar sees nothing, but every score falls:
    the bootstrap interval lies below zero, and that alone makes `eval compare` exit 1."""
    outcomes = {f"c{i}": [False] for i in range(8)}
    base = write_run(tmp_path / "base", outcomes, "a", failed_score=0.8)
    candidate = write_run(tmp_path / "cand", outcomes, "b", failed_score=0.5)
    comparison = compare_runs(base, candidate)
    assert not comparison.broken and not comparison.fixed and comparison.mcnemar_p == 1.0
    mean, _, high = comparison.score_diff
    assert mean == pytest.approx(-0.3) and high < 0 and comparison.significant_regression
    assert main(["eval", "compare", str(base), str(candidate)]) == 1
    assert main(["eval", "compare", str(candidate), str(base)]) == 0  # the other way round it is a gain


def test_pass_at_k_columns_are_the_same_for_runs_with_different_repeats(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", {f"c{i}": [True, False, True, False, True] for i in range(4)}, "a")
    candidate = write_run(tmp_path / "cand", {f"c{i}": [True, False, False] for i in range(4)}, "b")
    comparison = compare_runs(base, candidate)
    assert comparison.ks == [1, 2, 3] and shared_ks(10, 12) == [1, 2, 3, 5, 10] and shared_ks(7, 7) == [1, 2, 3, 5, 7]
    keys = ["pass@1", "pass@2", "pass^2", "pass@3", "pass^3", "mean_score"]
    assert list(comparison.rates("base")) == keys == list(comparison.rates("candidate"))
    assert comparison.rates("base")["pass@3"] == pytest.approx(pass_at_k(5, 3, 3))  # from 5 samples, k = 3
    assert comparison.rates("candidate")["pass^2"] == 0.0
    text = markdown_report(comparison)
    assert "| pass^3 | 10.0% | 0.0% | -10.0 pt |" in text and "pass@5" not in text
    assert json.loads(json.dumps(comparison.to_json()))["ks"] == [1, 2, 3]


def test_rubric_grades_are_reported_apart_in_every_report(tmp_path: Path) -> None:
    outcomes = {f"c{i}": [True] for i in range(4)}
    base = write_run(tmp_path / "base", outcomes, "a", grades={"c0": 5, "c1": 4, "c2": 4, "c3": 3})
    candidate = write_run(tmp_path / "cand", outcomes, "b", grades={"c0": 3, "c1": 4, "c2": 4, "c3": 3})
    comparison = compare_runs(base, candidate)
    assert not comparison.significant_regression and comparison.rates("candidate")["pass@1"] == 1.0
    assert comparison.rubric("base") == {"graded": 4, "mean_grade": 4.0, "pass_rate": 0.75}
    assert comparison.rubric("candidate") == {"graded": 4, "mean_grade": 3.5, "pass_rate": 0.5}
    text = markdown_report(comparison)
    assert "## Rubric grades (live only, reported apart" in text
    assert "| mean grade | 4.00/5 (4 graded) | 3.50/5 (4 graded) | -0.50 |" in text
    assert "| `c0` | 5.00 | 3.00 | -2.00 |" in text and "`c1`" not in text  # only the grades that changed
    write_reports(comparison, tmp_path / "report")
    data = json.loads((tmp_path / "report" / "compare.json").read_text())
    assert data["base"]["rubric"]["mean_grade"] == 4.0 and data["candidate"]["rubric"]["mean_grade"] == 3.5
    assert {"case": "c0", "base": 5.0, "candidate": 3.0} in data["rubric_by_case"]
    assert "Rubric grades" in (tmp_path / "report" / "compare.html").read_text()

    ungraded = compare_runs(write_run(tmp_path / "x", outcomes, "a"), write_run(tmp_path / "y", outcomes, "b"))
    assert ungraded.to_json()["base"]["rubric"] is None and "Rubric" not in markdown_report(ungraded)


def test_runs_written_by_older_versions_compare_on_the_same_recorded_figures(tmp_path: Path) -> None:
    outcomes = {f"c{i}": [True] for i in range(3)}
    split = {**FIGURES, "fresh_tokens": 60, "fresh_cost": 0.0006, "replayed_tokens": 40, "replayed_cost": 0.0004}
    today = write_run(tmp_path / "today", outcomes, "a", figures=split)
    stored = {**FIGURES, "recorded_tokens": 100, "recorded_cost": 0.001, "calls": 1}  # the sums were stored
    totals_only = {"tokens": 100, "cost": 0.001, "latency": 1.0}  # before fresh and replayed were apart
    for name, figures in (("stored", stored), ("totals", totals_only)):
        comparison = compare_runs(write_run(tmp_path / name, outcomes, "b", figures=figures), today)
        base, candidate = comparison.totals("base"), comparison.totals("candidate")
        assert base["recorded_tokens"] == candidate["recorded_tokens"] == 300
        assert base["recorded_cost"] == pytest.approx(0.003) and candidate["recorded_cost"] == pytest.approx(0.003)
        assert base["recorded_latency_p50"] == candidate["recorded_latency_p50"] == 1.0
        assert candidate["fresh_tokens"] == 180 and candidate["replayed_tokens"] == 120
        assert "| tokens | 300 | 300 | +0 |" in markdown_report(comparison)
