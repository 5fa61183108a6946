"""`kestra-copilot ask "…"`: one assistant turn without the TUI.

Prints the flow YAML (or, with --json, the flow with its diagnostics, diff, sources and usage), or, when
the model answered a question (`--question` asks one outright), the answer: the flow stays as it was.
Progress (attempts, validation) goes to stderr. Exit 0 valid flow or an answer, 1 the final flow is
invalid, 2 no flow (no model configured, outage, usage error).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_args import Commands, non_negative_int, nonblank, parse_pairs
from .errors import CopilotError
from .exitcodes import EXIT_ERROR, EXIT_FAILED, EXIT_OK
from .terminal import printable
from .wording import counted

if TYPE_CHECKING:
    from .conversation import Conversation
    from .engine.turn import Engine
    from .events import Revision, TestRunResult, TurnResult

__all__ = ["add_parsers"]


def add_parsers(commands: Commands) -> None:
    ask = commands.add_parser(
        "ask", help="one turn: describe a flow (or a change to --flow) and get the YAML, or ask a question"
    )
    ask.add_argument(
        "request",
        type=nonblank("what the flow should do, what to change, or a question"),
        help="what the flow should do, what to change, or a question (answered on stdout; the flow stays)",
    )
    ask.add_argument(
        "--question",
        action="store_true",
        help="the request is a question: the model answers it and never changes the flow",
    )
    ask.add_argument("--flow", type=Path, metavar="FILE", help="edit this flow instead of writing a new one")
    ask.add_argument(
        "--recipe",
        type=nonblank("a recipe name or path"),
        default="default",
        help="prompt recipe name or YAML path (default: default)",
    )
    ask.add_argument("--model", type=nonblank("a model name"), help="model name (default: the `model` setting)")
    ask.add_argument("--kestra-version", type=int, choices=(1, 2), help="target Kestra major version")
    ask.add_argument("--json", action="store_true", help="flow, diagnostics, diff, sources and usage as JSON")
    ask.add_argument("-o", "--output", metavar="FILE", help="write the flow YAML to FILE")
    ask.add_argument(
        "--force",
        action="store_true",
        help="with -o: write even an invalid flow over a FILE that holds a valid one (refused otherwise)",
    )
    ask.add_argument(
        "--session",
        type=nonblank("a session id"),
        metavar="ID",
        help="continue a session (its last flow is the one edited)",
    )
    ask.add_argument(
        "--test-run",
        action="store_true",
        help="then deploy it to <namespace>.copilot_test on KESTRA_URL (after your yes), run it, and repair it",
    )
    ask.add_argument(
        "--yes",
        action="store_true",
        help="approve the test-run without asking (the flow as written; a repair that adds anything stops)",
    )
    ask.add_argument("--keep-test-flow", action="store_true", help="do not delete the test flow after the run")
    ask.add_argument("--input", action="append", default=[], metavar="KEY=VALUE", help="test-run inputs")
    ask.add_argument("--max-repairs", type=non_negative_int, default=2, help="test-run repair attempts (2)")
    ask.set_defaults(handler=ask_command)
    sessions = commands.add_parser("sessions", help="list the recorded sessions, newest first")
    sessions.set_defaults(handler=sessions_command)


def ask_command(args: argparse.Namespace) -> int:
    import asyncio

    from .asyncutil import run_to_a_clean_stop
    from .config import load_settings
    from .events import ConsentRefused
    from .workspace import Workspace

    if (args.yes or args.keep_test_flow or args.input) and not args.test_run:
        raise CopilotError("--yes, --keep-test-flow and --input are about a test-run: use them with --test-run.")
    if args.question and (args.output is not None or args.force or args.test_run):
        raise CopilotError(
            "--question is answered without a flow: -o, --force and --test-run have nothing to write or run.",
            hint="Drop them, or ask for the change without --question.",
        )
    inputs = parse_pairs(args.input, "=", "--input")  # a malformed one fails before any model call
    settings = load_settings()
    workspace = Workspace(settings)
    chat = workspace.model(args.model)  # no model configured: say so before anything else
    if args.output is not None:
        from .fileio import check_writable

        check_writable(args.output, what="flow")
    store = workspace.sessions()  # a store that cannot be opened stops `ask`: its session is what it prints
    for note in store.notes:  # a damaged store moved aside
        print(f"warning: {note}", file=sys.stderr)
    setup = workspace.engine(recipe=args.recipe, chat=chat, kestra_version=args.kestra_version)
    for note in setup.notes:
        print(f"note: {note}", file=sys.stderr)
    conversation = workspace.open(setup, store=store)
    try:
        session = _session(conversation, args)
        trial = None
        trial_error: CopilotError | None = None
        try:
            result = asyncio.run(conversation.turn(args.request, on_event=_progress, question=args.question))
            if args.test_run and result.revision is not None and result.valid:  # an answer changes nothing to run
                try:
                    trial = run_to_a_clean_stop(
                        _test_run(conversation, args, inputs),
                        stopping="\nstopping: the test execution is being killed and its flow removed…\n",
                    )
                except CopilotError as exc:  # Kestra down, refused the flow…: the flow is still printed
                    trial_error = exc
                if trial is not None and trial.refused is not None:
                    shown = f"revision {trial.runs[-1].revision}, the last one run, is shown"
                    print(printable(f"test run: stopped: {trial.refused}"), file=sys.stderr)
                    print(f"note: the refused repair is revision {trial.refused_revision}; {shown}.", file=sys.stderr)
                elif trial is not None and trial.repairs and trial.repairs[-1].revision is not None:
                    result = trial.repairs[-1]  # report the repair turn that made the last revision
                if conversation.current is not None:
                    result.revision = conversation.current  # the last revision the test run produced (or ran)
                if trial is not None and trial.advice is not None:
                    _print_advice(trial.advice)
                if trial is not None and not trial.passed:
                    print(f"test run: {trial.state}; the last revision is shown.", file=sys.stderr)
        except KeyboardInterrupt:
            conversation.interrupted()
            if conversation.current is not None and args.test_run:
                where = f"revision {conversation.current.number} is kept in session {session}"
                print(f"interrupted; nothing more is deployed or run, and {where}.", file=sys.stderr)
            else:
                print(f"interrupted; the reply so far is kept in session {session}.", file=sys.stderr)
            raise
    finally:
        conversation.close()
    print(f"session {session} (continue with --session {session})", file=sys.stderr)
    code = _report(result, args, conversation.engine, session)
    if trial_error is not None:
        hint = f"\nhint: {trial_error.hint}" if trial_error.hint else ""
        what = "test run not approved" if isinstance(trial_error, ConsentRefused) else "the test run did not finish"
        print(printable(f"error: {what}: {trial_error}{hint}"), file=sys.stderr)
        return EXIT_ERROR
    if trial is not None and code == EXIT_OK and not trial.passed:
        return EXIT_FAILED
    return code


async def _test_run(conversation: Conversation, args: argparse.Namespace, inputs: dict[str, str]) -> TestRunResult:
    """Deploy, run and repair; each repair is recorded as a turn of the session as it happens."""
    from .cli_confirm import consent_for
    from .events import CleanedUp, Deployed, RepairStarted, RunFinished, ServerChecked, flow_ref

    def show(event: object) -> None:
        if isinstance(event, ServerChecked):
            for line in event.needs.lines():
                print(printable(f"test run: {line.strip()}" if not line.startswith(" ") else f"  {line.strip()}"),
                      file=sys.stderr)  # fmt: skip
        elif isinstance(event, RepairStarted):
            print(f"test run: asking for a repair from the run ({event.number})…", file=sys.stderr)
        elif isinstance(event, Deployed):
            where = flow_ref(event.namespace, event.flow_id)
            print(printable(f"test run: deployed {where} (server revision {event.revision})"), file=sys.stderr)
            for change in event.changes:
                print(printable(f"  {change}"), file=sys.stderr)
        elif isinstance(event, CleanedUp):
            where = flow_ref(event.namespace, event.flow_id)
            if event.deleted:
                said = f"test run: deleted the test flow {where}"
            elif event.problem:
                said = f"warning: the test flow {where} is still on the server: {event.problem}"
            else:
                said = f"test run: kept the test flow {where} (--keep-test-flow)"
            print(printable(said), file=sys.stderr)
        elif isinstance(event, RunFinished):
            where = f" at task {event.failing_task}" if event.failing_task else ""
            print(printable(f"test run: {event.execution.state}{where}"), file=sys.stderr)
            for line in event.error_logs[-5:]:
                print(printable(f"  {line}"), file=sys.stderr)
        else:
            _progress(event)

    consent = consent_for(conversation.workspace.settings, yes=args.yes, command="kestra-copilot ask … --test-run")
    return await conversation.test_run(
        consent=consent, inputs=inputs, keep=args.keep_test_flow, max_repairs=args.max_repairs, on_event=show
    )


def _print_advice(advice: str) -> None:
    """The repair found the cause outside the flow: what the user must do, set apart from the run's lines."""
    said = "the cause is outside the flow (the repair changed nothing in the flow; nothing was run again)"
    print(f"test run: stopped: {said}.", file=sys.stderr)
    for line in advice.splitlines():
        print(printable(f"  advice: {line}" if line.strip() else "  advice:"), file=sys.stderr)


