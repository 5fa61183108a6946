"""Comparing two runs: the statistics against known values, and the four reports."""

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from copilot.evaluation.compare import compare_runs, mcnemar_exact, paired_bootstrap, pass_at_k, pass_hat_k
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


def write_run(folder: Path, outcomes: dict[str, list[bool]], recipe: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"recipe": recipe, "model": "m", "commit": "abc"}))
    (folder / "cases.json").write_text("[]")
    lines = []
    for case, passes in outcomes.items():
        for sample, passed in enumerate(passes):
            record: dict[str, Any] = {
                "case": case, "sample": sample, "passed": passed, "score": 1.0 if passed else 0.4,
                "output": f"id: {case}\nnamespace: n\ntasks: []\n# {recipe}\n", "error": None,
                "scores": [{"check": "valid", "value": 1.0 if passed else 0.0, "passed": passed,
                            "detail": "valid" if passed else "1 error(s)", "skipped": False, "apart": False}],
                "tokens": 100, "latency": 1.0, "cost": 0.001, "cache_hits": 0, "cache_misses": 1,
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
