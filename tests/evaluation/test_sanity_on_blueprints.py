"""The scorers on real flows nobody here wrote: each blueprint scores high as its own case's output,
and corrupted copies (what model output gets wrong) score lower. Both distributions are printed
(`pytest -s`, or `kestra-copilot eval sanity --cases ../shared/kestra-flows/dev.jsonl` for all 239)."""

import json
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.evaluation.sanity import CORRUPTIONS, distributions, run_sanity
from tests.conftest import shared_path


def test_blueprints_score_high_and_their_corruptions_lower() -> None:
    scores = run_sanity(shared_path("kestra-flows", "dev.jsonl"), limit=40)
    summary = distributions(scores)
    print(json.dumps(summary, indent=1))
    original = summary["original"]
    assert original["n"] == 40 and original["mean"] >= 0.95 and original["median"] == 1.0
    for name in [*CORRUPTIONS, "cut-mid-way"]:
        # an invented property goes unseen on plugins the offline catalog does not describe (their
        # properties cannot be checked), so that corruption's margin is the smallest
        assert summary[name]["mean"] < original["mean"] - 0.05, name
        assert summary[name]["perfect"] < original["perfect"], name
    assert summary["all-corrupted"]["mean"] < 0.8


def test_the_sanity_command_prints_both_distributions(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    dev = shared_path("kestra-flows", "dev.jsonl")
    assert main(["eval", "sanity", "--cases", str(dev), "--limit", "5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["original"]["n"] == 5 and summary["cut-mid-way"]["n"] == 5
    assert summary["original"]["mean"] > summary["all-corrupted"]["mean"]
    assert sum(summary["original"]["histogram_0_to_1"]) == 5 and 0.0 <= summary["original"]["perfect"] <= 1.0
    assert main(["eval", "sanity", "--cases", str(dev.parent / "missing.jsonl")]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "yaml": "id: x"}\nnot json\n')
    assert main(["eval", "sanity", "--cases", str(bad)]) == 2
    assert "Cannot read the flows" in capsys.readouterr().err