def _session(conversation: Conversation, args: argparse.Namespace) -> str:
    """The session to record into: continued (`--session`) or new, with `--flow` as its first revision (a bad
    file fails before any model call)."""
    store = conversation.store
    if args.session and store is not None and not store.has_session(args.session):
        raise CopilotError(f"No session {args.session!r}.", hint="`kestra-copilot sessions` lists them.")
    if args.session:
        conversation.resume(args.session)
    if args.flow:
        conversation.load(args.flow, allow_stdin=True)
    session = conversation.start_session()
    assert session is not None  # `ask` opened its store
    return session


def _progress(event: object) -> None:
    from .engine.turn import Attempt, Notice, Validated

    if isinstance(event, Notice):
        print(printable(f"note: {event.message}" + (f" ({event.hint})" if event.hint else "")), file=sys.stderr)
    elif isinstance(event, Attempt) and event.number > 1:
        print(f"repairing (attempt {event.number})…", file=sys.stderr)
    elif isinstance(event, Validated):
        errors = sum(d.is_error for d in event.diagnostics)
        policy = sum(d.blocking for d in event.diagnostics) - errors
        verdict = counted(errors, "error") + (f", {counted(policy, 'policy finding')}" if policy else "")
        print(f"attempt {event.attempt}: {'valid' if event.valid else verdict}", file=sys.stderr)


