"""Reports of a comparison: Markdown (for a terminal or a PR comment), JSON, JUnit XML (for CI test
views) and one self-contained HTML page with each flipped case's two output flows side by side."""

from __future__ import annotations

import html
import json
from pathlib import Path
from xml.etree import ElementTree as ET

from ..wording import counted
from .compare import SIDES, CaseComparison, Comparison, RubricRow
from .records import Manifest, RubricSummary, ScoreRecord

__all__ = ["html_report", "junit_report", "markdown_report", "money", "write_reports"]


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _delta(base: float | None, candidate: float | None, fmt: str = "{:+,.0f}") -> str:
    if base is None or candidate is None:
        return "–"
    return fmt.format(candidate - base)


def _label(manifest: Manifest) -> str:
    return f"{manifest.get('recipe', '?')} · {manifest.get('model', '?')} · {manifest.get('commit', '?')}"


def markdown_report(comparison: Comparison) -> str:
    base, cand = comparison.rates("base"), comparison.rates("candidate")
    mean, low, high = comparison.score_diff
    verdict = "**significant regression**" if comparison.significant_regression else "no significant regression"
    lines = [
        "# Eval comparison",
        "",
        f"- base: `{comparison.base_dir}` ({_label(comparison.base_manifest)})",
        f"- candidate: `{comparison.candidate_dir}` ({_label(comparison.candidate_manifest)})",
        f"- {counted(len(comparison.cases), 'paired case')}; verdict: {verdict} (alpha {comparison.alpha})",
        "",
        "| | base | candidate | Δ |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key in [k for k in base if k.startswith("pass")] + ["mean_score"]:
        lines.append(f"| {key} | {_pct(base[key])} | {_pct(cand[key])} | {100 * (cand[key] - base[key]):+.1f} pt |")
    lines += _usage_rows(comparison)
    lines += [
        "",
        f"Flips: {len(comparison.broken)} pass→fail, {len(comparison.fixed)} fail→pass; "
        f"exact McNemar p = {comparison.mcnemar_p:.4g}.",
        f"Mean score difference {mean:+.3f}, 95% CI [{low:+.3f}, {high:+.3f}] (paired bootstrap over cases).",
        "Tokens, cost and latency are as recorded (a replayed reply counts what it cost and took when it was "
        "made); the run's own spending is its fresh calls.",
    ]
    lines += _rubric_section(comparison.rubric("base"), comparison.rubric("candidate"), comparison.rubric_by_case())
    for title, group in (("Broken (pass → fail)", comparison.broken), ("Fixed (fail → pass)", comparison.fixed)):
        if group:
            lines += ["", f"## {title}", ""]
            lines += [
                f"- `{c.case}`: {c.mean_score('base'):.2f} → {c.mean_score('candidate'):.2f} — {_failing(c)}"
                for c in group
            ]
    if comparison.only_base or comparison.only_candidate:
        lines += ["", f"Unpaired cases: base only {comparison.only_base}, candidate only {comparison.only_candidate}."]
    return "\n".join(lines) + "\n"


def _hundredths(value: float | None) -> str:
    """Seconds or a grade, to two places; – when there is none."""
    return "–" if value is None else f"{value:.2f}"


def money(value: float | None, currency: str = "") -> str:
    """A cost in USD to four places; – when no price is known (a local or unpriced model)."""
    return currency + ("–" if value is None else f"{value:.4f}")


def _usage_rows(comparison: Comparison) -> list[str]:
    """Deltas on the recorded figures; what each run spent itself and its cache use, without a delta."""
    base, cand = comparison.totals("base"), comparison.totals("candidate")
    tokens = base["recorded_tokens"], cand["recorded_tokens"]
    cost = base["recorded_cost"], cand["recorded_cost"]
    latency = base["recorded_latency_p50"], cand["recorded_latency_p50"]
    return [
        f"| tokens | {tokens[0]:,.0f} | {tokens[1]:,.0f} | {_delta(*tokens)} |",
        f"| cost (USD) | {money(cost[0])} | {money(cost[1])} | {_delta(*cost, '{:+.4f}')} |",
        f"| latency p50 (s) | {_hundredths(latency[0])} | {_hundredths(latency[1])} | {_delta(*latency, '{:+.2f}')} |",
        f"| this run: fresh tokens / USD | {base['fresh_tokens']:,.0f} / {money(base['fresh_cost'])} | "
        f"{cand['fresh_tokens']:,.0f} / {money(cand['fresh_cost'])} | |",
        f"| this run: latency p50 (s) | {base['latency_p50']:.2f} | {cand['latency_p50']:.2f} | |",
        f"| cache hits / fresh calls | {base['cache_hits']:.0f} / {base['fresh_calls']:.0f} | "
        f"{cand['cache_hits']:.0f} / {cand['fresh_calls']:.0f} | |",
        f"| skipped checks (live only) | {comparison.skipped('base')} | {comparison.skipped('candidate')} | |",
    ]


def _grade(rubric: RubricSummary | None) -> str:
    return "–" if rubric is None else f"{rubric['mean_grade']:.2f}/5 ({rubric['graded']} graded)"


def _rubric_section(base: RubricSummary | None, cand: RubricSummary | None, by_case: list[RubricRow]) -> list[str]:
    """The rubric grades, apart: they are in no pass rate, score or verdict."""
    if base is None and cand is None:
        return []
    delta = _delta(base["mean_grade"] if base else None, cand["mean_grade"] if cand else None, "{:+.2f}")
    lines = [
        "",
        "## Rubric grades (live only, reported apart: not in the pass rates, scores or verdict)",
        "",
        "| | base | candidate | Δ |",
        "| --- | ---: | ---: | ---: |",
        f"| mean grade | {_grade(base)} | {_grade(cand)} | {delta} |",
    ]
    changed = [r for r in by_case if r["base"] != r["candidate"]]
    lines += [f"| `{r['case']}` | {_hundredths(r['base'])} | {_hundredths(r['candidate'])} | "
              f"{_delta(r['base'], r['candidate'], '{:+.2f}')} |" for r in changed]  # fmt: skip
    return lines


def _failing(case: CaseComparison) -> str:
    """The checks that failed on the failing side, first sample."""
    side = case.candidate if case.flip == "broken" else case.base
    failed = [s for s in side[0]["scores"] if not s["passed"] and not s.get("skipped") and not s.get("apart")]
    return "; ".join(f"{s['check']}: {s['detail']}" for s in failed) or (side[0].get("error") or "failed")


def junit_report(comparison: Comparison) -> str:
    """One testcase per paired case; a pass→fail flip is a failure, a candidate failure an error-free skip."""
    suite = ET.Element(
        "testsuite",
        name="kestra-copilot eval compare",
        tests=str(len(comparison.cases)),
        failures=str(len(comparison.broken)),
    )
    for case in comparison.cases:
        element = ET.SubElement(suite, "testcase", classname="eval", name=case.case)
        if case.flip == "broken":
            failure = ET.SubElement(element, "failure", message="passes in base, fails in candidate")
            failure.text = _failing(case)
        elif not case.candidate_passed:
            ET.SubElement(element, "skipped", message="fails in both runs")
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("mcnemar_p", comparison.mcnemar_p),
        ("significant_regression", comparison.significant_regression),
    ):
        ET.SubElement(properties, "property", name=name, value=str(value))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


