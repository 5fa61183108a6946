"""`kestra-copilot chat`: the Textual app over the application layer (copilot.workspace).

Left, the conversation (chat.py: replies stream in as Markdown, appended, never re-rendered) and the input
(history on up/down, slash commands). Right, tabs: the current flow with each diagnostic at its line, the
topology, the diff against the previous revision (or the server), the sources of any turn, the test-run
(runlog.py). A status bar says which model, recipe, tokens, index and Kestra server are in use — or what is
missing. The dialogs are in screens.py, the styles in app.tcss, the actions' keys in keys.py.

The app holds one Workspace and, once the engine is built (in a thread after the first frame, so the app is
interactive at once), its Conversation: every action is a call on it, rendered here.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from ..config import Settings, load_settings
from ..conversation import (
    BUSY,
    TEST_RUN_REPAIR,
    Busy,
    Conversation,
    FileDiffers,
    ModelCall,
    NoFlow,
    Saved,
    SessionNote,
    which_revisions,
)
from ..errors import CopilotError
from ..terminal import printable
from ..urls import display_url
from ..wording import counted
from ..workspace import EngineSetup, Workspace
from .chat import ChatLog, literal
from .inputs import typed_inputs, wire
from .keys import ACTIONS, QUIT, label, plan_keys
from .panes import SidePanel
from .screens import (
    ConfirmDeploy,
    FilePrompt,
    Picker,
    RunInputs,
    SessionsScreen,
    SourceViewer,
    code_block_options,
    revision_options,
    yaml_files,
)
from .status import StatusPart, catalog_forms, compact_count
from .turnview import TurnView, revision_verdict
from .widgets import PromptInput, SourcesPane, StatusBar

if TYPE_CHECKING:
    from ..catalog_in_force import CatalogInForce
    from ..events import ConsentRequest, DeployReview, Revision, RunFinished, TurnEvent
    from ..flows import YamlMap

__all__ = ["ACTIONS", "CopilotApp"]

# Each action's slash command(s), for the help: one line per action, with its key.
COMMANDS = {
    "cancel": "",
    "undo": "`/undo`",
    "redo": "`/redo`",
    "revisions": "`/revisions`, `/revision N`",
    "save": "`/save [PATH]`",
    "load": "`/load [PATH]`",
    "new": "`/new`",
    "copy": "`/copy`",
    "blocks": "`/blocks`, `/copy N`",
    "sessions": "`/sessions`",
    "resume": "`/resume [ID]`",
    "edit": "`/edit`",
    "diff": "`/diff server`, `/diff N` (a revision)",
    "deploy": "`/deploy`",
    "run": "`/run [--keep] [KEY=VALUE …]`",
    "repair": "`/repair`",
    "model": "`/model [NAME]`",
    "recipe": "`/recipe [NAME]`",
    "sources": "`/sources [N]`",
    "capture": "`/case [SUITE]`",
    "help": "`/help`",
}
HELP = """**Keys and commands** — Enter sends; ↑/↓ recall earlier inputs; pasting several lines keeps them all
(a `[pasted text]` marker). Ask for a flow or a change and the model writes the flow; ask a question and it
answers, the flow as it was (`/ask QUESTION` always answers, never changes the flow).