def _report(result: TurnResult, args: argparse.Namespace, engine: Engine, session: str) -> int:
    if result.redacted:
        were = "was" if result.redacted == 1 else "were"
        redacted = counted(result.redacted, "credential")
        note = f"note: {redacted} {were} redacted before sending; use {{{{ secret('NAME') }}}}."
        print(note, file=sys.stderr)
    if result.answer is not None:
        return _answer(result, args, session)
    if result.unchanged and result.kept is not None:  # the same flow again: nothing new is recorded
        print(f"note: the model gave the flow back unchanged (revision {result.kept.number}).", file=sys.stderr)
    revision = result.kept if result.unchanged else result.revision
    if revision is None:
        if result.error is not None:
            raise result.error
        raise CopilotError("The model wrote no flow.", hint="Rephrase the request and ask again.")
    written, write_failed = False, False
    if args.output is not None:
        from .fileio import FileError, write_text

        refusal = _overwrite_refusal(args, revision, engine)
        try:
            if refusal is None:
                write_text(args.output, revision.yaml, what="flow")
                written = True
        except FileError as exc:  # the disk filled up since the check: the flow is not lost
            refusal, write_failed = f"error: {exc} (the new flow is printed instead)", True
        if refusal is not None:
            print(printable(refusal), file=sys.stderr)
    if args.json:
        print(json.dumps({"session": session, **_as_json(result, revision)}, indent=2))  # to continue with --session
    elif not written:
        sys.stdout.write(printable(revision.yaml if revision.yaml.endswith("\n") else revision.yaml + "\n"))
    if result.error is not None:
        print(printable(f"warning: {result.error} (the last flow written is kept)"), file=sys.stderr)
    if not args.json:
        for diagnostic in revision.diagnostics:
            if diagnostic.severity.value != "info":
                print(printable(diagnostic.format(args.output if written else "flow")), file=sys.stderr)
    if write_failed:
        return EXIT_ERROR
    return EXIT_OK if revision.valid and (written or args.output is None) else EXIT_FAILED