HTML_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
pre { background: #f6f8fa; padding: 8px; overflow: auto; max-height: 40em; font-size: 12px; }
.pass { color: #1a7f37; } .fail { color: #cf222e; } .apart { color: #6e7781; }
h3 { margin-top: 2em; }
"""


def _check_label(score: ScoreRecord) -> str:
    if score.get("skipped"):
        return f"{score['check']} (skipped)"
    return f"{score['check']} (apart)" if score.get("apart") else score["check"]


def _verdict_class(score: ScoreRecord) -> str:
    if score.get("skipped") or score.get("apart"):
        return "apart"
    return "pass" if score["passed"] else "fail"


def html_report(comparison: Comparison) -> str:
    e = html.escape
    body = [f"<h1>Eval comparison</h1><pre>{e(markdown_report(comparison))}</pre>"]
    for case in comparison.broken + comparison.fixed:
        body.append(f"<h3>{e(case.case)} — {'pass → fail' if case.flip == 'broken' else 'fail → pass'}</h3>")
        body.append('<div class="pair">')
        for side in SIDES:
            first = case.samples(side)[0]
            rows = "".join(
                f"<tr><td>{e(_check_label(s))}</td><td class='{_verdict_class(s)}'>{s['value']:.2f}</td>"
                f"<td>{e(s['detail'])}</td></tr>"
                for s in first["scores"]
            )
            flow = first["output"] if first["output"] is not None else f"(no flow) {first.get('error') or ''}"
            answer = first.get("answer")
            if answer is not None:  # a question case: what it answered is what was judged
                flow = f"(answer) {answer}"
            heading = f"<h4>{side}: score {case.mean_score(side):.2f}</h4>"
            body.append(f"<div>{heading}<table>{rows}</table><pre>{e(flow)}</pre></div>")
        body.append("</div>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Eval comparison</title>"
        f"<style>{HTML_STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_reports(comparison: Comparison, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {
        "compare.md": markdown_report(comparison),
        "compare.json": json.dumps(comparison.to_json(), indent=2) + "\n",
        "compare.junit.xml": junit_report(comparison),
        "compare.html": html_report(comparison),
    }
    from ..fileio import write_text

    for name, text in written.items():
        write_text(folder / name, text, what="report")  # atomic: a report being read is never half-written
    return [folder / name for name in written]
