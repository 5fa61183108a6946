"""`deploy` and `run`: a flow onto a Kestra server after review, and a test execution followed live.

    kestra-copilot deploy flows/etl.yml [--yes] [--namespace NS]
    kestra-copilot run company.team/etl --input month=2024-01 --file data=./a.csv --label env:test

deploy: the server validates the flow first; then the diff against what the server has (or "new
flow") and what the flow can do, a confirmation, create-or-update, a check that the server stored it
where it was meant to go, the new revision and the UI link. Namespaces outside the `deploy_namespaces`
allow-list (when set) are refused, for deploy and run alike. run: the execution's task runs as their
state changes, their logs as they finish, and a verdict; exit 0 SUCCESS or WARNING, 1 any other end, 2 an
error. The questions to the user are in cli_confirm.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_args import Commands, add_policy_option, nonblank, parse_pairs, positive_seconds
from .cli_confirm import ask_yes_no
from .errors import CopilotError
from .exitcodes import EXIT_FAILED, EXIT_OK
from .terminal import printable

if TYPE_CHECKING:
    from .events import DeployReview, Execution, Finished

__all__ = ["add_parsers"]

SHOWN_LOG_LINES = 20  # of the failing task run's, in the verdict


def add_parsers(commands: Commands) -> None:
    deploy = commands.add_parser("deploy", help="deploy a flow to Kestra after server validation and a diff")
    deploy.add_argument("file", type=Path, metavar="FILE")
    deploy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    deploy.add_argument(
        "--namespace", type=nonblank("a namespace"), help="deploy into this namespace instead of the flow's own"
    )
    add_policy_option(deploy, "stops the deploy")
    deploy.set_defaults(handler=deploy_command)
    run = commands.add_parser("run", help="execute a deployed flow and follow it live")
    run.add_argument("flow", metavar="NAMESPACE/FLOW_ID")
    run.add_argument("--input", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--file", action="append", default=[], metavar="KEY=PATH", help="a FILE input")
    run.add_argument("--label", action="append", default=[], metavar="KEY:VALUE")
    run.add_argument("--timeout", type=positive_seconds, default=600.0, help="seconds to follow before giving up (600)")
    run.set_defaults(handler=run_command)


# --- deploy ------------------------------------------------------------------------------------------------
def _refused_by_policy(text: str, name: str, *, warn: bool) -> bool:
    """A literal credential is refused before anything reaches the server, as `validate` and the chat's
    deploy refuse it; `--policy warn` reports it and goes on."""
    from .flows import lint_secrets, parse_flow

    findings = lint_secrets(parse_flow(text))
    for diagnostic in findings:
        print(printable(diagnostic.format(name)), file=sys.stderr)
    if findings and not warn:
        print(f"{name}: refused by policy (Kestra would accept it); nothing was deployed.", file=sys.stderr)
        print("hint: Use {{ secret('NAME') }} for each credential, or pass --policy warn.", file=sys.stderr)
    return bool(findings) and not warn


def deploy_command(args: argparse.Namespace) -> int:
    import asyncio

    from .config import load_settings
    from .events import flow_ref
    from .fileio import MAX_FLOW_BYTES, read_text
    from .workspace import Workspace

    settings = load_settings()
    text = read_text(args.file, limit=MAX_FLOW_BYTES, what="flow", allow_stdin=True)
    if _refused_by_policy(text, str(args.file), warn=args.policy == "warn"):
        return EXIT_FAILED

    async def confirm(review: DeployReview, server: str) -> bool:
        """The diff (or `new flow`) and what the flow can do, then a yes unless --yes."""
        where = flow_ref(review.namespace, review.flow_id)
        shown = [f"new flow {where}" if review.diff is None else review.diff.unified.rstrip("\n")]
        shown += ["What it can do:", *(f"  {line}" for line in review.capabilities.lines())]
        print(printable("\n".join(shown)))
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise CopilotError("Deploying needs a confirmation, and there is no terminal to ask.", hint="Pass --yes.")
        seen = sys.stdout.isatty()  # with stdout in a file, what is approved is shown with the question
        return ask_yes_no(f"Deploy {where} to {settings.kestra_url}? [y/N] ", [] if seen else shown)

    deploy = Workspace(settings).deploy(text, label=str(args.file), confirm=confirm, namespace=args.namespace)
    outcome = asyncio.run(deploy)
    review = outcome.review
    if outcome.refused:
        for diagnostic in review.problems:
            print(printable(diagnostic.format(str(args.file))), file=sys.stderr)
        print(f"{args.file}: Kestra refuses this flow; nothing was deployed.", file=sys.stderr)
        return EXIT_FAILED
    if review.up_to_date and review.deployed is not None:
        print(printable(f"{outcome.where} is already up to date (revision {review.deployed.revision})."))
        return EXIT_OK
    if outcome.deployed is None:
        print("Not deployed.", file=sys.stderr)
        return EXIT_FAILED
    print(printable(f"deployed {outcome.where} revision {outcome.deployed.revision} — {outcome.link}"))
    return EXIT_OK


# --- run ---------------------------------------------------------------------------------------------------
def run_command(args: argparse.Namespace) -> int:
    import asyncio

    from .config import load_settings
    from .events import GOOD_STATES
    from .fileio import open_regular
    from .workspace import Workspace

    namespace, _, flow_id = args.flow.rpartition("/")
    if not namespace or not flow_id:
        raise CopilotError(f"{args.flow!r} must look like NAMESPACE/FLOW_ID (e.g. company.team/etl).")
    inputs = parse_pairs(args.input, "=", "--input")
    files = {key: Path(path) for key, path in parse_pairs(args.file, "=", "--file").items()}
    for key, path in files.items():
        if not path.exists():
            raise CopilotError(
                f"--file {key}={path}: there is no such file.", hint="Give the path of a file to upload."
            )
        open_regular(path, what="input").close()  # a FIFO, device or folder is refused here, never read
    labels = parse_pairs(args.label, ":", "--label")
    workspace = Workspace(load_settings())
    started: list[str | None] = []

    def on_started(execution: Execution) -> None:
        started.append(execution.url)
        print(printable(f"execution {execution.id} — {execution.url or ''}".rstrip(" —")))

    finished = asyncio.run(
        workspace.execute(
            namespace,
            flow_id,
            inputs=inputs,
            files=files,
            labels=labels,
            timeout=args.timeout,
            on_started=on_started,
            on_event=_live_printer(),
        )
    )
    if finished is None:  # left running: it is the user's execution, not a test copy
        print(f"still running after {_span(args.timeout)}; follow it in the Kestra UI.", file=sys.stderr)
        return EXIT_FAILED
    _verdict(finished, started[0] if started else None)
    return EXIT_OK if finished.execution.state in GOOD_STATES else EXIT_FAILED


def _live_printer() -> Callable[[object], None]:
    """Each task run's state as it changes and each log line as Kestra writes it."""
    from .events import Execution, LiveLogsStopped, LogEntry

    states: dict[str, str] = {}

    def show(event: object) -> None:
        if isinstance(event, LogEntry):
            print(printable(f"    {event.task_id or '':<20} {event.level:<5} {event.message}"))
        elif isinstance(event, LiveLogsStopped):  # the verdict still comes: the failing task's logs are read again
            print(printable(f"(live logs stopped: {event.reason})"), file=sys.stderr)
        elif isinstance(event, Execution):
            for run in event.task_runs:
                if states.get(run.id) != run.state:
                    states[run.id] = run.state
                    print(printable(f"  {run.task_id:<24} {run.state}"))

    return show


def _verdict(finished: Finished, url: str | None) -> None:
    """The end state, the failing task and how long it took, then that task's error lines."""
    final, failed = finished.execution, finished.failing_run
    where = f" at task {failed.task_id}" if failed else ""
    took = f" in {_span(final.seconds)}" if final.seconds is not None else ""  # Kestra did not say
    print(printable(f"{final.state}{where}{took}"))
    if failed is None:
        return
    for entry in finished.error_logs[-SHOWN_LOG_LINES:]:
        print(printable(f"  {entry.level:<5} {entry.message}"))
    if not finished.error_logs:
        where = url or "the Kestra UI"
        print(printable(f"  (Kestra has no log lines of task {failed.task_id} yet; see the execution in {where})"))


def _span(seconds: float) -> str:
    """A duration as people write it: 0.3s, 42s, 3m07s, 1h05m."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m{int(seconds % 60):02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"
