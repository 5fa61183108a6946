"""The assistant turn: retrieve → prompt → stream → extract the YAML → validate → repair ≤ N → revision.

    engine = Engine(GeminiModel(api_key=…), recipe=load_recipe(), retrieve=lambda q, r: search(index, q, k=r.k))
    result = await engine.turn("load the taxi CSV into Postgres", on_event=print)
    result.revision.yaml, result.revision.diagnostics, result.revision.diff

A reply without a flow is an answer, not a failed flow: the prompt tells the model to answer a question
in prose and to write the whole flow when asked for one or for a change, so "Why a MERGE?" gets
`result.answer`, no repair and no revision (the current flow stays as it is). `turn(…, question=True)`
(the chat's `/ask`, `ask --question`) asks a question outright: its reply is an answer even if it quotes
a flow. Only a repair, having asked for the fixed flow, treats a reply without one as a failure.

Front ends (TUI, `ask`, evals) render the events; none re-implements a step. A model error ends the
turn with `result.error` set: the conversation and every earlier revision are kept.

Credentials never reach the model: the engine's `vault` (one per conversation, in memory only) redacts the
request, the current flow, the retrieved sources, the history and the repair findings, and restores the
user's own values in the flow the model writes before it is validated and becomes a revision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ..errors import CopilotError
from ..flows import (
    Diagnostic,
    FlowDiff,
    FlowSchema,
    SecretVault,
    Severity,
    diff_flows,
    extract_flow_yaml,
    passes,
    same_flow,
    validate_flow,
)
from ..llm.base import (
    STREAMED_USAGE,
    ChatModel,
    Finish,
    GenerationSettings,
    ModelError,
    ModelStreamCut,
    TextDelta,
    Usage,
)
from ..retrieval.hybrid import DenseUnavailable, Hit, fit_budget
from .plugin_facts import PluginFacts, plugin_facts
from .prompt import Exchange, Prompt, build_prompt, repair_prompt
from .recipes import Recipe

__all__ = [
    "Attempt",
    "Engine",
    "ErrorEvent",
    "Notice",
    "Revision",
    "Sources",
    "TurnEnded",
    "TurnEvent",
    "TurnResult",
    "Validated",
]

Retrieve = Callable[[str, Recipe], Sequence[Hit]]
REPAIR_UNCHANGED = "The repair gave back the same flow, so the model was not asked again."
MAX_REPLY_CHARS = 256 * 1024  # a flow and its explanation fit many times over; past it the model is looping


@dataclass(frozen=True)
class Revision:
    number: int  # 1-based within the session
    yaml: str
    diagnostics: tuple[Diagnostic, ...]
    diff: FlowDiff | None  # against the revision it was made from
    recipe: str
    prompt_hash: str
    previous: int | None = None  # the revision it was made from (None: the first, or made from nothing)

    @property
    def valid(self) -> bool:
        """No `error` and no `policy` finding: the assistant repairs a literal credential as it repairs what
        Kestra refuses, and does not deploy or test-run a revision with either."""
        return passes(self.diagnostics)


# --- events, in the order a turn emits them --------------------------------------------------------------
@dataclass(frozen=True)
class Sources:
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class Attempt:
    number: int  # 1 = first answer, 2.. = repairs
    prompt_hash: str
    parts: dict[str, str] = field(default_factory=dict, compare=False)  # prompt part → its hash
    recipe: str = ""


@dataclass(frozen=True)
class Validated:
    attempt: int
    diagnostics: tuple[Diagnostic, ...]
    valid: bool


@dataclass(frozen=True)
class Notice:
    """Something the user should know that does not stop the turn (retrieval degraded or unavailable)."""

    message: str
    hint: str | None = None


@dataclass(frozen=True)
class ErrorEvent:
    error: ModelError


@dataclass(frozen=True)
class TurnEnded:
    """Always the last event of a turn that was not cancelled."""

    valid: bool
    seconds: float


TurnEvent = Notice | Sources | Attempt | TextDelta | Usage | Validated | Revision | ErrorEvent | TurnEnded


@dataclass
class TurnResult:
    request: str
    recipe: str
    revision: Revision | None = None  # the revision the turn made
    reply: str = ""  # the last model reply, explanation included
    answer: str | None = None  # the reply, when it answered without a flow: no revision, the flow as it was
    kept: Revision | None = None  # after an answer or an unchanged flow, the current revision it left as it was
    attempts: int = 0
    sources: tuple[Hit, ...] = ()
    usage: list[Usage] = field(default_factory=list)
    prompt_hashes: list[str] = field(default_factory=list)
    error: ModelError | None = None
    seconds: float = 0.0
    redacted: int = 0  # credentials replaced before anything was sent to the model
    unchanged: bool = False  # the model gave back the current flow as it was: no revision, `kept` is current

    @property
    def valid(self) -> bool:
        """The turn's flow passes: the revision it made, or the one it kept (an answer, the same flow)."""
        flow = self.kept if self.answer is not None or self.unchanged else self.revision
        return flow is not None and flow.valid


