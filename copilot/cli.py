"""`kestra-copilot` — the command line. Thin: parse arguments, call the library, print, exit.

Each command registers its parser with its handler (`set_defaults(handler=…)`): the flow commands here,
the others in cli_ask (ask, sessions), cli_kestra (deploy, run), cli_retrieval (index, search, eval
retrieval) and cli_eval (the other evals). Those modules do not import each other (what two of them need is
in cli_args or cli_confirm), and they import what a handler needs inside it, so `--help` stays fast.

Exit codes (copilot/exitcodes.py): 0 success (flows valid), 1 the checked flow is invalid (or refused by
policy), 2 usage, I/O or configuration error, 130 interrupted (Ctrl+C), 141 the reader of the output went
away (`… | head`), quietly, as for a process that SIGPIPE ended.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from . import __version__
from .cli_args import Commands, Handler, add_policy_option, nonblank
from .errors import CopilotError
from .exitcodes import EXIT_ERROR, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PIPE_CLOSED
from .terminal import printable
from .wording import counted

if TYPE_CHECKING:
    from .config import Settings
    from .flows import ValidationResult


# The commands this module registers itself: run by pre-commit hooks and editors once per file, they build
# only their own parsers (the others' modules are not loaded).
OWN_COMMANDS = ("validate", "diff", "schema", "config", "chat")
SCHEMA_SOURCES = ("live", "server", "bundled")


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command, each registered with its handler (`set_defaults(handler=…)`) by the module that owns it;
    `main` runs the handler of the command parsed. The order here is the order of `--help`. With `command`
    one of OWN_COMMANDS, only this module's commands."""
    parser = argparse.ArgumentParser(
        prog="kestra-copilot",
        description="Write, validate, review, deploy and test-run Kestra flows with an AI model.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_validate, _add_diff, _add_schema, _add_config, _add_chat):
        add(commands)
    if command in OWN_COMMANDS:  # the other modules' parsers are not needed (nor their imports' time)
        return parser
    from . import cli_ask, cli_eval, cli_kestra, cli_mcp, cli_retrieval

    cli_ask.add_parsers(commands)
    cli_kestra.add_parsers(commands)
    cli_retrieval.add_parsers(commands)
    evaluate = commands.add_parser("eval", help="offline evaluations")
    evaluations = evaluate.add_subparsers(dest="evaluation", metavar="EVAL", required=True)
    cli_retrieval.add_eval_parsers(evaluations)
    cli_eval.add_parsers(evaluations)
    cli_mcp.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A closed output (`kestra-copilot schema | head`) ends it quietly, for every command
    (Python's "Note on SIGPIPE"): what is still buffered goes to /dev/null instead of a traceback at exit."""
    try:
        try:
            return _command(argv)
        finally:
            sys.stdout.flush()  # a pipe closed early shows here at the latest (stdout to a pipe is buffered)
    except BrokenPipeError:
        _discard_closed_output()
        return EXIT_PIPE_CLOSED


def _discard_closed_output() -> None:
    """Point stdout and stderr, whichever has lost its reader, at /dev/null; the other keeps what it holds."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # ValueError: closed meanwhile
            with contextlib.suppress(OSError, ValueError):  # a stream without a descriptor (in-process tests)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)


def _command(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(arguments[0] if arguments else None)
    if (problem := _undecodable(arguments)) is not None:
        _print_error(problem)
        return EXIT_ERROR
    args = parser.parse_args(arguments)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:  # no command given
        parser.print_help()
        return EXIT_OK
    try:
        return handler(args)
    except CopilotError as exc:
        _print_error(exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _print_error(exc: CopilotError) -> None:
    print(printable(f"kestra-copilot: {exc}"), file=sys.stderr)  # messages quote paths, servers, models
    if exc.hint:
        print(printable(f"hint: {exc.hint}"), file=sys.stderr)


def _undecodable(arguments: Sequence[str]) -> CopilotError | None:
    """An argument that is not valid UTF-8 (Python hands its bytes over as lone surrogates): said at once,
    before it reaches a model, a tokenizer, the session store or the terminal, all of which would choke."""
    for position, argument in enumerate(arguments, 1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(argument[exc.start])
            what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else "an invalid character"
            return CopilotError(
                f"Argument {position} is not valid UTF-8 ({what} at character {exc.start + 1}).",
                hint="Check the terminal's encoding (a UTF-8 locale) and pass text and file names in UTF-8.",
            )
    return None


def _add_chat(commands: Commands) -> None:
    chat = commands.add_parser("chat", help="open the assistant (the default of `make run`)")
    chat.add_argument(
        "--recipe", type=nonblank("a recipe name or path"), default="default", help="prompt recipe name or YAML path"
    )
    chat.add_argument("--keys", action="store_true", help="list the actions and their keys ([keys] in the config)")
    chat.set_defaults(handler=_chat)


def _chat(args: argparse.Namespace) -> int:
    from .config import load_settings

    settings = load_settings()
    if args.keys:
        from .tui.keys import ACTIONS, plan_keys

        plan = plan_keys(settings.keys)
        for action_id, (default, _, title, _) in ACTIONS.items():
            key = plan.keys[action_id]
            mine = "" if key == default else f" (default {default})"
            print(f"{action_id:<10} {key or '(none)':<10} {title}{mine}")
        for note in plan.notes:
            print(f"warning: {note}", file=sys.stderr)
        return EXIT_OK
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CopilotError(
            "The chat needs a terminal: its input or output is a pipe or a file.",
            hint='Run it in a terminal; for scripts use `kestra-copilot ask "…"`.',
        )
    from .tui.app import CopilotApp

    CopilotApp(settings, recipe=args.recipe).run()
    return EXIT_OK


def _read(name: str) -> str:
    """A flow file the user named ('-': stdin): regular, at most a flow's size, UTF-8 (fileio)."""
    from .fileio import MAX_FLOW_BYTES, read_text

    return read_text(name, limit=MAX_FLOW_BYTES, what="flow", allow_stdin=True)


def _color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def _paint(text: str, code: str, on: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if on else text


def _add_validate(commands: Commands) -> None:
    validate = commands.add_parser(
        "validate",
        help="check flow files against Kestra's schema and rules",
        description="Check flow files the way Kestra's server would, and against this project's policy (no "
        "credential written into a flow). A folder is searched for flows (recursively, hidden folders left out); "
        "a glob is expanded by the command ('flows/**/*.yml', quoted). Exit 0 valid, 1 invalid or refused by "
        "policy, 2 error.",
    )
    validate.add_argument(
        "files",
        nargs="*",  # one at least: `--server flow.yml` takes the path as its URL, given back in _validate
        metavar="PATH",
        help="flow files ('-' reads stdin), folders or globs; what a folder or glob finds is checked if it is a "
        "flow (at least two of id, namespace, tasks at its top level)",
    )
    validate.add_argument(
        "--schema",
        metavar="PATH|URL",
        help="a Kestra flow JSON schema (default: the server's under --server, else Kestra's live schema, else the "
        "bundled catalog's)",
    )
    validate.add_argument("--kestra-version", type=int, choices=(1, 2), help="target Kestra major version")
    validate.add_argument(
        "--format", choices=("text", "json", "junit"), default="text", help="junit: JUnit XML for a CI's test report"
    )
    validate.add_argument(
        "-v", "--verbose", action="store_true", help="with many files, also name each valid and each skipped file"
    )
    validate.add_argument(
        "--flows-only",
        action="store_true",
        help="skip named files that are not flows too, as folders and globs do (the pre-commit hook: it names "
        "every YAML file that changed)",
    )
    validate.add_argument(
        "--server",
        nargs="?",
        const="",
        metavar="URL",
        help="also have a Kestra server validate the flows (default URL: KESTRA_URL)",
    )
    add_policy_option(validate, "fails the command")
    validate.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .flowfiles import collect_flows

    if args.server and "://" not in args.server:  # `--server flow.yml`: a path, not the server's URL
        args.files, args.server = [args.server, *args.files], ""
    if not args.files:
        raise CopilotError(
            "validate needs at least one PATH: a flow file ('-' reads stdin), a folder or a glob.",
            hint="For example: kestra-copilot validate flows/",
        )
    settings = load_settings()
    # A file that cannot be read, a folder or glob without flows, is reported; the others are still checked.
    found = collect_flows(args.files, read=_read, flows_only=args.flows_only)
    for _, problem in found.problems:
        _print_error(problem)
    many = found.searched or len(args.files) > 1  # one file named: the output it has always had, no summary
    run = _check_flows(args, settings, found.flows, many=many)
    tally = _Tally.of(run.results, found.skipped, found.problems)
    if args.format == "json":
        print(json.dumps(_json_report(run, found.skipped, found.problems, tally, args.policy), indent=2))
    elif args.format == "junit":
        sys.stdout.write(_junit_report(run, found.skipped, found.problems, args.policy))
    else:
        if args.verbose or not many:
            for name in found.skipped:
                print(printable(f"{name}: skipped, not a Kestra flow"))
        if many:
            print(_paint(printable(tally.line(run.source)), "1", _color(sys.stdout)))
    if found.problems:
        return EXIT_ERROR
    return EXIT_OK if all(_passed(checked.result, args.policy) for checked in run.results) else EXIT_FAILED


@dataclass
class _Checked:
    name: str
    result: ValidationResult
    seconds: float


@dataclass
class _Run:
    kestra_version: int
    schema: str | None = None  # the schema's source; None when there was no flow to check
    server: str | None = None  # the server that checked the flows too, if it could
    results: list[_Checked] = dataclasses.field(default_factory=list)

    @property
    def source(self) -> str | None:
        """What the verdicts rest on: `bundled catalog (Kestra 1.x)`, `+ Kestra 1.3.2 at …` with `--server`."""
        if not self.schema or not self.server:
            return self.schema
        from .server_check import judged_by

        return judged_by(self.schema, self.server)


def _check_flows(args: argparse.Namespace, settings: Settings, texts: list[tuple[str, str]], *, many: bool) -> _Run:
    """Validate each flow (with the server too under `--server`); text output is printed as each file is
    checked, so a long run shows its progress. No flow to check: no schema is loaded, no server asked."""
    from .flows import validate_flow
    from .schema_store import load_schema

    server = None
    if args.server is not None and texts:
        from .server_check import check_on_server

        server = check_on_server(settings, args.server or None, [text for _, text in texts])
        if server.note:
            print(f"note: {server.note}", file=sys.stderr)
        if server.problem:
            print(printable(f"warning: {server.problem} Showing the offline verdict only."), file=sys.stderr)
            if server.hint:
                print(printable(f"hint: {server.hint}"), file=sys.stderr)
    version = args.kestra_version or (server.major if server else None) or settings.kestra_version
    run = _Run(version)
    if not texts:
        return run
    from .workspace import Workspace

    workspace = Workspace(settings)
    if args.schema:  # the server's own schema goes with its credentials
        auth = workspace.kestra_auth(args.schema)
        loaded = load_schema(args.schema, kestra_version=version, cache_dir=settings.cache_dir, auth=auth)
    else:  # the server's schema under --server, else Kestra's live one, else the bundled catalog
        healthy = server if server and not server.problem else None
        loaded = workspace.flow_schema(version, server=healthy.schema_source if healthy else None)
    if loaded.note:
        print(printable(f"note: {loaded.note}"), file=sys.stderr)
    run.schema = loaded.schema.source
    run.server = server.label if server and not server.problem else None
    for position, (name, text) in enumerate(texts):
        started = time.perf_counter()
        result = validate_flow(text, loaded.schema, kestra_version=version)
        if server is not None:
            result = server.merge(position, result)
        run.results.append(_Checked(name, result, time.perf_counter() - started))
        if args.format == "text":  # with many files, the summary names the schema once
            verdict = _verdict(result, args.policy) + ("" if many else f" — {run.source}")
            _print_result(run.results[-1], verdict, brief=many and not args.verbose)
    return run


_TONES = {"error": "31", "policy": "35", "warning": "33"}  # red, magenta, yellow


def _passed(result: ValidationResult, policy: str) -> bool:
    """What the exit code counts: Kestra accepts the flow and, unless `--policy warn`, so does the policy."""
    return result.passes or (policy == "warn" and result.valid)


def _verdict(result: ValidationResult, policy: str) -> str:
    """`invalid (1 error, 0 warnings)`; `refused by policy, valid for Kestra (…)` when only the policy refuses."""
    findings = len(result.policy)
    counts = ", ".join(
        [counted(len(result.errors), "error")]
        + ([counted(findings, "policy finding")] if findings else [])
        + [counted(len(result.warnings), "warning")]
    )
    if not result.valid:
        return f"invalid ({counts})"
    if findings:
        return (
            f"refused by policy, valid for Kestra ({counts})"
            if policy == "fail"
            else f"valid ({counts}, --policy warn)"
        )
    return f"valid ({counts})"


def _print_result(checked: _Checked, verdict: str, *, brief: bool) -> None:
    """A file's diagnostics, each at its `file:line:col`, then its verdict; `brief` (many files): a file with
    nothing to say is not named, so that what needs attention is all there is."""
    color = _color(sys.stdout)
    for diagnostic in checked.result.diagnostics:
        first, _, rest = printable(diagnostic.format(checked.name)).partition("\n")
        tone = _TONES.get(diagnostic.severity.value, "0")
        print(_paint(first, tone, color) + (f"\n{rest}" if rest else ""))
    if checked.result.diagnostics or not brief:
        print(_paint(printable(f"{checked.name}: {verdict}"), "1", color))


@dataclass(frozen=True)
class _Tally:
    """What a run of many files comes to, each file checked counted once, under the worst it has."""

    valid: int
    errors: int  # invalid for Kestra
    policy: int  # valid for Kestra, with a policy finding (refused unless `--policy warn`)
    skipped: int  # YAML files that are not flows
    problems: int  # files that could not be read, folders or globs without a flow

    @classmethod
    def of(cls, results: list[_Checked], skipped: list[str], problems: list[tuple[str, CopilotError]]) -> _Tally:
        invalid = sum(not checked.result.valid for checked in results)
        findings = sum(checked.result.valid and bool(checked.result.policy) for checked in results)
        return cls(len(results) - invalid - findings, invalid, findings, len(skipped), len(problems))

    @property
    def checked(self) -> int:
        return self.valid + self.errors + self.policy

    def line(self, source: str | None) -> str:
        """`3 files checked: 1 valid, 1 with errors, 0 with policy findings, 2 skipped (not flows) — <source>`;
        `, 1 problem` when a file could not be read or a folder or glob held no flow (said on stderr)."""
        not_flows = "not a flow" if self.skipped == 1 else "not flows"
        text = (
            f"{counted(self.checked, 'file')} checked: {self.valid} valid, {self.errors} with errors, "
            f"{self.policy} with policy findings, {self.skipped} skipped ({not_flows})"
        )
        text += f", {counted(self.problems, 'problem')}" if self.problems else ""
        return text + (f" — {source}" if source else "")

    def to_dict(self) -> dict[str, int]:
        return {"checked": self.checked, **dataclasses.asdict(self)}


def _json_report(
    run: _Run, skipped: list[str], problems: list[tuple[str, CopilotError]], tally: _Tally, policy: str
) -> dict[str, object]:
    """One object for the run (README "JSON output"): a result per file checked or not read, then the
    files skipped and the counts."""
    return {
        "schema": run.schema,
        "server": run.server,
        "kestra_version": run.kestra_version,
        "results": [
            {
                "file": checked.name,
                "valid": checked.result.valid,
                "passed": _passed(checked.result, policy),
                "diagnostics": [d.to_dict() for d in checked.result.diagnostics],
            }
            for checked in run.results
        ]
        + [
            {"file": name, "valid": False, "passed": False, "error": str(error), "diagnostics": []}
            for name, error in problems
        ],
        "skipped": skipped,
        "summary": tally.to_dict(),
    }


def _junit_report(run: _Run, skipped: list[str], problems: list[tuple[str, CopilotError]], policy: str) -> str:
    """One test case per file: a failure for a flow that does not pass (its diagnostics as the failure's
    text, at the first blocking one's line), an error for one that could not be read, skipped for YAML that
    is not a flow. Named by file; grouped (classname) by the flow's namespace, as Jenkins shows packages."""
    from .junit import JUnitCase, junit_xml

    suite = "kestra-copilot validate"
    cases = []
    for checked in run.results:
        result, passed = checked.result, _passed(checked.result, policy)
        said = "\n".join(d.format(checked.name) for d in result.diagnostics)
        first = next((d for d in result.diagnostics if d.blocking), None)
        namespace = result.parsed.data.get("namespace") if result.parsed is not None else None
        cases.append(
            JUnitCase(
                checked.name,
                namespace if isinstance(namespace, str) and namespace else suite,
                outcome="passed" if passed else "failure",
                message=_verdict(result, policy),
                details="" if passed else said,
                output=said if passed else "",
                file=checked.name,
                line=first.line if first else None,
                time=checked.seconds,
            )
        )
    cases += [JUnitCase(name, suite, "skipped", "not a Kestra flow", file=name) for name in skipped]
    cases += [JUnitCase(name, suite, "error", str(exc), exc.hint or "", file=name) for name, exc in problems]
    properties = {"schema": run.source or "", "kestra_version": str(run.kestra_version)}
    return junit_xml(suite, cases, properties)


def _add_diff(commands: Commands) -> None:
    diff = commands.add_parser("diff", help="compare two revisions of a flow")
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
    diff.add_argument("--format", choices=("text", "json"), default="text")
    diff.set_defaults(handler=_diff)


def _diff(args: argparse.Namespace) -> int:
    from .flows import diff_flows

    result = diff_flows(_read(args.old), _read(args.new), old_label=args.old, new_label=args.new)
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    if not result.changed:
        print("No changes.")
        return EXIT_OK
    summary = printable(str(result.summary))
    if summary:
        print(summary)
        print()
    sys.stdout.write(printable(result.unified))
    return EXIT_OK


def _add_schema(commands: Commands) -> None:
    schema = commands.add_parser(
        "schema",
        help="print the flow JSON schema in use (Kestra's live one, a server's, or the bundled catalog's)",
        description="Write a flow JSON schema, in the format a Kestra server serves. Default: the one flows are "
        "judged by (Kestra's hosted live schema unless live_schema is off or it cannot be had, else the bundled "
        "catalog's).",
    )
    schema.add_argument(
        "--source",
        choices=SCHEMA_SOURCES,
        help="live: Kestra's hosted schema (live_schema_url, cached); server: the configured Kestra server's "
        "(KESTRA_URL); bundled: generated from the bundled catalog",
    )
    schema.add_argument(
        "--refresh",
        action="store_true",
        help="with --source live: ask for Kestra's schema now (an unchanged one is not downloaded again), not "
        "once a day: flows are judged by it from then on",
    )
    schema.add_argument("--kestra-version", type=int, choices=(1, 2), help="target Kestra major version")
    schema.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    schema.set_defaults(handler=_schema)


def _schema(args: argparse.Namespace) -> int:
    from .config import load_settings

    settings = load_settings()
    version = args.kestra_version or settings.kestra_version
    if args.refresh and args.source != "live":
        raise CopilotError("--refresh asks for Kestra's live schema again: give it with --source live.")
    schema, note = _schema_of(args.source, settings, version, refresh=args.refresh)
    if note:
        print(printable(f"note: {note}"), file=sys.stderr)
    text = json.dumps(schema, indent=2)
    if args.output is not None:
        from .fileio import write_text

        write_text(args.output, text + "\n", what="schema")
    else:
        print(text)
    return EXIT_OK


def _schema_of(
    source: str | None, settings: Settings, version: int, *, refresh: bool = False
) -> tuple[object, str | None]:
    """The schema `source` names (None: the assistant's, Workspace.assistant_schema), and a note on it."""
    if source == "bundled":
        from .flows import bundled_schema

        return bundled_schema(version).raw, None
    from .workspace import Workspace

    workspace = Workspace(settings)
    if source is None:
        loaded = workspace.assistant_schema(version)
        return loaded.schema.raw, loaded.note
    if source == "live":
        from .schema_store import live_schema

        if not settings.live_schema:
            raise CopilotError(
                "Kestra's live schema is turned off (live_schema = false).",
                hint="Turn it on (KESTRA_COPILOT_LIVE_SCHEMA=true), or use --source bundled.",
            )
        try:
            loaded = live_schema(
                settings.live_schema_url,
                kestra_version=version,
                cache_dir=settings.cache_dir,
                merge=False,
                refresh=refresh,
            )  # as Kestra publishes it (with its descriptions): what is in force merges it with our flow model
        except CopilotError as exc:  # never fetched and unreachable (or not a flow schema): no copy to write
            said = str(exc).removesuffix("; using the bundled catalog.").removesuffix(".")
            raise CopilotError(
                f"{said}; no usable copy is cached.",
                hint="Check the connection or live_schema_url (a mirror), or use --source bundled.",
            ) from exc
        if refresh and not loaded.note:
            return loaded.schema.raw, f"refreshed: {loaded.schema.source}"
        return loaded.schema.raw, loaded.note
    import asyncio

    from .schema_store import schema_from_server

    async def fetch() -> dict[str, object]:
        async with workspace.kestra() as client:
            return await schema_from_server(client, settings.cache_dir)

    return asyncio.run(fetch()), None


def _add_config(commands: Commands) -> None:
    config = commands.add_parser("config", help="show the settings (secrets masked) or the config file path")
    config.add_argument("action", choices=("show", "path"), nargs="?", default="show")
    config.set_defaults(handler=_config)


def _config(args: argparse.Namespace) -> int:
    from .config import config_path, load_settings

    if args.action == "path":
        print(config_path())
        return EXIT_OK
    for key, value in load_settings().redacted().items():
        if key == "config_file" and value is None:  # where one would be read from, and that there is none yet
            value = f"(none: {config_path()} does not exist)"
        print(f"{key} = {value if value is not None else '(not set)'}")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