def _answer(result: TurnResult, args: argparse.Namespace, session: str) -> int:
    """A question answered: the answer on stdout (or in the JSON report); the flow, if any, is as it was."""
    if args.json:
        print(json.dumps({"session": session, **_as_json(result, None)}, indent=2))
    else:
        answer = result.answer or ""
        sys.stdout.write(printable(answer if answer.endswith("\n") else answer + "\n"))
    unchanged = [f"{args.output} was not written"] if args.output is not None else []
    unchanged += ["nothing was test-run"] if args.test_run else []
    if unchanged:  # a script asked for a flow (a file, a run) and did not get one
        print(f"note: the model answered without a flow: {' and '.join(unchanged)}.", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _overwrite_refusal(args: argparse.Namespace, revision: Revision, engine: Engine) -> str | None:
    """Why `-o FILE` is not written (`--force` writes anyway): the new flow is invalid and FILE holds a valid
    one; or the new flow holds credential placeholders FILE does not (their values were redacted in an
    earlier process: writing would put `REDACTED_1` over a real password). Over a missing, invalid or
    non-flow file, the flow is written, as asked."""
    if args.force:
        return None
    from .fileio import MAX_FLOW_BYTES, FileError, read_text
    from .flows import PLACEHOLDER_PATTERN, validate_flow

    placeholders = sorted({m.group(0) for m in PLACEHOLDER_PATTERN.finditer(revision.yaml)})
    if revision.valid and not placeholders:
        return None
    try:
        existing = read_text(args.output, limit=MAX_FLOW_BYTES, what="flow")
    except FileError:
        return None  # missing, or not a flow: nothing to lose
    lost = [p for p in placeholders if p not in existing]
    if lost:
        what = "a placeholder of a credential" if len(lost) == 1 else "placeholders of credentials"
        return (
            f"error: the new flow holds {', '.join(lost)}, {what} redacted in an earlier "
            f"turn whose values this run does not have, where {args.output} has its own: it was not changed (the "
            f"new flow is printed instead). Pass --flow {args.output} to edit the file with its values, or --force."
        )
    # The file is judged as the revision is: Kestra's errors and the policy's findings (`passes`).
    if revision.valid or not validate_flow(existing, engine.schema, kestra_version=engine.kestra_version).passes:
        return None
    return (
        f"error: {args.output} holds a valid flow and the new one is invalid: it was not changed "
        "(the new flow is printed instead). Pass --force to write it anyway."
    )


def sessions_command(args: argparse.Namespace) -> int:
    import time

    from .config import load_settings
    from .workspace import Workspace

    store = Workspace(load_settings()).sessions()
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
        counts = f"{counted(info.turns, 'turn')}, {counted(info.revisions, 'revision')}"
        print(printable(f"{info.id}  {when}  {counts}  {info.title}"))
    return EXIT_OK


def _as_json(result: TurnResult, revision: Revision | None) -> dict[str, object]:
    """The turn as JSON: its flow (`revision`), or None with the `answer` when it answered a question."""
    usage = {
        "prompt_tokens": sum(u.prompt_tokens for u in result.usage),
        "output_tokens": sum(u.output_tokens for u in result.usage),
        "thought_tokens": sum(u.thought_tokens for u in result.usage),
        "cached_tokens": sum(u.cached_tokens for u in result.usage),
    }
    return {
        "valid": result.valid,
        "yaml": revision.yaml if revision else None,
        "answer": result.answer,
        "diagnostics": [d.to_dict() for d in revision.diagnostics] if revision else [],
        "diff": revision.diff.to_dict() if revision and revision.diff else None,
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
