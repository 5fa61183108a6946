"""The conversation a front end works in: the engine's revisions of one flow, the session they are recorded
in, what the model calls cost, and the actions on them — a turn, undo/redo/go-to, diff, deploy, test-run,
repair from a failure, save/load, a new session or a resumed one. Made by `Workspace.open`.

Every action that changes the flow refuses while a test-run goes on (`Busy`): the run's repairs change it.
Errors are CopilotErrors saying what happened and what to do; the revisions and the session stay as they were.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CopilotError

if TYPE_CHECKING:
    from .engine.consent import Approvals, Consent
    from .engine.sessions import JudgedAttempt, SessionInfo, SessionStore
    from .engine.testrun import RunFinished, TestRunResult
    from .engine.turn import Engine, Revision, TurnEvent, TurnResult
    from .flows import FlowDiff
    from .llm.base import Usage
    from .retrieval.hybrid import Hit
    from .workspace import Confirm, DeployOutcome, EngineSetup, Workspace

__all__ = [
    "BUSY",
    "Busy",
    "Comparison",
    "Conversation",
    "FileDiffers",
    "ModelCall",
    "NoFlow",
    "NoSuchRevision",
    "RepairRequest",
    "ResumedTurn",
    "Saved",
    "SessionNote",
    "Spent",
    "default_save_path",
]

FLOWS_FOLDER = "flows"
TEST_RUN_REPAIR = "Repair from the failed test-run (asked by the test-run)."
BUSY = "A test-run is going on: wait for its verdict (a new flow, Ctrl+N, stops it)."


class Busy(CopilotError):
    """The flow cannot change now: a test-run's repairs are changing it."""


class NoFlow(CopilotError):
    """The action needs a flow, and there is none yet."""


class NoSuchRevision(CopilotError):
    """The flow has no revision by that number."""

    def __init__(self, number: int, last: int) -> None:
        super().__init__(f"There is no revision {number}: {which_revisions(last)}.")
        self.number, self.last = number, last


def which_revisions(last: int) -> str:
    """Which revisions a flow has, in words: `they go from 1 to 3`, `there is only revision 1`."""
    return f"they go from 1 to {last}" if last > 1 else "there is only revision 1" if last else "there is none yet"


class FileDiffers(CopilotError):
    """The file to save to holds something else: overwriting it is the user's call (`save(overwrite=True)`)."""

    def __init__(self, path: Path, held: str | None) -> None:
        super().__init__(f"`{path}` holds something else: it was kept.", hint="Give another path, or overwrite it.")
        self.path = path
        self.held = held  # what the file holds (None: too large or unreadable to show)


@dataclass(frozen=True)
class Saved:
    revision: Revision
    path: Path
    written: bool  # False: the file held this revision already


@dataclass(frozen=True)
class ModelCall:
    model: str
    usage: Usage


@dataclass(frozen=True)
class Spent:
    tokens: int
    cost: float | None  # USD; None when a call's model has no known price (a local model)


@dataclass(frozen=True)
class Comparison:
    label: str  # what the current revision is compared with: "revision 2", "server revision 7"
    diff: FlowDiff | None  # None: the server has no such flow (it would be new)


@dataclass(frozen=True)
class RepairRequest:
    request: str  # what the model is sent: the failed run's state, failing task and logs (fenced as data)
    shown: str  # what the user is shown in its place