{actions}
- Ctrl+P the command palette: every action, by name
- {quit} quit"""
LOADING = "Still loading the engine: try again in a moment (↑ recalls what you typed)."
LOADING_WHAT = "the model, the index and the plugin catalog"  # what Workspace.engine builds, in its thread
QUEUED = f"Sent once the engine is loaded ({LOADING_WHAT}); Esc takes it back."
LOADING_NOTICE_SECONDS = 1.0  # a start slower than this says what it waits for
STREAMING = "A reply is still streaming: wait for it, or press Esc to stop it."
ASK_USAGE = "Usage: `/ask QUESTION` — the answer leaves the flow as it is."
STOPPED = "*Stopped. The reply so far is kept above (a flow in it is set aside: `/blocks`); the flow is unchanged.*"


class CopilotApp(App[None]):
    TITLE = "kestra-copilot"
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, action, footer or title, show=bool(footer), tooltip=title, id=binding_id)
            for binding_id, (key, action, title, footer) in ACTIONS.items()
        ),
        Binding(QUIT, "quit", "Quit", priority=True),  # Textual's own key, shown in the footer
    ]

    def __init__(self, settings: Settings | None = None, *, recipe: str = "default") -> None:
        super().__init__()
        self.workspace = Workspace(settings or load_settings())
        self.keys = plan_keys(self.workspace.settings.keys)  # every action's key, what [keys] moved or refused
        self.recipe_name = recipe
        self.conversation: Conversation | None = None  # once the engine is built
        url = display_url(self.workspace.settings.kestra_url or "")
        self.server_status: tuple[str, ...] = (
            (f"Kestra at {url}: checking…", "Kestra: checking…")
            if url
            else ("no Kestra server (set KESTRA_URL)", "no Kestra server", "no Kestra")
        )
        self._turn: Worker[None] | None = None  # the running turn
        self._queued: list[tuple[str, bool]] = []  # requests sent while the engine loads: (text, question)
        self.catalog: CatalogInForce | None = None  # the plugin catalog in force, once the engine is built
        self._run_asked = False  # a test-run's inputs form is open: a second F5 waits for it
        self._last_inputs: dict[tuple[str, str], dict[str, str]] = {}  # (namespace, id) → what its form last ran

    # --- layout -------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="chat-column"):
                yield ChatLog(id="chat")
                yield PromptInput(placeholder="Describe a flow, or a change to it — /help", id="prompt")
            yield SidePanel(id="side")
        yield StatusBar("starting…", id="status")
        yield Footer(compact=True)

    @property
    def chat(self) -> ChatLog:
        return self.query_one("#chat", ChatLog)

    @property
    def side(self) -> SidePanel:
        return self.query_one(SidePanel)

    async def say(self, text: str, kind: str) -> None:
        await self.chat.say(text, kind)

    async def tell(self, text: str, kind: str = "system", *, kept: str | None = None) -> None:
        """Say something that happened to the flow (a test-run's verdict, a deploy, a file loaded), and record
        it in the session — or `kept` in its place (without a follow-up that holds only now): a resumed session
        shows it where it was said."""
        await self.say(text, kind)
        if self.conversation is not None:
            self.conversation.note(kept if kept is not None else text, kind)

    async def say_error(self, error: CopilotError, prefix: str = "", *, record: bool = False) -> None:
        """The error's first line in bold, the lines after it (a list of what is missing) below, then the hint;
        `record`: in the session too (tell)."""
        first, _, rest = str(error).partition("\n")
        below = f"\n\n{rest}\n\n" if rest else " "
        text = f"{prefix}**{first}**{below}{error.hint or ''}".rstrip()
        await (self.tell(text, "error") if record else self.say(text, "error"))

    async def on_mount(self) -> None:
        self.set_keymap(self.keys.keymap)
        self.query_one(PromptInput).focus()
        if self.workspace.settings.kestra_url:
            self.check_server()
        self.refresh_status()
        self.call_after_refresh(self._greet)  # the first frame takes keys without waiting for Markdown

    async def _greet(self) -> None:
        """The first messages, then the engine: its thread's imports would slow the first frame down."""
        await self.say("Describe the flow you need — or type `/help`.", "system")
        for note in self.keys.notes:  # at once, not after the engine: the keys work from the first frame
            await self.say(f"Keys: {note}", "system")
        self.set_timer(LOADING_NOTICE_SECONDS, self._still_loading)
        self.load_engine()

    async def _still_loading(self) -> None:
        """A slow start says what it waits for: the Workspace cannot say which part it is at, but it can say
        which of them may come over the network (a Kestra server's schema, Kestra's live schema)."""
        if self.conversation is not None or not self.is_running:
            return
        settings = self.workspace.settings
        fetched = [f"the Kestra server's schema ({display_url(settings.kestra_url)})"] if settings.kestra_url else []
        if settings.live_schema:
            fetched.append(f"Kestra's live schema ({display_url(settings.live_schema_url)})")
        network = f", which may be fetched: {' or '.join(fetched)}" if fetched else ""
        await self.say(
            f"Still loading {LOADING_WHAT}{network}… A request sent meanwhile is sent once it is loaded.", "system"
        )

    @dataclass
    class EngineBuilt(Message):
        """The engine is built (in a thread): for the conversation (`switched` None) or another model or recipe."""

        setup: EngineSetup
        switched: Conversation | None = None
        catalog: CatalogInForce | None = None  # the plugin catalog in force, counted in the engine's thread

    @dataclass
    class Said(Message):
        """A message for the chat, from a thread."""

        text: str
        kind: str

    @on(Said)
    async def _said(self, message: Said) -> None:
        await self.say(message.text, message.kind)

    @work(exclusive=True, group="engine", thread=True)
    def load_engine(self) -> None:
        """Heavy imports (google-genai, Chroma, onnxruntime) off the UI thread, after the first frame. The engine's
        schema is the catalog in force (Workspace.flow_schema: a failure falls back quietly, its note in the chat)."""
        from ..catalog_in_force import catalog_in_force

        setup = self.workspace.engine(recipe=self.recipe_name)
        schema = setup.engine.schema
        self.post_message(self.EngineBuilt(setup, catalog=catalog_in_force(schema) if schema is not None else None))

    @on(EngineBuilt)
    async def _engine_built(self, message: EngineBuilt) -> None:
        if not self.is_running:  # quit while the engine's thread was still building it: no screen left to show it
            return
        if message.switched is not None:
            await self._switched(message.switched, message.setup)
            return
        # Opened here, on the UI thread that uses it (sqlite connections stay on their thread).
        self.conversation = self.workspace.open(message.setup)
        self.catalog = message.catalog
        self.refresh_status()
        for note in self.conversation.notes:
            await self.say(note, "system")
        if self._queued:
            self.send_queued()

    @work(exclusive=True, group="queued")
    async def send_queued(self) -> None:
        """The requests sent while the engine loaded, in order, each once the one before it is answered; a
        reply stopped (Esc) takes back the ones still waiting."""
        while self._queued:
            text, question = self._queued.pop(0)
            self.start_turn(text, question=question)
            turn = self._turn
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                if turn is not None:
                    await turn.wait()
            if turn is not None and turn.state == WorkerState.CANCELLED and self._queued:
                await self._take_back()

    def on_unmount(self) -> None:
        if self.conversation is not None:
            self.conversation.close()

    # --- status bar ---------------------------------------------------------------------------------
    def refresh_status(self) -> None:
        """Each part with its shorter forms; the bar picks what fits its width (status.fit)."""
        conversation = self.conversation
        parts = []
        if conversation is None:
            parts.append(StatusPart("model", (f"loading {LOADING_WHAT}…", "loading…")))
        else:
            model = conversation.model_name
            parts.append(StatusPart("model", (model,) if model else ("no model (set GEMINI_API_KEY)", "no model")))
            recipe = conversation.recipe_name
            dropped = ("",) if recipe == "default" else ()  # only the default recipe goes when space is short
            parts.append(StatusPart("recipe", (f"recipe {recipe}", recipe, *dropped)))
            if conversation.turn_usage:
                tokens, cost = self._spent(conversation, conversation.turn_usage)
                short = compact_count(tokens)
                parts.append(
                    StatusPart("turn", (f"turn {tokens:,} tokens{cost}", f"turn {short}{cost}", f"turn {short}", ""))
                )
        tokens, cost = self._spent(conversation, conversation.usage) if conversation else (0, "")
        short = compact_count(tokens)
        parts.append(
            StatusPart("session", (f"session {tokens:,} tokens{cost}", f"session {short}{cost}", f"Σ {short}{cost}"))
        )
        chunks = conversation.index_chunks if conversation else 0
        if conversation is not None and not conversation.retrieval:
            forms: tuple[str, ...] = ("no retrieval (recipe)", "no retrieval")
        elif chunks:
            forms = (f"index {chunks:,} chunks", f"index {compact_count(chunks)}", f"idx {compact_count(chunks)}")
        else:
            forms = ("no index",)
        parts.append(StatusPart("index", forms))
        if self.catalog is not None:
            # The bundled catalog where Kestra's live schema was wanted: a fallback (the chat has said why).
            fallback = self.catalog.kind == "bundled" and self.workspace.settings.live_schema
            parts.append(StatusPart("catalog", catalog_forms(self.catalog, fallback=fallback)))
        parts.append(StatusPart("kestra", self.server_status))
        if conversation is not None:
            parts.append(StatusPart("flow", self._flow_forms(conversation)))
        self.query_one(StatusBar).show(parts)

    @staticmethod
    def _flow_forms(conversation: Conversation) -> tuple[str, ...]:
        """Which flow this is: its session (where its revisions are recorded) and the revision shown."""
        current, total = conversation.current, len(conversation.revisions)
        if current is None:
            return ("new flow", "") if not total else (f"before revision 1 of {total}", f"rev 0/{total}", "")
        session = f"session {conversation.session} · " if conversation.session else ""
        at = f"{current.number}/{total}"
        return (f"{session}revision {current.number} of {total}", f"revision {at}", f"rev {at}", "")

    @staticmethod
    def _spent(conversation: Conversation, calls: list[ModelCall]) -> tuple[int, str]:
        """Tokens, and ` $0.0012` (empty when a call's model has no price)."""
        spent = conversation.spent(calls)
        return spent.tokens, "" if spent.cost is None else f" ${spent.cost:.4f}"

    @work(exclusive=True, group="server")
    async def check_server(self) -> None:
        """The Kestra server's version, or why it cannot be reached, for the status bar."""
        url = display_url(self.workspace.settings.kestra_url or "")
        try:
            info = await self.workspace.server_info()
            self.server_status = (f"Kestra {info.version} at {url}", f"Kestra {info.version}")
        except CopilotError as exc:  # a KestraError, or a ConfigError (an SSL_CERT_FILE that is missing …)
            from ..events import KestraAuthError

            if isinstance(exc, KestraAuthError):  # it answers: the credentials are what to fix
                self.server_status = (f"Kestra refused the credentials ({url})", "Kestra: credentials refused")
            else:
                self.server_status = (f"Kestra unreachable ({url})", "Kestra unreachable")
            await self.say(f"**Kestra server: {exc}** {exc.hint or ''} Deploy and test-run will not work.", "error")
        self.refresh_status()

    # --- input --------------------------------------------------------------------------------------
    def key_label(self, action_id: str) -> str:
        """The action's key as the chat names it (`Ctrl+T`); without one, where the palette lists it."""
        key = self.keys.keys[action_id]
        return label(key) if key else f"Ctrl+P “{ACTIONS[action_id][2]}”"

    def help_text(self) -> str:
        """Every action once: its key (or where to find it without one), what it does, its slash command."""
        lines = []
        for action_id, (_, _, title, _) in ACTIONS.items():
            key = self.keys.keys[action_id]
            what = "stop a reply (what arrived is kept)" if action_id == "cancel" else title.lower()
            command = f" · {COMMANDS[action_id]}" if COMMANDS[action_id] else ""
            shown = label(key).replace("Escape", "Esc")
            lines.append(f"- {shown} {what}{command}" if key else f"- {what} (no key: Ctrl+P){command}")
        return HELP.format(actions="\n".join(lines), quit=label(QUIT))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette (Ctrl+P): every action, with its key (Esc's stop only if [keys] took Esc away)."""
        yield from super().get_system_commands(screen)
        for action_id, (_, action, title, _) in ACTIONS.items():
            if action_id != "cancel" or not self.keys.keys[action_id]:
                yield SystemCommand(title, label(self.keys.keys[action_id]), lambda a=action: self.run_action(a))

    def on_key(self, event: events.Key) -> None:
        """A character typed while the focus is elsewhere on the main screen (the flow, a tab, a list, the
        chat) is not lost: it goes to the input, which takes the focus back. A key the focused widget binds
        (Space in the topology) stays its own; the dialogs keep their keys."""
        prompts = self.screen.query(PromptInput)
        if not (event.is_printable and event.character) or not prompts or event.key in self.screen.active_bindings:
            return
        prompt = prompts.first()
        if not prompt.has_focus:
            event.stop()
            self.set_focus(prompt)  # at once, not later (as focus() does): an Enter right behind goes to it too
            prompt.insert_text_at_cursor(event.character)

    @on(Input.Submitted, "#prompt")
    async def submitted(self, event: Input.Submitted) -> None:
        prompt = self.query_one(PromptInput)
        prompt.remember(event.value.strip())
        text = prompt.expand_pastes(event.value)
        prompt.value = ""
        if not text:
            return
        if text.startswith("/"):
            await self.command(text)
            return
        await self.send_turn(text)

    async def send_turn(self, text: str, *, question: bool = False) -> None:
        """A request to the model (`question`: a question, answered without a flow: `/ask`), once nothing else
        is changing the flow."""
        if self.streaming:
            await self.say(STREAMING, "system")
            return
        if self.conversation is not None and self.conversation.test_running:  # its repairs change the flow
            await self.say(f"{BUSY} Your request is kept in the input history (↑).", "system")
            return
        await self.say(text, "user")
        if self.conversation is None or self._queued:  # the engine is loading: sent once it is built
            self._queued.append((text, question))
            after = "" if len(self._queued) == 1 else " It goes after the one before it."
            await self.say(
                f"{QUEUED}{after}" if self.conversation is None else "Sent after the one before it.", "system"
            )
            return
        self.start_turn(text, question=question)

    async def _take_back(self) -> None:
        """The requests still waiting (for the engine, or behind a reply stopped) are not sent: the input history
        keeps them (↑)."""
        taken, self._queued = self._queued, []
        await self.say(f"Not sent: {counted(len(taken), 'request')} still waiting; ↑ recalls them.", "system")

    async def command(self, text: str) -> None:
        name, _, argument = text[1:].partition(" ")
        argument = argument.strip()
        actions: dict[str, Callable[[], object]] = {
            "ask": lambda: self.send_turn(argument, question=True) if argument else self.say(ASK_USAGE, "error"),
            "undo": self.action_undo,
            "redo": self.action_redo,
            "new": self.action_new,
            "save": lambda: self.action_save(argument or None),
            "load": lambda: self.load_flow(argument) if argument else self.action_load(),
            "help": self.action_help,
            "copy": lambda: self.action_copy(argument),
            "blocks": self.action_blocks,
            "repair": self.action_repair,
            "revisions": self.action_revisions,
            "revision": lambda: self.goto_revision(argument),
            "diff": lambda: self.diff_against(argument),
            "edit": self.action_edit,
            "deploy": self.deploy_flow,
            "run": lambda: self.run_flow(argument),
            "model": lambda: self.switch(model=argument) if argument else self.action_model(),
            "recipe": lambda: self.switch(recipe=argument) if argument else self.action_recipe(),
            "sessions": self.action_sessions,
            "resume": lambda: self.resume_session(argument) if argument else self.action_resume(),
            "sources": lambda: self.show_sources(argument),
            "case": lambda: self.action_capture(argument or None),
        }
        if name not in actions:
            near = difflib.get_close_matches(name, list(actions), n=1)
            meant = f" Did you mean `/{near[0]}`?" if near else ""
            await self.say(f"Unknown command `/{name}`.{meant} `/help` lists the commands and keys.", "error")
            return
        result = actions[name]()
        if asyncio.iscoroutine(result):
            await result

    def action_show_tab(self, tab: str) -> None:
        self.side.active = tab

    async def action_help(self) -> None:
        """The help, at the end of the chat; when it is there already, it is scrolled into view, not repeated."""
        from .message import ChatMessage

        text = self.help_text()
        said = self.chat.query(ChatMessage)
        if said and said.last().source == printable(text):
            self.chat.scroll_to_widget(said.last(), top=True, animate=False)
            return
        await self.say(text, "system")

    async def _conversation_or_say(self) -> Conversation | None:
        """The conversation, or None after saying it is still loading."""
        if self.conversation is None:
            await self.say(LOADING, "system")
        return self.conversation

    async def _attempt(
        self, action: Callable[[Conversation], Awaitable[None] | None], *, changes_flow: bool = False
    ) -> None:
        """Run an action on the conversation; its CopilotError (Busy, no flow, a bad argument, Kestra's) is
        said, with its hint. An action that `changes_flow` waits for a reply streaming: the reply was written
        against the current flow, and its revision must follow it."""
        conversation = await self._conversation_or_say()
        if conversation is None:
            return
        if changes_flow and self.streaming:
            await self.say(STREAMING, "system")
            return
        try:
            result = action(conversation)
            if result is not None:
                await result
        except (_Calm, Busy) as exc:
            await self.say(str(exc), "system")
        except CopilotError as exc:
            await self.say(exc.explained, "error")

    # --- a turn -------------------------------------------------------------------------------------
    def start_turn(self, text: str, shown: str | None = None, *, question: bool = False) -> None:
        self._turn = self.run_turn(text, shown if shown is not None else text, question)

    @property
    def streaming(self) -> bool:
        return self._turn is not None and self._turn.is_running

    @work(exclusive=True, group="turn")
    async def run_turn(self, text: str, shown: str, question: bool = False) -> None:
        """The conversation's turn in a task; its events rendered as they come (turnview.py), after a progress
        line until the first token. A reply without a flow is an answer: shown as the reply, and the flow stays
        as it is."""
        from ..events import Sources, TextDelta

        conversation = self.conversation
        if conversation is None:
            return
        queue: asyncio.Queue[TurnEvent] = asyncio.Queue()
        said = shown if shown != text else None  # a repair request: the user saw `shown`, not the prompt
        turn = conversation.turn(text, on_event=queue.put_nowait, shown=said, question=question)
        task = asyncio.create_task(turn)
        chat = self.chat
        waiting = f"Waiting for {conversation.model_name or 'the model'}…"
        view = TurnView(chat, self.say, question=question, waiting=waiting)
        await chat.progress("Retrieving sources…" if conversation.retrieval else waiting)
        try:
            while not (task.done() and queue.empty()):
                try:
                    event = await asyncio.wait_for(queue.get(), 0.1)
                except TimeoutError:
                    continue
                if isinstance(event, Sources):
                    found = f"{len(event.hits)} source{'' if len(event.hits) == 1 else 's'} · " if event.hits else ""
                    await chat.progress(f"{found}{waiting}")
                self.turn_event(event, shown)
                await view.show(event)
            result = await task
            if result.unchanged and result.kept is not None:  # the same flow: not recorded again
                self.show_revision(result.kept)
                await self.tell(f"The flow came back unchanged: revision {result.kept.number} is current.")
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task  # recorded as interrupted (Conversation.turn)
            # What had arrived is shown, as the store has recorded it: the deltas still queued too; and what it
            # cost so far is counted (the usage the stream reported before it stopped).
            while not queue.empty():
                if isinstance(event := queue.get_nowait(), TextDelta):
                    await chat.append(event.text)
            self.refresh_status()
            await self.say(STOPPED, "system")
            raise
        finally:
            await chat.end_reply()
            await chat.clear_progress()

    def turn_event(self, event: object, request: str) -> None:
        """Events that update the panes and the status bar (chat turns and test-run repairs)."""
        from ..events import Revision, Sources, Usage, Validated

        if isinstance(event, Sources):
            self.side.sources.add_turn(request, event.hits)
        elif isinstance(event, Revision):
            self.show_revision(event)
        elif isinstance(event, Validated):
            verdict = "valid" if event.valid else "invalid, repairing…"
            self.side.note(f"Attempt {event.attempt}: {verdict}")
        elif isinstance(event, Usage):
            self.refresh_status()

    async def action_cancel(self) -> None:
        if self._turn is not None and self.streaming:
            self._turn.cancel()
        elif self._queued:  # Esc before the engine is built: the requests waiting for it are taken back
            await self._take_back()
        elif self.conversation is not None and self.conversation.test_running:  # Esc must not go unanswered
            await self.say(f"Esc stops a reply; this is a test-run and its repairs. {BUSY}", "system")

    async def stop_reply(self) -> None:
        """Stop a reply that is streaming and wait until it is recorded as interrupted: another flow taken up
        must not receive its revision, nor its session a revision made from another flow's."""
        if self._turn is not None and self.streaming:
            self._turn.cancel()
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await self._turn.wait()

    # --- panes --------------------------------------------------------------------------------------
    def show_revision(self, revision: Revision | None) -> None:
        self.side.show_revision(revision)
        self.refresh_status()  # which revision of which session

    async def show_sources(self, argument: str = "") -> None:
        """The Sources tab; `/sources N` shows turn N's."""
        pane = self.side.sources
        if argument and not (argument.isdigit() and pane.select_turn(int(argument))):
            last = len(pane.turns)
            await self.say(f"Usage: `/sources N` with N a turn from 1 to {last}." if last else "No turn yet.", "error")
            return
        self.action_show_tab("tab-sources")

    @on(SourcesPane.Open)
    def open_source(self, event: SourcesPane.Open) -> None:
        self.push_screen(SourceViewer(event.label, event.chunk))

    # --- model and recipe ---------------------------------------------------------------------------
    async def action_model(self) -> None:
        current = self.conversation.model_name if self.conversation else ""
        names = self.workspace.known_models()
        options = [Option(Text.assemble(("▶ " if name == current else "  ", "bold"), name), id=name) for name in names]
        chosen = next((i for i, name in enumerate(names) if name == current), 0)
        title = "Model for the next turns (any other: /model NAME)"
        self.push_screen(Picker(title, options, chosen), self._picked_model)

    async def _picked_model(self, name: str | None) -> None:
        if name:
            self.switch(model=name)

    async def action_recipe(self) -> None:
        from ..engine.recipes import RecipeError, list_recipes, load_recipe

        current = self.conversation.recipe_name if self.conversation else self.recipe_name
        options = []
        for name in list_recipes():
            try:
                about = load_recipe(name).description
            except RecipeError as exc:
                about = f"(broken: {exc})"
            mark = "▶ " if name == current else "  "
            options.append(Option(Text.assemble((mark, "bold"), (name, "bold"), "  ", (about, "dim")), id=name))
        chosen = next((i for i, o in enumerate(options) if o.id == current), 0)
        self.push_screen(Picker("Recipe for the next turns", options, chosen), self._picked_recipe)

    async def _picked_recipe(self, name: str | None) -> None:
        if name:
            self.switch(recipe=name)

    @work(exclusive=True, group="engine", thread=True)
    def switch(self, model: str | None = None, recipe: str | None = None) -> None:
        """Another model or recipe for the next turns; the revisions and the conversation stay."""
        conversation = self.conversation
        if conversation is None:
            self.post_message(self.Said(LOADING, "system"))
            return
        try:
            setup = self.workspace.engine(
                recipe=recipe or conversation.recipe_name, model=model or conversation.model_name
            )
        except CopilotError as exc:  # an unknown or broken recipe
            self.post_message(self.Said(exc.explained, "error"))
            return
        self.post_message(self.EngineBuilt(setup, switched=conversation))

    async def _switched(self, conversation: Conversation, setup: EngineSetup) -> None:
        conversation.switched(setup)
        self.refresh_status()
        await self.say(
            f"Now using {conversation.model_name or 'no model'} with recipe {conversation.recipe_name}.", "system"
        )
        for note in setup.notes:
            await self.say(note, "system")

    # --- revisions ----------------------------------------------------------------------------------
    async def action_undo(self) -> None:
        await self._attempt(lambda c: self._moved(c, c.undo, "undo"), changes_flow=True)

    async def action_redo(self) -> None:
        await self._attempt(lambda c: self._moved(c, c.redo, "redo"), changes_flow=True)

    async def _moved(self, conversation: Conversation, move: Callable[[], Revision | None], what: str) -> None:
        """Undo or redo, said as it went: a step to a revision, back before the first, or nowhere to go."""
        before = conversation.current
        revision = move()
        if revision is before:  # at the newest revision (redo), or already before the first (undo)
            await self.say(f"Nothing to {what}.", "system")
            return
        self.show_revision(revision)
        if revision is None:
            back = "Back before the first revision"
            await self.tell(f"{back} ({self.key_label('redo')} brings it back).", kept=f"{back}.")
            return
        await self.tell(f"{what.capitalize()}: revision {revision.number} is current.")

    async def action_revisions(self) -> None:
        conversation = self.conversation
        if conversation is None or not conversation.revisions:
            await self.say("No revisions yet.", "system")
            return
        current = conversation.current.number if conversation.current else 0
        options = revision_options(conversation.revisions, current)
        self.push_screen(Picker("Revisions", options, highlighted=max(0, current - 1)), self._picked_revision)

    async def _picked_revision(self, number: str | None) -> None:
        if number:
            await self.goto_revision(number)

    async def goto_revision(self, argument: str) -> None:
        async def goto(conversation: Conversation) -> None:
            if not argument.strip().isdigit():
                raise CopilotError(f"Usage: `/revision N` — {which_revisions(len(conversation.revisions))}.")
            revision = conversation.goto(int(argument))
            self.show_revision(revision)
            await self.tell(f"Revision {revision.number} is current.")

        await self._attempt(goto, changes_flow=True)

    async def action_edit(self) -> None:
        """The current revision in the user's editor; what comes back is validated and recorded as the next
        revision, so a hand fix and the model's share one history."""
        from textual.app import SuspendNotSupported

        from .editor import edit_text

        @contextlib.contextmanager
        def suspended() -> Iterator[None]:
            try:
                with self.suspend():
                    yield
            except SuspendNotSupported:  # no terminal to hand over (a headless app): the editor needs none
                yield

        async def edit(conversation: Conversation) -> None:
            current = conversation.require_current("There is no flow to edit yet.")
            conversation.check_not_busy()
            edited = edit_text(current.yaml, "flow.yml", suspended)
            self.refresh()
            if edited is None:
                await self.say(f"No change: revision {current.number} is current.", "system")
                return
            revision = conversation.start_from(edited, "(by hand)")
            self.show_revision(revision)
            verdict = revision_verdict(revision)
            await self.tell(f"Your edit of revision {current.number} is revision {revision.number} ({verdict}).")

        await self._attempt(edit, changes_flow=True)

    # --- sessions -----------------------------------------------------------------------------------
    async def action_new(self) -> None:
        await self._forget_runs()  # first: a test-run going on must not repair the new flow
        if self.conversation is not None:
            self.conversation.new()  # the last session keeps its revisions, resumable
        self.show_revision(None)
        self.refresh_status()
        await self.say("New flow: the next request starts from scratch, in a new session.", "system")

    async def _forget_runs(self) -> None:
        """Another flow (a new one, a resumed session): a reply streaming is stopped, then a test-run going on
        (its execution killed, its test copy removed); the Run tab and the status bar start afresh."""
        await self.stop_reply()
        if self.conversation is not None and self.conversation.abandon_test_run():
            for worker in self.workers:
                if worker.group == "kestra":
                    worker.cancel()
            await self.tell("The test-run was stopped: its execution is killed, its test copy removed.")
        self.side.forget_runs()

    async def action_sessions(self) -> None:
        if self.conversation is None or self.conversation.store is None:
            await self.say("Sessions are not available yet (the engine is loading, or the store failed).", "error")
            return
        self.push_screen(SessionsScreen(self.conversation.store), self._picked_session)

    async def _picked_session(self, chosen: str | None) -> None:
        if self.conversation is not None and self.conversation.forget_deleted_session():
            await self.say("This flow's session was deleted: its next revision starts a new session.", "system")
        if chosen:
            await self.resume_session(chosen)

    async def action_resume(self) -> None:
        """Resume the most recent session other than this one."""
        if self.conversation is None or self.conversation.store is None:
            await self.say("Sessions are not available yet.", "error")
            return
        latest = self.conversation.latest_other_session()
        if latest is None:
            await self.say("No earlier session to resume.", "system")
            return
        await self.resume_session(latest)

    async def resume_session(self, session_id: str) -> None:
        conversation = self.conversation
        if conversation is None or conversation.store is None:
            await self.say("Sessions are not available yet.", "error")
            return
        if not session_id or not conversation.store.has_session(session_id):
            await self.say(
                f"No session `{session_id}` — `/sessions` lists them."
                if session_id
                else "Usage: `/resume ID` — `/sessions` lists them.",
                "error",
            )
            return
        await self._forget_runs()  # first: a test-run going on must not repair the resumed flow
        resumed = conversation.resume(session_id)
        chat = self.chat
        await chat.clear()
        self.side.sources.reset()
        repairs = 0  # a test-run's repairs so far
        for entry in resumed:  # as the chat showed it live: requests, attempts, revisions, the notes among them
            if isinstance(entry, SessionNote):
                await self.say(entry.text, entry.kind)
                continue
            await chat.say(entry.request, "system" if entry.by_test_run else "user")
            repairs = repairs + 1 if entry.by_test_run else 0
            folded = test_run_repair(repairs) if entry.by_test_run else None
            made_from = entry.revisions[0].previous if entry.revisions else None  # the revision that ran
            start = ran(conversation.revisions[made_from - 1]) if entry.by_test_run and made_from else None
            view = TurnView(chat, self.say, question=entry.question, folded=folded, start=start)
            for event in entry.events():
                await view.show(event)
            await view.end()
            if entry.sources:  # as the Sources tab listed them live (their text is in the index)
                self.side.sources.add_turn(entry.request, entry.sources)
            if entry.status == "interrupted":
                await self.say(STOPPED, "system")
        self.show_revision(conversation.current)
        self.refresh_status()
        self.side.active = "tab-flow"
        at = f" at revision {conversation.current.number}." if conversation.current else "."
        await self.say(f"Resumed session `{session_id}`{at}", "system")

    # --- Kestra: diff, deploy, test-run, repair ------------------------------------------------------
    def action_deploy(self) -> None:
        self.deploy_flow()

    def action_run(self) -> None:
        self.run_flow("")

    def action_diff_server(self) -> None:
        self.diff_against("server")

    @work(group="kestra")
    async def diff_against(self, argument: str) -> None:
        """`/diff N` against revision N; `/diff server` against the flow deployed on Kestra."""

        async def compare(conversation: Conversation) -> None:
            if argument == "server" and not self.workspace.settings.kestra_url:
                raise CopilotError("No Kestra server: set KESTRA_URL.")
            if argument != "server" and not argument.strip().isdigit():
                raise CopilotError("Usage: `/diff N` (a revision) or `/diff server`.")
            comparison = await conversation.compare(None if argument == "server" else int(argument))
            if comparison.diff is None:
                await self.say("The server has no such flow yet: it would be new.", "system")
                return
            diff, where = comparison.diff, comparison.label
            self.side.show_diff(diff, where)
            if argument == "server":
                changes = counted(len(diff.summary.changes), "change") if diff.changed else "no differences"
                await self.say(f"Against {where}: {changes} (Diff tab).", "system")

        await self._attempt(compare)

    @work(group="kestra")
    async def deploy_flow(self) -> None:
        """Deploy the current revision (the one review: the allow-list and the server's verdict first), after
        a confirmation showing the diff against what the server has."""
        conversation = await self._conversation_or_say()
        if conversation is None:
            return
        try:
            revision = conversation.deployable()
        except CopilotError as exc:  # no server, no flow, a flow with problems, a test-run going on
            await self.say(str(exc), "error")
            return
        try:
            outcome = await conversation.deploy(lambda review, server: self._confirm_deploy(review, server, revision))
        except CopilotError as exc:
            await self.say_error(exc)
            return
        where = outcome.where
        if outcome.refused:
            found = "\n".join(f"- {literal(d.format('flow'))}" for d in outcome.review.problems)  # as Kestra said it
            await self.tell(f"**Kestra refuses this flow; nothing was deployed.**\n\n{found}", "error")
        elif outcome.review.up_to_date:
            await self.say(f"{where} is already up to date on the server.", "system")
        elif outcome.deployed is None:
            await self.say("Not deployed.", "system")
        else:
            await self.tell(
                f"Deployed revision {revision.number} as {where}, server revision "
                f"{outcome.deployed.revision}: {outcome.link}"
            )

    async def _confirm_deploy(self, review: DeployReview, server: str, revision: Revision) -> bool:
        confirmed: bool = await self.push_screen_wait(ConfirmDeploy.for_deploy(review, server, revision.yaml))
        return confirmed

    @work(group="kestra")
    async def run_flow(self, argument: str) -> None:
        """Test-run: deploy to the test namespace, run, follow, repair from failures (engine/testrun.py). One
        at a time; a new flow or a resumed session stops it (its execution is killed)."""
        from ..flows import parse_flow

        conversation = await self._conversation_or_say()
        if conversation is None:
            return
        if self._run_asked:
            await self.say(BUSY, "error")
            return
        try:
            revision = conversation.deployable()
        except CopilotError as exc:
            await self.say(str(exc), "error")
            return
        data = parse_flow(revision.yaml).data
        inputs = data.get("inputs") if isinstance(data, dict) else None
        specs = [spec for spec in inputs or [] if isinstance(spec, dict)] if isinstance(inputs, list) else []
        argument, kept = re.subn(r"(?:^|\s)--keep(?=\s|$)", " ", argument)  # `/run --keep …`: keep the test copy
        if specs and not argument.strip():  # a form to fill: what the server lacks is said first
            try:
                await conversation.check_test_run()
            except CopilotError as exc:
                await self.say_error(exc, record=True)
                return
        self._run_asked = True
        try:
            flow = (str(data.get("namespace")), str(data.get("id"))) if isinstance(data, dict) else ("", "")
            if flow not in self._last_inputs:  # what this flow last ran with, in an earlier session too
                self._last_inputs[flow] = self.workspace.last_inputs(*flow)
            last = self._last_inputs[flow]
            values = await self._run_inputs(specs, argument, last)
        finally:
            self._run_asked = False
        if values is None:
            return
        if specs and not argument.strip():  # the form ran: kept for the next time (not SECRET inputs)
            secret = {str(spec.get("id")) for spec in specs if spec.get("type") == "SECRET"}
            self.workspace.remember_inputs(*flow, last, secret)
        self.side.active = "tab-run"
        run_log = self.side.run_log
        run_log.start()
        repair = "Test-run repair"  # how the Sources tab names the repair turn
        narrated: asyncio.Queue[object] = asyncio.Queue()  # for the chat, in order
        last_run: RunFinished | None = None

        def show(event: object) -> None:
            nonlocal repair, last_run
            from ..events import RepairStarted, RunFinished

            if isinstance(event, RunFinished):
                last_run = event
                self.refresh_status()
            elif isinstance(event, RepairStarted):  # the run failed: the chat says so, then shows the repair
                repair = f"Test-run repair {event.number}"
                if last_run is not None:
                    failed = run_failed(last_run)
                    conversation.note(failed, "error")  # now, before the repair's turn is recorded
                    narrated.put_nowait((failed, "error"))
                narrated.put_nowait(_RepairOf(event.number, conversation.current))
            if not run_log.show(event):
                self.turn_event(event, repair)
                narrated.put_nowait(event)

        narrator = asyncio.create_task(self._narrate(narrated))
        try:
            result = await conversation.test_run(consent=self._consent, inputs=values, keep=bool(kept), on_event=show)
        except CopilotError as exc:  # Kestra's errors, a refused consent, a namespace outside the allow-list
            run_log.finish(f"stopped: {exc}")
            await self._narrated(narrated, narrator)
            await self.say_error(exc, record=True)
            return
        finally:
            if not narrator.done():
                await self._narrated(narrated, narrator)
        self.refresh_status()
        if result.refused is not None:  # the conversation is back on the revision that last ran
            self.show_revision(conversation.current)
            number = conversation.current.number if conversation.current else 0
            await self.tell(
                f"The repair (revision {result.refused_revision}) was not approved, so it was not run: revision "
                f"{number}, the last one run, is current again ({self.key_label('redo')} shows the repair)."
            )
        repairs = f" after {counted(len(result.repairs), 'repair')}" if result.repairs and result.advice is None else ""
        run_log.finish(
            f"verdict: {result.state}{repairs}" + (" — the cause is outside the flow" if result.advice else "")
        )
        ran = f" of revision {conversation.current.number}" if conversation.current else ""
        if result.advice is not None:  # the repair left the flow unchanged: what the user must do, not a re-run
            await self.tell(
                f"Test run{ran}: **{result.state}** — **the cause is outside the flow**: the repair changed nothing in "
                f"the flow, so it was not run again.\n\n{result.advice}",
                "error",
            )
            return
        verdict = f"Test run{ran}: **{result.state}**{repairs}."
        follow_up = "" if result.passed else f" {self.key_label('repair')} or `/repair` asks for a fix from its logs."
        await self.tell(verdict + follow_up, "system" if result.passed else "error", kept=verdict)

    async def _narrate(self, narrated: asyncio.Queue[object]) -> None:
        """A test-run in the chat: each failed run that is repaired, and the repair as a folded turn of its own
        (its flow to the Flow tab, the revision it made), as a resumed session shows them."""
        from ..events import TurnEvent

        view: TurnView | None = None
        while (item := await narrated.get()) is not None:
            if isinstance(item, tuple):
                await self.say(str(item[0]), str(item[1]))
            elif isinstance(item, _RepairOf):
                if view is not None:
                    await view.end()
                await self.say(TEST_RUN_REPAIR, "system")
                view = TurnView(self.chat, self.say, folded=test_run_repair(item.number), start=ran(item.ran))
            elif view is not None and isinstance(item, TurnEvent):
                await view.show(item)
        if view is not None:
            await view.end()

    @staticmethod
    async def _narrated(narrated: asyncio.Queue[object], narrator: asyncio.Task[None]) -> None:
        narrated.put_nowait(None)
        await narrator

    async def _run_inputs(self, specs: list[YamlMap], argument: str, last: dict[str, str]) -> dict[str, str] | None:
        """The test-run's inputs: typed from `/run KEY=VALUE …`, or from a form when the flow has inputs."""
        if argument.strip():
            try:
                return typed_inputs(specs, argument)
            except (CopilotError, ValueError) as exc:
                await self.say(f"{exc} Usage: `/run [--keep] KEY=VALUE …`, or `/run` for a form.", "error")
                return None
        if not specs:
            return {}
        chosen = await self.push_screen_wait(RunInputs(specs, last))
        if chosen is None:
            await self.say("Not run.", "system")
            return None
        return {name: wire(value) for name, value in chosen.items()}  # typed, in Kestra's text form

    async def _consent(self, request: ConsentRequest) -> bool:
        """A test-run's consent (engine/consent.py): the dialog with what the flow can do and the diff."""
        if self.workspace.settings.sandbox_test_runs:
            return True
        confirmed: bool = await self.push_screen_wait(ConfirmDeploy.for_test_run(request))
        return confirmed

    async def action_repair(self) -> None:
        """Repair from failure: the last failed test-run's error logs go to the model, as a chat turn."""

        async def repair(conversation: Conversation) -> None:
            conversation.check_not_busy()
            if self.streaming:
                raise _Calm(STREAMING)
            if conversation.last_failure is None:
                raise _Calm("No failed test-run to repair from: `/run` first.")
            request = conversation.repair_request()
            await self.say(request.shown, "user")
            self.start_turn(request.request, request.shown)

        await self._attempt(repair)

    # --- files and the clipboard ---------------------------------------------------------------------
    async def action_copy(self, block: str = "") -> None:
        """The current flow, or with a number the conversation's code block N (`/blocks` lists them)."""
        if block:
            blocks = self.chat.code_blocks()
            if not block.isdigit() or not 1 <= int(block) <= len(blocks):
                await self.say(f"Usage: `/copy N` with N from 1 to {len(blocks)} — `/blocks` lists them.", "error")
                return
            await self._copy(f"code block {block}", blocks[int(block) - 1][1], "select it in the chat")
            return
        current = self.conversation.current if self.conversation else None
        if current is None:
            await self.say("There is no flow to copy yet.", "error")
            return
        await self._copy(f"revision {current.number}", current.yaml, "`/save` writes it to a file")

    async def _copy(self, what: str, text: str, otherwise: str) -> None:
        """To the clipboard through the terminal (OSC 52: over SSH too): the app cannot see whether the
        terminal took it, so it says what it sent, and what to do if nothing pastes."""
        self.copy_to_clipboard(text)
        await self.say(
            f"Sent {what} to the terminal's clipboard (OSC 52). If nothing pastes, the terminal does not take "
            f"OSC 52: {otherwise} instead.",
            "system",
        )

    async def action_blocks(self) -> None:
        blocks = self.chat.code_blocks()
        if not blocks:
            await self.say("No code blocks in the conversation yet.", "system")
            return
        self.push_screen(Picker("Copy a code block", code_block_options(blocks)), self._picked_block)

    async def _picked_block(self, number: str | None) -> None:
        if number:
            await self.action_copy(number)

    async def action_save(self, path: str | None = None) -> None:
        """The current flow to PATH, or by default to `flows/<namespace>/<id>.yml` (default_save_path); a file
        there holding something else is overwritten only after a dialog showing the difference."""

        async def save(conversation: Conversation) -> None:
            try:
                saved = conversation.save(Path(path) if path else None)
            except FileDiffers as exc:
                revision, target = conversation.require_current(), exc.path
                dialog = ConfirmDeploy.for_overwrite(target, exc.held, revision)
                self.push_screen(dialog, lambda yes: self._overwrite(conversation, revision, target, bool(yes)))
                return
            except CopilotError as exc:
                raise CopilotError(_cannot_save(exc)) from exc
            await self._saved(saved)

        if self.conversation is None or self.conversation.current is None:
            await self.say("There is no flow to save yet.", "error")
            return
        await self._attempt(save)

    async def _overwrite(self, conversation: Conversation, revision: Revision, path: Path, yes: bool) -> None:
        if not yes:
            await self.say(f"Not saved: `{path}` is kept as it was.", "system")
        elif conversation.current is not revision:
            await self.say(f"The flow changed meanwhile, so `{path}` is kept: save again to see the change.", "system")
        else:
            try:
                await self._saved(conversation.save(path, overwrite=True))
            except CopilotError as exc:
                await self.say(_cannot_save(exc), "error")

    async def _saved(self, saved: Saved) -> None:
        number, where = saved.revision.number, saved.path
        done = (
            f"Saved revision {number} to `{where}`." if saved.written else f"`{where}` holds revision {number} already."
        )
        await self.tell(done)

    def action_load(self) -> None:
        """A prompt for the file, listing the YAML files under the working directory."""
        self.push_screen(FilePrompt("Load a flow", yaml_files(Path.cwd())), self._picked_file)

    async def _picked_file(self, path: str | None) -> None:
        if path:
            await self.load_flow(path)

    async def load_flow(self, path: str) -> None:
        async def load(conversation: Conversation) -> None:
            conversation.check_not_busy()
            try:
                revision = conversation.load(Path(path))
            except CopilotError as exc:
                raise CopilotError(f"Cannot load it: {exc}", hint=exc.hint) from exc
            self.show_revision(revision)
            verdict = revision_verdict(revision)
            loaded = f"Loaded `{path}` as revision {revision.number} ({verdict})."
            await self.tell(f"{loaded} Ask for changes.", kept=loaded)

        await self._attempt(load, changes_flow=True)

    async def action_capture(self, path: str | None = None) -> None:
        """The turn that made the current revision becomes a regression case (`eval capture`), its checks
        proposed from the flow, appended to `evals/captured.yaml` (or PATH) for review."""

        async def capture(conversation: Conversation) -> None:
            try:
                case_id, suite = conversation.capture(Path(path) if path else None)
            except NoFlow as exc:
                raise _Calm(str(exc)) from exc
            await self.say(
                f"Case `{case_id}` added to `{suite}`: review its checks, then `kestra-copilot eval run {suite}`.",
                "system",
            )

        await self._attempt(capture)


@dataclass(frozen=True)
class _RepairOf:
    """A test-run's repair begins, of the revision that ran."""

    number: int
    ran: Revision | None


def ran(revision: Revision | None) -> tuple[str, str] | None:
    """The flow a test-run's repair starts from, labelled for its diff."""
    return (f"revision {revision.number}", revision.yaml) if revision is not None else None


def test_run_repair(number: int) -> str:
    """The title of a test-run's repair, folded in the chat."""
    return f"Repair {number} from the test-run"


def run_failed(run: RunFinished) -> str:
    """A failed test-run, in a line: which revision, its state, the task it failed at."""
    where = f" at task `{run.failing_task}`" if run.failing_task else ""
    return f"Test run of revision {run.revision}: **{run.execution.state}**{where}."


def _cannot_save(error: CopilotError) -> str:
    return f"Cannot save: {error.explained}"


class _Calm(CopilotError):
    """An action that cannot happen now, said as a note rather than an error."""
