"""`eval run|score|compare|capture|sanity` (flow generation evals); `eval retrieval` is in cli_retrieval."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_args import Commands, fraction, nonblank, positive_int
from .errors import CopilotError
from .exitcodes import EXIT_FAILED, EXIT_OK
from .terminal import printable
from .wording import counted

if TYPE_CHECKING:
    from .config import Settings
    from .evaluation.cache import ReplayOnlyModel
    from .evaluation.cases import Case
    from .evaluation.records import ResultRecord, Summary
    from .events import ChatModel
    from .workspace import Workspace

__all__ = ["add_parsers"]

SHOWN_REASONS = 3  # distinct reasons on the summary line; results.jsonl has every one


def add_parsers(evaluations: Commands) -> None:
    """The flow generation evals, in the `eval` family (`eval retrieval`: cli_retrieval)."""
    run = evaluations.add_parser(
        "run",
        help="run a suite of cases through the engine and score the flows",
        description="Runs every case (K times) and writes a run directory: manifest, outputs, scores, "
        "tokens, latency, cost. Model replies are cached by content, so a re-run replays offline.",
    )
    run.add_argument("suite", type=Path, help="a case file or a folder of them (e.g. evals/core)")
    run.add_argument(
        "--recipe", type=nonblank("a recipe name or path"), default="default", help="prompt recipe name or YAML path"
    )
    run.add_argument("--model", type=nonblank("a model name"), help="model name (default: the configured one)")
    run.add_argument("--repeat", type=positive_int, default=1, metavar="K", help="samples per case (default 1)")
    run.add_argument("--concurrency", type=positive_int, default=2, metavar="N", help="cases at once (default 2)")
    run.add_argument("--no-cache", action="store_true", help="always ask the model; record nothing")
    run.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="the replies cache folder (default: <cache dir>/eval-replies), e.g. one CI restores or commits",
    )
    run.add_argument(
        "--replay-only",
        action="store_true",
        help="never call the model: a reply missing from the cache fails its case (CI without a model key)",
    )
    run.add_argument("--tag", type=nonblank("a tag"), action="append", help="only cases with this tag (repeatable)")
    run.add_argument("--kestra-version", type=int, choices=(1, 2))
    run.add_argument("--live", action="store_true", help="also run live checks: test_run on Kestra, rubric")
    run.add_argument("-o", "--out", type=Path, help="run directory (default: evals/runs/<date>-<recipe>)")
    run.set_defaults(handler=_run)

    score = evaluations.add_parser("score", help="re-score a run's saved outputs (no model calls)")
    score.add_argument("run_dir", type=Path)
    score.add_argument("--suite", type=Path, help="score with these (newer) case files instead of the saved ones")
    score.set_defaults(handler=_score)

    compare = evaluations.add_parser(
        "compare",
        help="compare two runs: flips, pass@k, pass^k, significance; exit 1 on a significant regression",
    )
    compare.add_argument("base", type=Path)
    compare.add_argument("candidate", type=Path)
    compare.add_argument("--alpha", type=fraction, default=0.05, help="significance level (default 0.05)")
    compare.add_argument("--report", type=Path, help="write compare.md/.json/.junit.xml/.html into this folder")
    compare.set_defaults(handler=_compare)

    capture = evaluations.add_parser(
        "capture",
        help="turn a session's turn into a regression case, with checks proposed from the flow it made",
        description="Appends a case to a suite file: the turn's request, the flow it started from, and "
        "checks the flow it made passes (types, crons, inputs, secrets, similarity; preserves for edits). "
        "Review the checks before keeping the case.",
    )
    capture.add_argument(
        "session", type=nonblank("a session id"), help="a session id (`kestra-copilot sessions` lists them)"
    )
    capture.add_argument("--turn", type=positive_int, help="which turn (default: the last one that made a valid flow)")
    capture.add_argument(
        "-o", "--suite", type=Path, default=Path("evals/captured.yaml"), help="suite file (evals/captured.yaml)"
    )
    capture.add_argument("--id", type=nonblank("a case id"), help="the case id (default: from the request)")
    capture.set_defaults(handler=_capture)

    sanity = evaluations.add_parser(
        "sanity",
        help="check the scorers on real blueprints: originals should score high, corrupted copies lower",
    )
    sanity.add_argument("--cases", type=Path, required=True, help="JSONL of flows (e.g. kestra-flows/dev.jsonl)")
    sanity.add_argument("--limit", type=positive_int, help="only the first N flows")
    sanity.set_defaults(handler=_sanity)


def _capture(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .evaluation.capture import add_case, case_from_session, check_names
    from .workspace import Workspace

    store = Workspace(load_settings()).sessions()
    for note in store.notes:
        print(f"warning: {note}", file=sys.stderr)
    try:
        case = case_from_session(store, args.session, args.turn)
    finally:
        store.close()
    if args.id:
        case["id"] = args.id
    case_id = add_case(args.suite, case)
    checks = ", ".join(check_names(case))
    print(printable(f"case {case_id} added to {args.suite} ({checks}); review its checks, then run it with"))
    print(printable(f"  kestra-copilot eval run {args.suite}"))
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from .config import load_settings
    from .engine.recipes import load_recipe
    from .evaluation.cases import load_suite
    from .evaluation.runner import RunOptions, run_suite
    from .workspace import Grounding, Workspace

    if args.out is not None and args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        # A run directory is a record (a baseline, a candidate): a new run never writes over one.
        raise CopilotError(
            f"{args.out} already exists and is not an empty folder: nothing was run or written.",
            hint="Give another -o (each run its own folder), or remove it first if you mean to replace it.",
        )
    settings = load_settings()
    cases = load_suite(args.suite, tags=set(args.tag) if args.tag else None)
    if not cases:
        raise CopilotError(f"No cases in {args.suite}" + (f" with tags {args.tag}." if args.tag else "."))
    _refuse_impossible(args, settings, cases)
    recipe = load_recipe(args.recipe)
    workspace = Workspace(settings)
    model = _model(args, workspace)
    grounding = workspace.grounding() if recipe.k else Grounding(None)
    if recipe.k and grounding.retrieve is None:
        print("note: no retrieval index: cases run without sources (`kestra-copilot index build`).", file=sys.stderr)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or Path("evals/runs") / f"{stamp}-{recipe.name}"
    options = RunOptions(
        recipe=args.recipe,
        repeat=args.repeat,
        concurrency=args.concurrency,
        use_cache=not args.no_cache,
        kestra_version=args.kestra_version,
        live=args.live,
        cache_dir=args.cache_dir,
        replay_only=args.replay_only,
    )

    def progress(done: int, total: int, record: ResultRecord) -> None:
        case = f"{record['case']}#{record['sample']}"
        if error := record.get("error"):
            line = f"[{done}/{total}] ERROR {case} not produced: {error}"
        else:
            mark = "pass" if record["passed"] else "FAIL"
            source = "cached" if record.get("cache_misses") == 0 and record.get("cache_hits") else "fresh"
            line = f"[{done}/{total}] {mark} {record['score']:.2f} {case} ({source})"
        print(printable(line), file=sys.stderr)  # case ids and reasons quote suites and servers
        for notice in record.get("notices", []):
            print(printable(f"  note: {notice}"), file=sys.stderr)

    summary = asyncio.run(
        run_suite(
            cases,
            workspace,
            options,
            out,
            model=model,
            retrieve=grounding.retrieve,
            index_fingerprint=grounding.fingerprint or None,
            suite=str(args.suite),
            progress=progress,
        )
    )
    _print_summary(out, summary)
    return EXIT_FAILED if summary["errors"] else EXIT_OK  # not produced: the run directory is complete all the same


def _model(args: argparse.Namespace, workspace: Workspace) -> ChatModel | ReplayOnlyModel:
    """The configured model, or a stand-in that only names it when every reply must come from the cache."""
    from .evaluation.cache import ReplayOnlyModel

    if args.replay_only:
        return ReplayOnlyModel(args.model or workspace.settings.model)
    return workspace.model(args.model)


def _refuse_impossible(args: argparse.Namespace, settings: Settings, cases: list[Case]) -> None:
    """Options that cannot do what they say fail before any case runs."""
    if args.replay_only and args.no_cache:
        raise CopilotError("--replay-only replays from the cache: it cannot go with --no-cache.")
    if args.replay_only and args.cache_dir is not None and not args.cache_dir.is_dir():
        raise CopilotError(
            f"There is no replies cache at {args.cache_dir}: --replay-only would have nothing to replay.",
            hint="Check the --cache-dir path (the folder a recorded run was given, e.g. evals/cache).",
        )
    test_runs = args.live and any(ch.kind == "test_run" for c in cases for ch in c.checks)
    if test_runs and not settings.kestra_url:
        raise CopilotError(
            "--live runs test_run checks on Kestra, and no server is configured.",
            hint="Set KESTRA_URL (and KESTRA_USERNAME/KESTRA_PASSWORD), or run without --live: "
            "test_run checks are then reported as skipped.",
        )
    if test_runs and not settings.sandbox_test_runs:
        raise CopilotError(
            "--live deploys and runs every model-written flow of the test_run checks on Kestra, unreviewed: "
            "that needs a Kestra kept for trials, and it is not declared as one.",
            hint="Point KESTRA_URL at a sandbox server and set sandbox_test_runs = true in the config file "
            "(KESTRA_COPILOT_SANDBOX_TEST_RUNS=1), or run without --live (README: Safety).",
        )


def _print_summary(out: Path, summary: Summary) -> None:
    print(
        printable(
            f"{out}: {counted(summary['cases'], 'case')}, {counted(summary['samples'], 'sample')}: "
            f"pass {100 * summary['pass_rate']:.1f}%, mean score {summary['mean_score']:.3f}; "
            + _unproduced_text(summary)
        )
    )
    for hint in dict.fromkeys(r["hint"] for r in summary["unproduced"][:SHOWN_REASONS] if r["hint"]):
        print(printable(f"  hint: {hint}"))
    from .evaluation.reports import money

    fresh = f"{summary['fresh_tokens']:,} tokens, {money(summary['fresh_cost'], '$')}"
    print(
        f"  {counted(summary['fresh_calls'], 'fresh call')}: {fresh}; "
        f"{counted(summary['cache_hits'], 'cached reply', 'cached replies')}: {summary['replayed_tokens']:,} tokens, "
        f"{money(summary['replayed_cost'], '$')} when recorded"
    )
    recorded = summary["recorded_latency_p50"]
    print(
        f"  latency p50 {summary['latency_p50']:.2f} s"
        + ("" if recorded is None else f" ({recorded:.2f} s as recorded)")
    )
    if summary["skipped"]:
        skipped = ", ".join(f"{check} ×{n}" for check, n in sorted(summary["skipped"].items()))
        print(f"  skipped (live only, run with --live): {skipped}")
    if summary["rubric"]:
        rubric = summary["rubric"]
        print(f"  rubric (apart, not in the score): mean grade {rubric['mean_grade']:.2f}/5 over {rubric['graded']}")


def _unproduced_text(summary: Summary) -> str:
    """How many samples could not be produced, and why (runs written before reasons were kept: how many)."""
    if not summary["errors"]:
        return "every sample produced"
    reasons = summary["unproduced"]
    if not reasons:
        return f"{summary['errors']} not produced"
    why = "; ".join(f"{r['reason']} (×{r['samples']})" for r in reasons[:SHOWN_REASONS])
    if len(reasons) > SHOWN_REASONS:
        why += f"; {counted(len(reasons) - SHOWN_REASONS, 'other reason')} in results.jsonl"
    return f"{summary['errors']} not produced: {why}"


def _score(args: argparse.Namespace) -> int:
    from .evaluation.cases import load_suite
    from .evaluation.runner import rescore

    cases = load_suite(args.suite) if args.suite else None
    _print_summary(args.run_dir, rescore(args.run_dir, cases))
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from .evaluation.compare import compare_runs
    from .evaluation.reports import markdown_report, write_reports

    comparison = compare_runs(args.base, args.candidate, alpha=args.alpha)
    print(printable(markdown_report(comparison)), end="")  # case ids and reasons quote suites and flows
    if args.report:
        for path in write_reports(comparison, args.report):
            print(f"wrote {path}", file=sys.stderr)
    return EXIT_FAILED if comparison.significant_regression else EXIT_OK


def _sanity(args: argparse.Namespace) -> int:
    from .evaluation.sanity import distributions, run_sanity

    results = run_sanity(args.cases, limit=args.limit)
    print(json.dumps(distributions(results), indent=2))
    return EXIT_OK