def _no_yaml() -> tuple[Diagnostic, ...]:
    return (
        Diagnostic(
            Severity.ERROR,
            "no-flow",
            "The reply holds no flow YAML.",
            hint="Reply with the whole flow in one ```yaml block.",
        ),
    )


def format_diagnostics(diagnostics: Sequence[Diagnostic]) -> str:
    return "\n".join(d.format() for d in diagnostics if d.severity is not Severity.INFO)


class Engine:
    def __init__(
        self,
        model: ChatModel | None,
        *,
        recipe: Recipe,
        retrieve: Retrieve | None = None,
        kestra_version: int = 1,
        schema: FlowSchema | None = None,
        no_model: ModelError | None = None,
    ) -> None:
        self.model = model
        self.no_model = no_model  # why `model` is None (no API key …), as the front end was told
        self.recipe = recipe
        self.retrieve = retrieve
        self.kestra_version = kestra_version
        self.schema = schema
        # Every revision, in the order they were made: never removed, never renumbered. A revision made after
        # an undo is the next number, made from the current one (`previous`); the undone ones stay reachable.
        self.revisions: list[Revision] = []
        self._current = 0  # the current revision's number; 0: none
        self.history: list[Exchange] = []  # the conversation so far, redacted: (request, reply) per turn
        self.vault = SecretVault()  # the conversation's credentials and their placeholders, in memory only

    def load(
        self,
        revisions: Sequence[Revision],
        history: Sequence[Exchange],
        current: int | None = None,
        vault: SecretVault | None = None,
    ) -> None:
        """Take up a conversation where it was (a resumed session, another model): its revisions, with
        revision `current` current (default: the last), its exchanges, and the vault that redacted them if
        it is still in memory (another model: pass the old engine's). Without it, a new vault; placeholders
        already in the revisions and history (a stored session's) keep their numbers to themselves."""
        self.revisions, self.history = list(revisions), list(history)
        self._current = len(self.revisions) if current is None else current
        self.vault = vault if vault is not None else SecretVault()
        for text in (*(r.yaml for r in self.revisions), *(t for exchange in self.history for t in exchange)):
            self.vault.reserve(text)

    def reset(self) -> None:
        """A new flow: no revisions, no conversation, no credentials remembered."""
        self.load([], [])

    @property
    def current(self) -> Revision | None:
        return self.revisions[self._current - 1] if self._current else None

    def undo(self) -> Revision | None:
        """Back to the revision the current one was made from (None: before the first)."""
        current = self.current
        if current is not None:
            self._current = current.previous or 0
        return self.current

    def redo(self) -> Revision | None:
        """Forward to the newest revision made from the current one (the current one: there is none)."""
        made = [r.number for r in self.revisions if (r.previous or 0) == self._current]
        if made:
            self._current = made[-1]
        return self.current

    def goto(self, number: int) -> Revision:
        """Make revision `number` current."""
        if not 1 <= number <= len(self.revisions):
            raise IndexError(f"There is no revision {number} (1–{len(self.revisions)}).")
        self._current = number
        return self.revisions[number - 1]

    def start_from(self, flow_yaml: str, source: str = "(file)") -> Revision:
        """A flow written elsewhere (`ask --flow FILE`, a file loaded, a hand edit) becomes the next revision,
        validated as it is; `source` stands where a turn's revision names its recipe."""
        result = validate_flow(flow_yaml, self.schema, kestra_version=self.kestra_version)
        return self._add(flow_yaml, tuple(result.diagnostics), source, "")

    def _add(self, yaml: str, diagnostics: tuple[Diagnostic, ...], recipe: str, prompt_hash: str) -> Revision:
        """The next revision, made from the current one (after an undo too: nothing is dropped)."""
        made_from = self.current
        diff = diff_flows(made_from.yaml, yaml) if made_from else None
        number, previous = len(self.revisions) + 1, made_from.number if made_from else None
        revision = Revision(number, yaml, diagnostics, diff, recipe, prompt_hash, previous)
        self.revisions.append(revision)
        self._current = number
        return revision

    async def turn(
        self,
        text: str,
        on_event: Callable[[TurnEvent], None] | None = None,
        *,
        question: bool = False,
        keep_unchanged: bool = False,
    ) -> TurnResult:
        """One assistant turn (see the module docstring); `question`: the reply is an answer, never a flow.
        Without a model (no API key), the result carries the error; revisions stay as they are. A flow the
        same as the current one (same_flow) is not recorded again (unless `keep_unchanged`): `result.unchanged`
        says so, `result.kept` is the current revision (a test-run's repair that found the cause outside the
        flow stops there)."""
        emit = on_event or (lambda event: None)
        if self.model is None:
            error = self.no_model or ModelError("No model is configured.", hint="Give the Engine a chat model.")
            emit(ErrorEvent(error))
            return TurnResult(request=text, recipe=self.recipe.name, error=error)
        started = time.perf_counter()
        recipe = self.recipe
        result = TurnResult(request=text, recipe=recipe.name)
        current = self.current
        # Credentials never reach the model (nor an embedding API): not from the request, not from the flow.
        request, redacted_request = self.vault.redact(text)
        flow, redacted_flow = self.vault.redact(current.yaml) if current else (None, 0)
        result.redacted = redacted_request + redacted_flow
        hits = await self._retrieve(request, recipe, emit)
        result.sources = tuple(hits)
        emit(Sources(result.sources))
        shown = self._redacted(hits)
        # The types of the flow first, then those the request and the sources name (as the model sees them).
        facts = self._plugin_facts(
            [flow or "", request, *(f"{' '.join(hit.chunk.plugin_types)}\n{hit.chunk.text}" for hit in shown)]
        )
        given = set(facts.types)
        prompt: Prompt = build_prompt(
            recipe,
            request,
            hits=shown,
            current_flow=flow,
            revision=current.number if current else 0,
            kestra_version=self.kestra_version,
            history=self.history,
            question=question,
            plugins=facts.text,
        )
        settings = GenerationSettings(temperature=recipe.temperature)
        candidate: tuple[str, tuple[Diagnostic, ...], str] | None = None  # yaml, diagnostics, its prompt hash
        tried: str | None = None  # the last attempt's flow: a repair that gives it back ends the repairs
        for attempt in range(1, recipe.repair_attempts + 2):
            result.attempts = attempt
            result.prompt_hashes.append(prompt.hash)
            emit(Attempt(attempt, prompt.hash, dict(prompt.parts), prompt.recipe))
            try:
                reply = await self._complete(prompt, settings, result, emit)
            except ModelError as error:
                result.error = error
                if isinstance(error, ModelStreamCut):
                    result.reply = error.partial
                emit(ErrorEvent(error))
                break
            result.reply = reply
            flow_yaml = None if question else extract_flow_yaml(reply)
            if flow_yaml is None and attempt == 1:  # an answer: nothing to validate, repair or record as a flow
                result.answer, result.kept = reply, current
                break
            if flow_yaml is not None:  # the user's own values back, before validation: lines and checks are real
                flow_yaml = self.vault.restore(flow_yaml)
            if flow_yaml is None:
                diagnostics = _no_yaml()
            else:
                validation = validate_flow(flow_yaml, self.schema, kestra_version=self.kestra_version)
                diagnostics = tuple(validation.diagnostics)
                candidate = (flow_yaml, diagnostics, prompt.hash)
            valid = passes(diagnostics)
            emit(Validated(attempt, diagnostics, valid))
            if valid or attempt > recipe.repair_attempts:
                break
            if flow_yaml is not None and tried is not None and same_flow(tried, flow_yaml):
                emit(Notice(REPAIR_UNCHANGED, "Say what to change, or fix the flow yourself."))
                break  # asking again for the same flow would cost a call and bring the same flow
            tried = flow_yaml
            diagnostics_text = format_diagnostics(diagnostics) if recipe.include_diagnostics else "The flow is invalid."
            # Findings on the restored flow may quote a restored value: they go back through the vault.
            findings = self.vault.redact(diagnostics_text)[0]
            more = self._plugin_facts([extract_flow_yaml(reply) or "", findings], skip=given)  # types new to it
            given.update(more.types)
            prompt = repair_prompt(recipe, prompt, self.vault.redact(reply)[0], findings, plugins=more.text)
        if candidate is not None and not keep_unchanged and current is not None:
            result.unchanged = same_flow(current.yaml, candidate[0])
            result.kept = current if result.unchanged else None
        if candidate is not None and not result.unchanged:  # the best flow the turn produced becomes a revision
            flow_yaml, diagnostics, prompt_hash = candidate
            result.revision = self._add(flow_yaml, diagnostics, recipe.name, prompt_hash)
            emit(result.revision)
        if result.reply:
            self.history.append((request, self.vault.redact(result.reply)[0]))
        result.seconds = time.perf_counter() - started
        emit(TurnEnded(result.valid, result.seconds))
        return result

    def _plugin_facts(self, texts: Sequence[str], skip: set[str] | frozenset[str] = frozenset()) -> PluginFacts:
        """The facts of the plugin types `texts` name, from the engine's schema (the bundled one when it has
        none), unless the recipe leaves them out; a schema that cannot say leaves the part out, never the turn."""
        if not self.recipe.plugin_facts:
            return PluginFacts("", ())
        try:
            return plugin_facts(self.schema, texts, kestra_version=self.kestra_version, skip=skip)
        except CopilotError:
            return PluginFacts("", ())

    def _redacted(self, hits: Sequence[Hit]) -> list[Hit]:
        """The sources as the model sees them: indexed pages are untrusted text and may hold credentials."""
        return [replace(hit, chunk=replace(hit.chunk, text=self.vault.redact(hit.chunk.text)[0])) for hit in hits]

    async def _retrieve(self, request: str, recipe: Recipe, emit: Callable[[TurnEvent], None]) -> list[Hit]:
        """The recipe's sources for `request`, searched in a thread (embedding a query is CPU or network
        time the event loop must not wait on). A failing search degrades the turn, never ends it."""
        if not self.retrieve or not recipe.k:
            return []
        try:
            found = await asyncio.to_thread(self.retrieve, request, recipe)
        except DenseUnavailable as exc:
            emit(Notice(str(exc), exc.hint))
            found = exc.hits
        except CopilotError as exc:
            emit(Notice(f"Retrieval failed ({exc}); answering without sources.", exc.hint))
            found = []
        return fit_budget(found, recipe.budget_tokens)

    async def _complete(
        self, prompt: Prompt, settings: GenerationSettings, result: TurnResult, emit: Callable[[TurnEvent], None]
    ) -> str:
        pieces: list[str] = []
        size = 0
        assert self.model is not None
        stream = self.model.stream(prompt.messages, system=prompt.system, settings=settings)
        STREAMED_USAGE.set(None)
        counted = False  # the call's usage arrived (at its end)
        try:
            async for event in stream:
                if isinstance(event, TextDelta):
                    room = MAX_REPLY_CHARS - size
                    if len(event.text) > room:  # the stream is stopped; what fits is kept, as after a cut
                        if room:
                            pieces.append(event.text[:room])
                            emit(TextDelta(event.text[:room]))
                        raise ModelStreamCut(
                            f"The reply was over {MAX_REPLY_CHARS // 1024} KB and was cut; "
                            "the part that arrived is kept.",
                            partial="".join(pieces),
                            hint="Ask for a smaller change, or split the flow into subflows.",
                        )
                    pieces.append(event.text)
                    size += len(event.text)
                    emit(event)
                elif isinstance(event, Usage):
                    counted = True
                    result.usage.append(event)
                    emit(event)
                elif isinstance(event, Finish):
                    pass
        except BaseException:  # stopped (Esc, Ctrl+C) or cut: what the model reported so far was still spent
            streamed = STREAMED_USAGE.get()
            if not counted and streamed is not None:
                result.usage.append(streamed)
                emit(streamed)
            raise
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()  # a stopped stream closes its connection now, not when collected
        return "".join(pieces)