@dataclass(frozen=True)
class ResumedTurn:
    """A recorded turn, as the user saw it: what was asked, each attempt and what the validator found, the
    revisions it made."""

    request: str  # as the user saw it
    reply: str  # the last attempt's reply
    revisions: tuple[Revision, ...] = ()  # the revisions (on the session's line) the turn made
    by_test_run: bool = False  # a test-run's repair: asked by the run, not by the user
    attempts: tuple[JudgedAttempt, ...] = ()  # the attempts the validator judged, in order
    tried: int = 0  # how many attempts were made (one more than judged: an answer, or one cut short)
    question: bool = False  # asked as a question (`/ask`)
    status: str = "done"  # done, failed, interrupted (stopped), running (by another process)
    error: str | None = None  # why it failed
    error_hint: str | None = None  # and what to do
    # The sources it was given, as recorded: title, location, kind, source and score (their text is not kept
    # with the session: it is in the index). A session recorded before scores were kept has NaN.
    sources: tuple[Hit, ...] = ()

    def events(self) -> list[TurnEvent]:
        """The turn again, as the events a front end renders live: each attempt, its reply, its verdict, the
        revisions made, the error it ended on (no sources, no usage: those are the panes')."""
        from .engine.turn import Attempt, ErrorEvent, Validated
        from .llm.base import ModelError, TextDelta

        events: list[TurnEvent] = []
        for number, judged in enumerate(self.attempts, 1):
            events += [
                Attempt(number, ""),
                TextDelta(judged.reply),
                Validated(number, judged.diagnostics, judged.valid),
            ]
        if self.tried > len(self.attempts) and self.reply:  # an answer, or a reply cut short or stopped
            events += [Attempt(len(self.attempts) + 1, ""), TextDelta(self.reply)]
        events += self.revisions
        if self.error:
            events.append(ErrorEvent(ModelError(self.error, hint=self.error_hint)))
        return events


@dataclass(frozen=True)
class SessionNote:
    """What a front end told the user about the session's flow (a test-run's verdict, a deploy, a file
    loaded), where it was said among the turns."""

    text: str
    kind: str  # system or error


