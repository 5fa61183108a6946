"""`kestra-copilot ask "…"`: one assistant turn without the TUI.

Prints the flow YAML (or, with --json, the flow with its diagnostics, diff, sources and usage). Progress
(attempts, validation) goes to stderr. Exit 0 valid flow, 1 the final flow is invalid, 2 no flow
(no model configured, outage, usage error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import load_settings
from .errors import CopilotError

__all__ = ["add_parser", "ask_command", "sessions_command"]

EXIT_OK, EXIT_INVALID, EXIT_ERROR = 0, 1, 2


def add_parser(commands: Any) -> None:
    ask = commands.add_parser("ask", help="one turn: describe a flow (or a change to --flow) and get the YAML")
    ask.add_argument("request", help="what the flow should do, or what to change")
    ask.add_argument("--flow", type=Path, metavar="FILE", help="edit this flow instead of writing a new one")
    ask.add_argument("--recipe", default="default", help="prompt recipe name or YAML path (default: default)")
    ask.add_argument("--model", help="model name (default: the `model` setting)")
    ask.add_argument("--kestra-version", type=int, choices=(1, 2), help="target Kestra major version")
    ask.add_argument("--json", action="store_true", help="flow, diagnostics, diff, sources and usage as JSON")
    ask.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the flow YAML to FILE")
    ask.add_argument("--session", metavar="ID", help="continue a session (its last flow is the one edited)")
    ask.add_argument(
        "--test-run",
        action="store_true",
        help="then deploy it to <namespace>.copilot_test on KESTRA_URL, run it, and repair it from failures",
    )
    ask.add_argument("--input", action="append", default=[], metavar="KEY=VALUE", help="test-run inputs")
    ask.add_argument("--max-repairs", type=int, default=2, help="test-run repair attempts (2)")
    commands.add_parser("sessions", help="list the recorded sessions, newest first")


def ask_command(args: argparse.Namespace) -> int:
    from .engine.factory import build_engine
    from .engine.sessions import SessionStore
    from .llm.factory import model_from_settings

    settings = load_settings()
    model_from_settings(settings, args.model)  # no model configured: say so before anything else
    setup = build_engine(settings, recipe=args.recipe, model=args.model, kestra_version=args.kestra_version)
    engine, recipe, version = setup.engine, setup.engine.recipe, setup.engine.kestra_version
    for note in setup.notes:
        print(f"note: {note}", file=sys.stderr)
    model = engine.model
    assert model is not None
    store = SessionStore.open(settings.data_dir / "sessions.db")
    for note in store.notes:  # a damaged store moved aside
        print(f"warning: {note}", file=sys.stderr)
    try:
        session = _session(store, engine, args, model.name, recipe.name, version)
        trial = None
        record = store.recorder(session, args.request)

        def on_event(event: Any) -> None:
            record(event)
            _progress(event)

        trial_error: CopilotError | None = None
        try:
            result = asyncio.run(engine.turn(args.request, on_event=on_event))
            if args.test_run and result.valid:
                try:
                    trial = asyncio.run(_test_run(settings, engine, args, lambda text: store.recorder(session, text)))
                except CopilotError as exc:  # Kestra down, refused the flow…: the flow is still printed
                    trial_error = exc
                if trial is not None and trial.repairs and trial.repairs[-1].revision is not None:
                    result = trial.repairs[-1]  # report the last revision the test run produced
                elif engine.current is not None and engine.current is not result.revision:
                    result.revision = engine.current  # repairs made before an error are not lost
                if trial is not None and not trial.passed:
                    print(f"test run: {trial.state}; the last revision is shown.", file=sys.stderr)
        except KeyboardInterrupt:
            store.mark_interrupted(session)
            print(f"interrupted; the reply so far is kept in session {session}.", file=sys.stderr)
            raise
    finally:
        store.close()
    print(f"session {session} (continue with --session {session})", file=sys.stderr)
    code = _report(result, args)
    if trial_error is not None:
        hint = f"\nhint: {trial_error.hint}" if trial_error.hint else ""
        print(f"error: the test run did not finish: {trial_error}{hint}", file=sys.stderr)
        return EXIT_ERROR
    if trial is not None and code == EXIT_OK and not trial.passed:
        return EXIT_INVALID
    return code


async def _test_run(
    settings: Any, engine: Any, args: argparse.Namespace, recorder: Callable[[str], Callable[[Any], None]]
) -> Any:
    """Deploy, run and repair; each repair is recorded as a turn of the session as it happens."""
    from .cli_kestra import parse_pairs
    from .engine.testrun import Deployed, RepairStarted, RunFinished, recording_repairs, test_run
    from .kestra import KestraClient

    record = recording_repairs(recorder)

    def show(event: Any) -> None:
        record(event)
        if isinstance(event, RepairStarted):
            print(f"test run: asking for a repair from the run ({event.number})…", file=sys.stderr)
        elif isinstance(event, Deployed):
            print(f"test run: deployed {event.namespace}.{event.flow_id} (server revision {event.revision})",
                  file=sys.stderr)  # fmt: skip
        elif isinstance(event, RunFinished):
            where = f" at task {event.failing_task}" if event.failing_task else ""
            print(f"test run: {event.execution.state}{where}", file=sys.stderr)
            for line in event.error_logs[-5:]:
                print(f"  {line}", file=sys.stderr)
        else:
            _progress(event)

    async with KestraClient.from_settings(settings) as client:
        inputs = parse_pairs(args.input, "=", "--input")
        return await test_run(
            engine,
            client,
            inputs=inputs,
            namespace_suffix=settings.test_namespace_suffix,
            max_repairs=args.max_repairs,
            follow_timeout=settings.test_run_timeout,
            on_event=show,
        )


def _session(store: Any, engine: Any, args: argparse.Namespace, model: str, recipe: str, version: int) -> str:
    """The session to record into: continued (`--session`) or new, with `--flow` as its first revision."""
    if args.session:
        try:
            store.restore(args.session, engine)
        except KeyError as exc:
            raise CopilotError(f"No session {args.session!r}.", hint="`kestra-copilot sessions` lists them.") from exc
        session = str(args.session)
    else:
        session = store.create(model=model, recipe=recipe, kestra_version=version)
    if args.flow:
        try:
            text = args.flow.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CopilotError(f"Cannot read {args.flow}: {exc.strerror or exc}.") from exc
        store.save_revision(session, engine.start_from(text))
    return session


def _progress(event: Any) -> None:
    from .engine.turn import Attempt, Notice, Validated

    if isinstance(event, Notice):
        print(f"note: {event.message}" + (f" ({event.hint})" if event.hint else ""), file=sys.stderr)
    elif isinstance(event, Attempt) and event.number > 1:
        print(f"repairing (attempt {event.number})…", file=sys.stderr)
    elif isinstance(event, Validated):
        errors = sum(d.is_error for d in event.diagnostics)
        print(f"attempt {event.attempt}: {'valid' if event.valid else f'{errors} error(s)'}", file=sys.stderr)


def _report(result: Any, args: argparse.Namespace) -> int:
    if result.redacted:
        note = f"note: {result.redacted} credential(s) were redacted before sending; use {{{{ secret('NAME') }}}}."
        print(note, file=sys.stderr)
    if result.revision is None:
        if result.error is not None:
            raise result.error
        raise CopilotError("The model wrote no flow.", hint="Rephrase the request and ask again.")
    revision = result.revision
    if args.output:
        args.output.write_text(revision.yaml, encoding="utf-8")
    if args.json:
        print(json.dumps(_as_json(result), indent=2))
    elif not args.output:
        sys.stdout.write(revision.yaml if revision.yaml.endswith("\n") else revision.yaml + "\n")
    if result.error is not None:
        print(f"warning: {result.error} (the last flow written is kept)", file=sys.stderr)
    if not args.json:
        for diagnostic in revision.diagnostics:
            if diagnostic.severity.value != "info":
                print(diagnostic.format(str(args.output or "flow")), file=sys.stderr)
    return EXIT_OK if revision.valid else EXIT_INVALID


def sessions_command(args: argparse.Namespace) -> int:
    import time

    from .engine.sessions import SessionStore

    store = SessionStore.open(load_settings().data_dir / "sessions.db")
    for note in store.notes:
        print(f"warning: {note}", file=sys.stderr)
    try:
        sessions = store.sessions()
    finally:
        store.close()
    if not sessions:
        print('No sessions yet: `kestra-copilot ask "…"` starts one.')
    for info in sessions:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.updated))
        print(f"{info.id}  {when}  {info.turns} turn(s), {info.revisions} revision(s)  {info.title}")
    return EXIT_OK


def _as_json(result: Any) -> dict[str, Any]:
    revision = result.revision
    usage = {
        "prompt_tokens": sum(u.prompt_tokens for u in result.usage),
        "output_tokens": sum(u.output_tokens for u in result.usage),
        "thought_tokens": sum(u.thought_tokens for u in result.usage),
        "cached_tokens": sum(u.cached_tokens for u in result.usage),
    }
    return {
        "valid": revision.valid,
        "yaml": revision.yaml,
        "diagnostics": [d.to_dict() for d in revision.diagnostics],
        "diff": revision.diff.to_dict() if revision.diff else None,
        "sources": [
            {"id": f"S{n}", "kind": h.chunk.kind, "title": h.chunk.title, "location": h.chunk.location}
            for n, h in enumerate(result.sources, 1)
        ],
        "attempts": result.attempts,
        "recipe": result.recipe,
        "prompt_hashes": result.prompt_hashes,
        "usage": usage,
        "error": str(result.error) if result.error else None,
        "seconds": round(result.seconds, 3),
    }
