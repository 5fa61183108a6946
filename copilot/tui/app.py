"""`kestra-copilot chat`: the Textual app over the engine.

Left, the conversation (replies stream in as Markdown, appended, never re-rendered) and the input (history
on up/down, slash commands). Right, tabs: the current flow with each diagnostic at its line, the topology,
the diff against the previous revision (or the server), the sources of any turn, the test-run. A status
bar says which model, recipe, tokens, index and Kestra server are in use — or what is missing.

The engine (and with it google-genai, Chroma, onnxruntime) is built in a worker after the first frame, so
the app is interactive at once. Turns and sessions are in conversation.py, deploy and test-run in deploy.py,
copy, save and load in files.py, the actions' keys (and what the user's [keys] moved or refused) in keys.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.lazy import Lazy
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from ..config import Settings, load_settings
from ..errors import CopilotError
from ..urls import display_url
from .conversation import Conversation
from .deploy import KestraActions
from .files import FlowFiles
from .keys import ACTIONS, label, plan_keys
from .screens import Picker, SourceViewer
from .status import StatusPart, compact_count
from .widgets import ChatMessage, FlowPane, PromptInput, SourcesPane, StatusBar, TopologyTree

__all__ = ["ACTIONS", "CopilotApp"]

HELP = """**Commands** — `/deploy`, `/run [--keep] [KEY=VALUE …]`, `/repair`, `/undo`, `/redo`, `/revisions`,
`/revision N`, `/diff N|server`, `/new`, `/save [PATH]`, `/load [PATH]`, `/copy [N]`, `/blocks`, `/sessions`,
`/resume [ID]`, `/model [NAME]`, `/recipe [NAME]`, `/sources [N]`, `/case [SUITE]`, `/help`.
Keys: Enter sends, {stop} stops a reply (what arrived is kept), {keys}; Ctrl+P opens the command palette.
Pasting several lines keeps them all (shown as a `[pasted text]` marker)."""


class CopilotApp(Conversation, KestraActions, FlowFiles, App[None]):
    TITLE = "kestra-copilot"
    CSS = """
    #main { height: 1fr; }
    #chat-column { width: 1fr; }
    #chat { height: 1fr; padding: 0 1; }
    ChatMessage { margin: 0 0 1 0; }
    ChatMessage.user { background: $boost; padding: 0 1; }
    ChatMessage.system { color: $text-muted; }
    ChatMessage.error { color: $error; }
    #prompt { dock: bottom; }
    #side { width: 1fr; }
    #diff, #sources, #run { padding: 0 1; }
    #flow { height: 1fr; padding: 0 1; }
    .flow-code.marked.error, .flow-code.marked.policy { background: $error 12%; }
    .flow-code.marked.warning { background: $warning 12%; }
    .flow-note.error, .flow-note.policy { color: $text-error; }
    .flow-note.warning { color: $text-warning; }
    #problems { height: auto; padding: 0 1; background: $panel; text-wrap: nowrap; text-overflow: ellipsis; }
    #problem-list { height: auto; max-height: 8; border: none; text-wrap: nowrap; text-overflow: ellipsis; }
    #source-turn { margin: 0 1; }
    #status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, action, title, show=shown, id=binding_id)
        for binding_id, (key, action, title, shown) in ACTIONS.items()
    ]

    def __init__(self, settings: Settings | None = None, *, recipe: str = "default") -> None:
        super().__init__()
        self.settings = settings or load_settings()
        self.keys = plan_keys(self.settings.keys)  # every action's key, and what [keys] moved or could not do
        self.recipe_name = recipe
        self.engine: Any = None
        self.notes: list[str] = []
        self.index_chunks = 0
        self.usage: list[tuple[str, Any]] = []  # every model call of the session (model, usage), for the cost
        self.turn_usage: list[tuple[str, Any]] = []  # the calls of the last turn
        url = display_url(self.settings.kestra_url or "")
        self.server_status: tuple[str, ...] = (
            (f"Kestra at {url}: checking…", "Kestra: checking…")
            if url
            else ("no Kestra server (set KESTRA_URL)", "no Kestra server", "no Kestra")
        )
        self.store: Any = None  # the session store, opened with the engine
        self.session: str | None = None
        self._turn: Any = None  # the running turn's worker
        self.replies: list[str] = []  # the assistant's replies, for their code blocks
        self.last_failure: Any = None  # the last failed test-run, for /repair
        self.approvals: Any = None  # what the user said yes to for test-runs (engine.consent.Approvals)
        self.test_running = False  # a test-run is going on: one at a time, and no turn meanwhile
        self.run_generation = 0  # bumped when another flow is taken up (deploy.py's run log checks it)

    # --- layout -------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="chat-column"):
                yield VerticalScroll(id="chat")
                yield PromptInput(placeholder="Describe a flow, or a change to it — /help", id="prompt")
            with TabbedContent(id="side"):
                with TabPane("Flow", id="tab-flow"):
                    yield FlowPane(id="flow-pane")
                # The hidden tabs are mounted just after the first frame (Lazy): the screen takes keys sooner.
                with TabPane("Topology", id="tab-topology"):
                    yield Lazy(TopologyTree("No flow yet.", id="topology"))
                with TabPane("Diff", id="tab-diff"):
                    yield Lazy(VerticalScroll(Static("No changes yet.", id="diff")))
                with TabPane("Sources", id="tab-sources"):
                    yield Lazy(SourcesPane(id="sources-pane"))
                with TabPane("Run", id="tab-run"):
                    yield Lazy(VerticalScroll(Static("Nothing run yet: /deploy, /run.", id="run")))
        yield StatusBar("starting…", id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self.set_keymap(self.keys.keymap)
        self.query_one(PromptInput).focus()
        if self.settings.kestra_url:
            self.check_server()
        self.refresh_status()
        await self.say("Describe the flow you need — or type `/help`.", "system")
        for note in self.keys.notes:  # at once, not after the engine: the keys work from the first frame
            await self.say(f"Keys: {note}", "system")
        self.load_engine()

    @work(exclusive=True, group="engine", thread=True)
    def load_engine(self) -> None:
        """Heavy imports (google-genai, Chroma, onnxruntime) off the UI thread, after the first frame."""
        from ..engine.factory import build_engine

        setup = build_engine(self.settings, recipe=self.recipe_name)
        self.call_from_thread(self._engine_ready, setup)

    async def _engine_ready(self, setup: Any) -> None:
        import sqlite3

        from ..errors import CopilotError
        from ..workspace import Workspace

        self.engine, self.index_chunks = setup.engine, setup.index_chunks
        self.notes = [*self.notes, *setup.notes]
        try:  # opened here, on the UI thread that uses it (sqlite connections stay on their thread)
            self.store = Workspace(self.settings).sessions()
        except CopilotError as exc:  # the data dir is a file, the store is locked or read-only…
            self.notes.append(f"Sessions are not recorded: {exc} {exc.hint or ''}".strip())
        except (sqlite3.Error, OSError) as exc:
            self.notes.append(f"Sessions are not recorded: {exc}.")
        else:
            self.notes += self.store.notes  # e.g. a damaged store moved aside
        self.refresh_status()
        for note in self.notes:
            await self.say(note, "system")

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()

    # --- status bar ---------------------------------------------------------------------------------
    def refresh_status(self) -> None:
        """Each part with its shorter forms; the bar picks what fits its width (status.fit)."""
        parts = []
        if self.engine is None:
            parts.append(StatusPart("model", ("loading…",)))
        else:
            model = self.engine.model
            parts.append(StatusPart("model", (model.name,) if model else ("no model (set GEMINI_API_KEY)", "no model")))
            parts.append(StatusPart("recipe", (f"recipe {self.engine.recipe.name}", self.engine.recipe.name)))
        if self.turn_usage:
            tokens, cost = self._spent(self.turn_usage)
            short = compact_count(tokens)
            forms = (f"turn {tokens:,} tokens{cost}", f"turn {short}{cost}", f"turn {short}", "")
            parts.append(StatusPart("turn", forms))
        tokens, cost = self._spent(self.usage)
        short = compact_count(tokens)
        forms = (f"session {tokens:,} tokens{cost}", f"session {short}{cost}", f"Σ {short}{cost}")
        parts.append(StatusPart("session", forms))
        chunks = self.index_chunks
        if self.engine is not None and not self.engine.recipe.k:
            forms = ("no retrieval (recipe)", "no retrieval")
        elif chunks:
            forms = (f"index {chunks:,} chunks", f"index {compact_count(chunks)}", f"idx {compact_count(chunks)}")
        else:
            forms = ("no index",)
        parts.append(StatusPart("index", forms))
        parts.append(StatusPart("kestra", self.server_status))
        self.query_one(StatusBar).show(parts)

    def _spent(self, usage: list[tuple[str, Any]]) -> tuple[int, str]:
        """Tokens, and ` $0.0012` — each call priced by the model that made it (empty if one has no price)."""
        from ..llm.prices import estimate_cost

        tokens = sum(call.total for _, call in usage)
        costs = [estimate_cost(model, [call], self.settings.prices) for model, call in usage]
        if not usage or None in costs:
            return tokens, ""
        return tokens, f" ${sum(c or 0.0 for c in costs):.4f}"

    @work(exclusive=True, group="server")
    async def check_server(self) -> None:
        """The Kestra server's version, or why it cannot be reached, for the status bar."""
        from ..workspace import Workspace

        url = display_url(self.settings.kestra_url or "")
        try:
            async with Workspace(self.settings).kestra() as client:
                info = await client.server_info()
            self.server_status = (f"Kestra {info.version} at {client.url}", f"Kestra {info.version}")
        except CopilotError as exc:  # a KestraError, or a ConfigError (an SSL_CERT_FILE that is missing …)
            self.server_status = (f"Kestra unreachable ({url})", "Kestra unreachable")
            await self.say(f"**Kestra server: {exc}** {exc.hint or ''} Deploy and test-run will not work.", "error")
        self.refresh_status()

    async def say(self, text: str, kind: str) -> ChatMessage:
        message = ChatMessage(text, classes=kind)
        chat = self.query_one("#chat", VerticalScroll)
        await chat.mount(message)
        chat.scroll_end(animate=False)
        return message

    # --- input --------------------------------------------------------------------------------------
    def key_label(self, action_id: str) -> str:
        """The action's key as the chat names it (`Ctrl+T`); without one, where the palette lists it."""
        key = self.keys.keys[action_id]
        return label(key) if key else f"Ctrl+P “{ACTIONS[action_id][2]}”"

    def help_text(self) -> str:
        keys = ", ".join(
            f"{label(self.keys.keys[i])} {title.lower()}" if self.keys.keys[i] else f"{title.lower()} (no key: Ctrl+P)"
            for i, (_, _, title, _) in ACTIONS.items()
            if i != "cancel"  # said first, with what it keeps
        )
        stop = self.keys.keys["cancel"]
        return HELP.format(stop=label(stop).replace("Escape", "Esc") if stop else "Ctrl+P → Stop reply", keys=keys)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette (Ctrl+P): every action, with its key (Esc's stop only if [keys] took Esc away)."""
        yield from super().get_system_commands(screen)
        for action_id, (_, action, title, _) in ACTIONS.items():
            if action_id != "cancel" or not self.keys.keys[action_id]:
                yield SystemCommand(title, label(self.keys.keys[action_id]), lambda a=action: self.run_action(a))

    @on(Input.Submitted, "#prompt")
    async def submitted(self, event: Input.Submitted) -> None:
        prompt = self.query_one(PromptInput)
        prompt.remember(event.value.strip())
        text = prompt.expand(event.value)
        prompt.value = ""
        if not text:
            return
        if text.startswith("/"):
            await self.command(text)
            return
        if self.streaming:
            await self.say("A reply is still streaming: wait for it, or press Esc to stop it.", "system")
            return
        if self.test_running:  # its repairs change the flow: a turn meanwhile would race them
            await self.say(f"{self._test_run_going()} Your request is kept in the input history (↑).", "system")
            return
        await self.say(text, "user")
        if self.engine is None:
            await self.say("Still loading the engine; try again in a moment.", "system")
            return
        self.start_turn(text)

    async def command(self, text: str) -> None:
        name, _, argument = text[1:].partition(" ")
        argument = argument.strip()
        actions: dict[str, Callable[[], Any]] = {
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
            import difflib

            near = difflib.get_close_matches(name, list(actions), n=1)
            meant = f" Did you mean `/{near[0]}`?" if near else ""
            await self.say(f"Unknown command `/{name}`.{meant} `/help` lists the commands and keys.", "error")
            return
        result = actions[name]()
        if asyncio.iscoroutine(result):
            await result

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    async def action_help(self) -> None:
        await self.say(self.help_text(), "system")

    # --- pickers for the actions that take an argument ----------------------------------------------
    async def action_model(self) -> None:
        from ..llm.prices import PRICES

        current = self.engine.model.name if self.engine is not None and self.engine.model else ""
        names = sorted({*PRICES, *self.settings.prices, *([self.settings.model] if self.settings.model else [])})
        options = [Option(Text.assemble(("▶ " if name == current else "  ", "bold"), name), id=name) for name in names]
        chosen = next((i for i, name in enumerate(names) if name == current), 0)
        title = "Model for the next turns (any other: /model NAME)"
        self.push_screen(Picker(title, options, chosen), self._picked_model)

    async def _picked_model(self, name: str | None) -> None:
        if name:
            self.switch(model=name)

    async def action_recipe(self) -> None:
        from ..engine.recipes import RecipeError, list_recipes, load_recipe

        current = self.engine.recipe.name if self.engine is not None else self.recipe_name
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
        from ..engine.factory import build_engine
        from ..engine.recipes import RecipeError

        if self.engine is None:
            self.call_from_thread(self.say, "Still loading the engine; try again in a moment.", "system")
            return
        name = recipe or self.engine.recipe.name
        chosen_model = model or (self.engine.model.name if self.engine.model else None)
        try:
            setup = build_engine(self.settings, recipe=name, model=chosen_model)
        except RecipeError as exc:
            self.call_from_thread(self.say, f"{exc} {exc.hint or ''}", "error")
            return
        old, new = self.engine, setup.engine
        # Undone revisions stay redoable; the vault stays, so the history's placeholders keep their values.
        new.load(old.revisions, old.history, old.current.number if old.current else 0, vault=old.vault)
        self.call_from_thread(self._switched, setup)

    async def _switched(self, setup: Any) -> None:
        self.engine, self.index_chunks = setup.engine, setup.index_chunks  # another recipe, maybe another index
        self.refresh_status()
        model = setup.engine.model.name if setup.engine.model else "no model"
        await self.say(f"Now using {model} with recipe {setup.engine.recipe.name}.", "system")
        for note in setup.notes:
            await self.say(note, "system")

    # --- panes --------------------------------------------------------------------------------------
    def show_revision(self, revision: Any) -> None:
        """Every pane on `revision`; None (before the first revision, a new flow) empties them."""
        if revision is None:
            self.query_one(FlowPane).clear()
            self.query_one(TopologyTree).clear().root.set_label("No flow yet.")
            self.query_one("#diff", Static).update("No changes yet.")
            return
        self.query_one(FlowPane).show(revision)
        self.query_one(TopologyTree).show(revision.yaml)
        if revision.diff is not None and revision.diff.changed:
            self.query_one("#diff", Static).update(Syntax(revision.diff.unified, "diff"))
        else:
            self.query_one("#diff", Static).update("No changes against the previous revision.")

    async def show_sources(self, argument: str = "") -> None:
        """The Sources tab; `/sources N` shows turn N's."""
        pane = self.query_one(SourcesPane)
        if argument and not (argument.isdigit() and pane.select_turn(int(argument))):
            last = len(pane.turns)
            await self.say(f"Usage: `/sources N` with N a turn from 1 to {last}." if last else "No turn yet.", "error")
            return
        self.action_show_tab("tab-sources")

    @on(SourcesPane.Open)
    def open_source(self, event: SourcesPane.Open) -> None:
        self.push_screen(SourceViewer(event.label, event.chunk))