class Conversation:
    def __init__(
        self,
        workspace: Workspace,
        engine: Engine,
        store: SessionStore | None,
        *,
        index_chunks: int = 0,
        notes: list[str] | None = None,
    ) -> None:
        self.workspace = workspace
        self.engine = engine
        self.store = store  # None: not recorded (the store could not be opened, or a front end asked so)
        self.index_chunks = index_chunks
        self.notes = notes or []  # what is missing and how to fix it, for the front end to show once
        self.session: str | None = None  # created at the flow's first revision
        self.usage: list[ModelCall] = []  # every model call for this flow, for the cost
        self.turn_usage: list[ModelCall] = []  # the calls of the last turn (or test-run)
        self.last_failure: RunFinished | None = None  # the last failed test-run, to repair from
        self.approvals: Approvals | None = None  # what the user said yes to for this flow's test-runs
        self.test_running = False
        self.generation = 0  # bumped when another flow is taken up: a stopped run's last events are dropped

    # --- state ------------------------------------------------------------------------------------------
    @property
    def current(self) -> Revision | None:
        return self.engine.current

    @property
    def revisions(self) -> list[Revision]:
        return self.engine.revisions

    @property
    def model_name(self) -> str | None:
        return self.engine.model.name if self.engine.model is not None else None

    @property
    def recipe_name(self) -> str:
        return self.engine.recipe.name

    @property
    def retrieval(self) -> bool:
        """Whether the recipe retrieves sources at all."""
        return bool(self.engine.recipe.k)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def check_not_busy(self) -> None:
        if self.test_running:
            raise Busy(BUSY)

    def require_current(self, what: str = "There is no flow yet.") -> Revision:
        if self.engine.current is None:
            raise NoFlow(what)
        return self.engine.current

    # --- cost ---------------------------------------------------------------------------------------------
    def spent(self, calls: list[ModelCall] | None = None) -> Spent:
        """Tokens and USD of `calls` (default: the flow's), each priced by the model that made it."""
        from .llm.prices import estimate_cost

        calls = self.usage if calls is None else calls
        costs = [estimate_cost(call.model, [call.usage], self.workspace.settings.prices) for call in calls]
        total = None if not calls or None in costs else sum(c or 0.0 for c in costs)
        return Spent(sum(call.usage.total for call in calls), total)

    def _count(self, event: object) -> None:
        from .llm.base import Usage

        if isinstance(event, Usage):
            call = ModelCall(self.model_name or "", event)
            self.usage.append(call)
            self.turn_usage.append(call)

    # --- turns --------------------------------------------------------------------------------------------
    async def turn(
        self,
        text: str,
        on_event: Callable[[TurnEvent], None] | None = None,
        *,
        shown: str | None = None,
        question: bool = False,
    ) -> TurnResult:
        """One turn of the engine, recorded in the session as it streams, its model calls counted; `question`:
        a question, answered without a flow (an answer is recorded with its reply and usage, no revision).
        Cancelled (Esc, Ctrl+C), what had arrived is kept and the turn is recorded as interrupted; the flow is
        unchanged. `shown` is what the user saw in place of `text` (a repair request), as a resumed session
        shows it."""
        self.check_not_busy()
        record = self._recorder(text, shown, question)
        session = self.session  # the turn's, even if another flow is taken up while it is being stopped
        self.turn_usage = []

        def emit(event: TurnEvent) -> None:
            if record is not None:
                record(event)
            self._count(event)
            if on_event is not None:
                on_event(event)

        try:
            return await self.engine.turn(text, on_event=emit, question=question)
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.interrupted(session)
            raise

    def interrupted(self, session: str | None = None) -> None:
        """The running turn of `session` (default: this one) is recorded as interrupted."""
        session = session or self.session
        if self.store is not None and session is not None:
            self.store.mark_interrupted(session)

    def repair_request(self) -> RepairRequest:
        """The turn that asks for a fix from the last failed test-run's logs (used once)."""
        from .engine.testrun import repair_request

        self.check_not_busy()
        failure = self.last_failure
        if failure is None:
            raise NoFlow("No failed test-run to repair from: test-run the flow first.")
        self.last_failure = None
        where = f"task `{failure.failing_task}`" if failure.failing_task else "the run"
        shown = f"Repair from the failure of {where} ({failure.execution.state})."
        return RepairRequest(repair_request(self.engine, failure), shown)

    # --- the session --------------------------------------------------------------------------------------
    def start_session(self) -> str | None:
        """The session this flow is recorded in, created now if it is not yet; None without a store."""
        return self._open_session()

    def _open_session(self) -> str | None:
        """The session this flow is recorded in, created at its first revision; None without a store."""
        if self.store is None:
            return None
        if self.session is None:
            self.session = self.store.create(
                model=self.model_name or "", recipe=self.recipe_name, kestra_version=self.engine.kestra_version
            )
        return self.session

    def _recorder(
        self, text: str, shown: str | None = None, question: bool = False
    ) -> Callable[[TurnEvent], None] | None:
        session = self._open_session()
        if session is None or self.store is None:
            return None
        return self.store.recorder(session, text, model=self.model_name or "", shown=shown, question=question)

    def _record_revision(self, revision: Revision) -> None:
        """A revision made outside a turn (a loaded file) goes into the session like a turn's: the store's line
        stays the engine's, so the next turn's revision is recorded as made from it."""
        session = self._open_session()
        if session is not None and self.store is not None:
            self.store.save_revision(session, revision)

    def sessions(self) -> list[SessionInfo]:
        return self.store.sessions() if self.store is not None else []

    def forget_deleted_session(self) -> bool:
        """After sessions were deleted (the sessions screen): if this flow's was, its next revision starts a new
        one (else they would go to a session no one can list or resume). Whether it was."""
        if self.session is not None and self.store is not None and not self.store.has_session(self.session):
            self.session = None
            return True
        return False

    def new(self) -> None:
        """A new flow, in a new session (created at its first turn): the last one keeps its revisions."""
        self.engine.reset()
        self._forget_runs()
        self.session = None

    def latest_other_session(self) -> str | None:
        """The most recent session with turns, other than this one."""
        return next((s.id for s in self.sessions() if s.id != self.session and s.turns), None)

    def resume(self, session_id: str) -> list[ResumedTurn | SessionNote]:
        """Take up a recorded session: its revisions (the last current) and the conversation the model sees;
        returns what to show: its turns, and the notes said among them, in order. Its recorded model calls
        count for the cost."""
        import json

        from .engine.sessions import judged_attempts
        from .llm.base import Usage

        if self.store is None:
            raise CopilotError("Sessions are not recorded here (the session store could not be opened).")
        if not self.store.has_session(session_id):
            raise CopilotError(f"No session `{session_id}`.")
        self._forget_runs()
        self.store.restore(session_id, self.engine)
        self.session = session_id
        turns = self.store.turns(session_id)
        # Each call priced by the model that made it: recorded with it, else the session's first model.
        made_with = self.store.model_of(session_id) or self.model_name or ""
        for turn in turns:
            for call in json.loads(turn["usage"] or "[]"):
                usage = Usage(call["prompt"], call["output"], call["thoughts"], call["cached"])
                self.usage.append(ModelCall(str(call.get("model") or made_with), usage))
        made: dict[int, list[Revision]] = {}
        for stored in self.store.revisions(session_id):
            if stored["turn"] is not None and stored["number"] is not None:
                made.setdefault(stored["turn"], []).append(self.engine.revisions[stored["number"] - 1])
        notes = self.store.notes_of(session_id)
        resumed: list[ResumedTurn | SessionNote] = [
            SessionNote(n["text"], n["kind"]) for n in notes if not n["after_turn"]
        ]
        for row in turns:  # each turn, then the notes said after it
            resumed.append(
                ResumedTurn(
                    row["shown"] or row["request"],
                    row["reply"] or "",
                    tuple(made.get(row["number"], ())),
                    by_test_run=row["shown"] == TEST_RUN_REPAIR,
                    attempts=tuple(judged_attempts(row)),
                    tried=row["attempts"],
                    question=row["question"],
                    status=row["status"],
                    error=row["error"],
                    error_hint=row["error_hint"],
                    sources=_recorded_sources(row["sources"]),
                )
            )
            resumed += [SessionNote(n["text"], n["kind"]) for n in notes if n["after_turn"] == row["number"]]
        return resumed

    def note(self, text: str, kind: str = "system") -> None:
        """Record what a front end told the user about this flow (a test-run's verdict, a deploy, a file
        loaded): a resumed session shows it where it was said. Nothing without a session."""
        if self.store is not None and self.session is not None:
            self.store.add_note(self.session, text, kind)

    def abandon_test_run(self) -> bool:
        """Another flow is taken up while a test-run goes on (the front end cancels it): what it still reports
        (its clean-up) is not the next flow's. Whether one was going on."""
        if not self.test_running:
            return False
        self.generation += 1
        return True

    def _forget_runs(self) -> None:
        """Another flow: what the last one's runs, approvals and usage left behind is forgotten (a repair must
        not come from another flow's logs); a test-run going on is the front end's to stop first."""
        self.generation += 1
        self.approvals = None  # a new flow is asked about afresh before it is test-run
        self.last_failure = None
        self.usage, self.turn_usage = [], []

    # --- revisions ----------------------------------------------------------------------------------------
    def undo(self) -> Revision | None:
        """Back to the revision the current one was made from (None: before the first)."""
        self.check_not_busy()
        return self.engine.undo()

    def redo(self) -> Revision | None:
        """Forward to the newest revision made from the current one (the current one again: nothing to redo)."""
        self.check_not_busy()
        return self.engine.redo()

    def goto(self, number: int) -> Revision:
        """Revision `number` becomes current (NoSuchRevision: there is none)."""
        self.check_not_busy()
        self.revision(number)
        return self.engine.goto(number)

    def revision(self, number: int) -> Revision:
        """Revision `number` of this flow (NoSuchRevision: there is none)."""
        if not 1 <= number <= len(self.engine.revisions):
            raise NoSuchRevision(number, len(self.engine.revisions))
        return self.engine.revisions[number - 1]

    async def compare(self, against: int | None) -> Comparison:
        """The current revision against revision `against`, or (None) against the flow deployed on Kestra."""
        from .flows import diff_flows

        current = self.require_current()
        if against is None:
            deployed = await self.workspace.deployed(current.yaml)
            if deployed is None:
                return Comparison("the server", None)
            old, label = deployed.source, f"server revision {deployed.revision}"
        else:
            other = self.revision(against)
            old, label = other.yaml, f"revision {other.number}"
        return Comparison(label, diff_flows(old, current.yaml, old_label=label, new_label=f"revision {current.number}"))

    def load(self, path: Path, *, allow_stdin: bool = False) -> Revision:
        """A flow file (`-` for stdin if `allow_stdin`) becomes the next revision; a FileError says why not."""
        from .fileio import MAX_FLOW_BYTES, read_text

        self.check_not_busy()
        return self.start_from(read_text(path.expanduser(), limit=MAX_FLOW_BYTES, what="flow", allow_stdin=allow_stdin))

    def start_from(self, flow_yaml: str, source: str = "(file)") -> Revision:
        """A flow written elsewhere (a file, `source` "(file)"; a hand edit, "(by hand)") becomes the next
        revision (validated), recorded in the session."""
        self.check_not_busy()
        revision = self.engine.start_from(flow_yaml, source)
        self._record_revision(revision)
        return revision

    def save(self, path: Path | None = None, *, overwrite: bool = False) -> Saved:
        """The current revision to `path`, or to `flows/<namespace>/<id>.yml` (default_save_path). A file
        there holding something else is kept unless `overwrite`: FileDiffers says what it holds."""
        from .fileio import MAX_FLOW_BYTES, FileError, check_writable, read_bytes, write_text
        from .flows import FlowError, parse_flow

        current = self.require_current("There is no flow to save yet.")
        if path is None:
            try:
                data: object = parse_flow(current.yaml).data
            except FlowError:
                data = None
            try:
                target = default_save_path(data)
            except ValueError as exc:
                raise CopilotError(f"{exc}.", hint="Give the path to save it to.") from exc
        else:
            target = path.expanduser()
        landed = check_writable(target, what="flow", make_parents=True)  # a folder, a FIFO … said first
        if landed.exists():
            try:
                held: bytes | None = read_bytes(landed, limit=MAX_FLOW_BYTES, what="flow")
            except FileError:
                held = None  # too large or unreadable: something else all the same
            if held == current.yaml.encode("utf-8"):
                return Saved(current, target, written=False)
            if not overwrite:
                raise FileDiffers(target, None if held is None else held.decode("utf-8", "replace"))
        write_text(target, current.yaml, what="flow", make_parents=True)
        return Saved(current, target, written=True)

    def capture(self, suite: Path | None = None) -> tuple[str, Path]:
        """The turn that made the current revision becomes a regression case appended to `suite`
        (`evals/captured.yaml`), its checks proposed from the flow: (the case id, the suite)."""
        from .evaluation.capture import add_case, case_from_session

        current = self.current
        if current is None or self.store is None or self.session is None:
            raise NoFlow("No turn to capture yet: ask for a flow first.")
        made = [r["turn"] for r in self.store.revisions(self.session) if r["number"] == current.number]
        if not made or made[0] is None:
            raise CopilotError(f"Revision {current.number} was loaded, not written in a turn: nothing to capture.")
        suite = (suite or Path("evals/captured.yaml")).expanduser()
        try:
            return add_case(suite, case_from_session(self.store, self.session, made[0])), suite
        except OSError as exc:
            raise CopilotError(f"Cannot capture the turn: {exc}") from exc

    def switched(self, setup: EngineSetup) -> None:
        """Another model or recipe for the next turns (`Workspace.engine`): the revisions, undone ones too, the
        conversation and the vault (the history's placeholders keep their values) move to the new engine."""
        old, new = self.engine, setup.engine
        new.load(old.revisions, old.history, old.current.number if old.current else 0, vault=old.vault)
        self.engine, self.index_chunks = new, setup.index_chunks
        self.notes = list(setup.notes)

    # --- Kestra -------------------------------------------------------------------------------------------
    def deployable(self) -> Revision:
        """The current revision, if it may be deployed or test-run now."""
        if not self.workspace.settings.kestra_url:
            from .errors import ConfigError
            from .workspace import NO_KESTRA_HINT

            raise ConfigError("No Kestra server is configured.", hint=NO_KESTRA_HINT)
        current = self.require_current()
        if not current.valid:
            raise CopilotError(f"Revision {current.number} has problems; it is not deployed. Ask to fix them.")
        self.check_not_busy()
        return current

    async def deploy(self, confirm: Confirm) -> DeployOutcome:
        """Deploy the current revision: the one review (Workspace.deploy), then `confirm(review, server)`."""
        revision = self.deployable()
        return await self.workspace.deploy(revision.yaml, label=f"revision {revision.number}", confirm=confirm)

    async def check_test_run(self) -> None:
        """What a test-run of the current revision would refuse before deploying (a namespace outside the
        allow-list, a KV key or a plugin the server lacks), said now: before a form for its inputs."""
        self.deployable()
        await self.workspace.check_test_run(self.engine)

    async def test_run(
        self,
        *,
        consent: Consent,
        inputs: Mapping[str, str] | None = None,
        keep: bool = False,
        max_repairs: int = 2,
        on_event: Callable[[object], None] | None = None,
    ) -> TestRunResult:
        """Deploy the current revision as a test copy (after consent), run it, repair it from its logs; each
        repair is recorded as a turn of the session, its model calls counted; the last failure is kept for
        `repair_request`. One at a time: the flow cannot change meanwhile (Busy)."""
        from .engine.consent import Approvals
        from .engine.testrun import RunFinished, recording_repairs
        from .kestra.models import GOOD_STATES

        self.deployable()
        self.test_running = True
        self.turn_usage = []
        self.approvals = self.approvals or Approvals()
        generation = self.generation

        def open_turn(request: str) -> Callable[[TurnEvent], None] | None:
            return self._recorder(request, shown=TEST_RUN_REPAIR)

        record = recording_repairs(open_turn)

        def emit(event: object) -> None:
            if generation != self.generation:  # another flow was taken up: this run's clean-up is not its
                return
            if isinstance(event, RunFinished):  # the last failed run (even if a later step errs)
                self.last_failure = None if event.execution.state in GOOD_STATES else event
            self._count(event)
            # The front end hears an event before the session records it: what it notes of a failed run
            # (note) comes before the repair turn the event opens.
            if on_event is not None:
                on_event(event)
            record(event)

        try:
            return await self.workspace.test_run(
                self.engine,
                consent=consent,
                approvals=self.approvals,
                inputs=inputs,
                keep=keep,
                max_repairs=max_repairs,
                on_event=emit,
            )
        finally:
            self.test_running = False


def _file_name_part(value: object, fallback: str) -> str:
    """A namespace or id as one safe path component: letters, digits, `_`, `-` and single dots inside."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(value)) if value is not None else ""
    text = re.sub(r"\.{2,}", ".", text).strip("._-")
    return text[:120] or fallback


def default_save_path(data: object, root: Path | None = None) -> Path:
    """`flows/<namespace>/<id>.yml` under `root` (the working directory), from parts a model may have
    written: sanitised, and checked to resolve inside `flows/` (a linked folder cannot lead out either)."""
    folder = (root or Path.cwd()) / FLOWS_FOLDER
    fields = data if isinstance(data, dict) else {}
    namespace, flow_id = _file_name_part(fields.get("namespace"), "default"), _file_name_part(fields.get("id"), "flow")
    path = folder / namespace / f"{flow_id}.yml"
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"{path} leads out of {folder}")
    return path


def _recorded_sources(text: str | None) -> tuple[Hit, ...]:
    """A turn's sources as the session recorded them (without their text), for a front end to list again."""
    import json

    from .retrieval.chunks import KINDS, Chunk
    from .retrieval.hybrid import Hit

    try:
        records = json.loads(text or "[]")
    except ValueError:
        return ()
    hits = []
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict) or record.get("kind") not in KINDS:
            continue
        score = record.get("score")
        chunk = Chunk(
            "",
            str(record["kind"]),
            str(record.get("source") or ""),
            str(record.get("title") or ""),
            str(record.get("location") or ""),
        )
        hits.append(Hit(chunk, float(score) if isinstance(score, int | float) else float("nan")))
    return tuple(hits)
