"""`kestra-copilot chat`: the Textual app over the engine.

Left, the conversation (replies stream in as Markdown, appended, never re-rendered) and the input (history
on up/down, slash commands). Right, tabs: the current flow with its problems at their lines, the diff
against the previous revision, the sources of the last turn. A status bar says which model, recipe,
tokens, index and Kestra server are in use — or what is missing and how to fix it.

The engine (and with it google-genai, Chroma, onnxruntime) is built in a worker after the first frame, so
the app is interactive at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Markdown, OptionList, Static, TabbedContent, TabPane, Tree
from textual.widgets.option_list import Option

from ..config import Settings, load_settings
from .screens import (
    ConfirmDeploy,
    Picker,
    RunInputs,
    SessionsScreen,
    SourceViewer,
    code_block_options,
    revision_options,
)
from .widgets import ChatMessage, PromptInput, code_blocks

__all__ = ["CopilotApp"]

HELP = """**Commands** — `/deploy`, `/run [KEY=VALUE …]`, `/repair`, `/undo`, `/redo`, `/revisions`,
`/revision N`, `/diff N|server`, `/new`, `/save [PATH]`, `/load PATH`, `/copy [N]`, `/blocks`, `/sessions`,
`/resume ID`, `/model NAME`, `/recipe NAME`, `/sources`, `/help`.
Keys: Enter sends, Esc stops a reply (what arrived is kept), {keys}; Ctrl+P opens the command palette.
Pasting several lines keeps them all (shown as a `[pasted text]` marker)."""

# Every action: binding id (the `[keys]` config name) → (default key, action, title, shown in the footer).
ACTIONS: dict[str, tuple[str, str, str, bool]] = {
    "cancel": ("escape", "cancel", "Stop reply", True),
    "undo": ("ctrl+z", "undo", "Undo", True),
    "redo": ("ctrl+y", "redo", "Redo", True),
    "save": ("ctrl+s", "save", "Save flow", True),
    "new": ("ctrl+n", "new", "New flow", False),
    "copy": ("ctrl+o", "copy", "Copy flow", True),
    "blocks": ("ctrl+b", "blocks", "Copy a code block", False),
    "sessions": ("ctrl+r", "sessions", "Sessions", True),
    "revisions": ("ctrl+g", "revisions", "Revisions", False),
    "deploy": ("f6", "deploy", "Deploy", True),
    "run": ("f5", "run", "Test-run", True),
    "repair": ("f7", "repair", "Repair from failure", False),
    "sources": ("f3", "show_tab('tab-sources')", "Sources", False),
    "help": ("f1", "help", "Help", False),
}


class CopilotApp(App[None]):
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
    #flow, #diff, #sources, #problems { padding: 0 1; }
    #status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, action, title, show=shown, id=binding_id)
        for binding_id, (key, action, title, shown) in ACTIONS.items()
    ]

    def __init__(self, settings: Settings | None = None, *, recipe: str = "default") -> None:
        super().__init__()
        self.settings = settings or load_settings()
        self.recipe_name = recipe
        self.engine: Any = None
        self.notes: list[str] = []
        self.index_chunks = 0
        self.usage: list[Any] = []  # every model call of the session, for the cost
        self.turn_usage: list[Any] = []  # the calls of the last turn
        self.server_status = "no Kestra server (set KESTRA_URL)"
        self.store: Any = None  # the session store, opened with the engine
        self.session: str | None = None
        self._turn: Any = None  # the running turn's worker
        self._reply: ChatMessage | None = None
        self.replies: list[str] = []  # the assistant's replies, for their code blocks
        self.hits: list[Any] = []  # the last turn's sources
        self.last_failure: Any = None  # the last failed test-run, for /repair

    # --- layout -------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="chat-column"):
                yield VerticalScroll(id="chat")
                yield PromptInput(placeholder="Describe a flow, or a change to it — /help", id="prompt")
            with TabbedContent(id="side"):
                with TabPane("Flow", id="tab-flow"):
                    yield VerticalScroll(Static("No flow yet.", id="flow"), Static("", id="problems"))
                with TabPane("Topology", id="tab-topology"):
                    yield Tree("No flow yet.", id="topology")
                with TabPane("Diff", id="tab-diff"):
                    yield VerticalScroll(Static("No changes yet.", id="diff"))
                with TabPane("Sources", id="tab-sources"):
                    yield Static("No sources yet.", id="sources")
                    yield OptionList(id="source-list")
                with TabPane("Run", id="tab-run"):
                    yield VerticalScroll(Static("Nothing run yet: /deploy, /run.", id="run"))
        yield Static("starting…", id="status")
        yield Footer()

    async def on_mount(self) -> None:
        unknown = sorted(set(self.settings.keys) - set(ACTIONS))
        if unknown:
            self.notes.append(f"Unknown action(s) in [keys]: {', '.join(unknown)}. Known: {', '.join(ACTIONS)}.")
        self.set_keymap({k: v for k, v in self.settings.keys.items() if k in ACTIONS})
        self.query_one("#source-list").display = False
        self.query_one(PromptInput).focus()
        if self.settings.kestra_url:
            self.server_status = f"Kestra at {self.settings.kestra_url}: checking…"
            self.check_server()
        await self.say("Describe the flow you need — or type `/help`.", "system")
        self.load_engine()

    @work(exclusive=True, group="engine", thread=True)
    def load_engine(self) -> None:
        """Heavy imports (google-genai, Chroma, onnxruntime) off the UI thread, after the first frame."""
        from ..engine.factory import build_engine

        setup = build_engine(self.settings, recipe=self.recipe_name)
        self.call_from_thread(self._engine_ready, setup)

    async def _engine_ready(self, setup: Any) -> None:
        import sqlite3

        from ..engine.sessions import SessionStore

        self.engine, self.index_chunks = setup.engine, setup.index_chunks
        self.notes = [*self.notes, *setup.notes]
        try:  # opened here, on the UI thread that uses it (sqlite connections stay on their thread)
            self.store = SessionStore.open(self.settings.data_dir / "sessions.db")
        except (sqlite3.Error, OSError) as exc:
            self.notes.append(f"Sessions are not recorded: {exc}.")
        self.refresh_status()
        for note in self.notes:
            await self.say(note, "system")

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()

    def refresh_status(self) -> None:
        parts = []
        if self.engine is None:
            parts.append("loading…")
        else:
            model = self.engine.model.name if self.engine.model else "no model (set GEMINI_API_KEY)"
            parts += [model, f"recipe {self.engine.recipe.name}", f"Kestra {self.engine.kestra_version}.x"]
        if self.turn_usage:
            parts.append(f"turn {self._spent(self.turn_usage)}")
        parts.append(f"session {self._spent(self.usage)}")
        parts.append(f"index {self.index_chunks:,} chunks" if self.index_chunks else "no index")
        parts.append(self.server_status)
        self.query_one("#status", Static).update(" · ".join(parts))

    def _spent(self, usage: list[Any]) -> str:
        """`1,234 tokens $0.0012` (no price for a local or unknown model)."""
        from ..llm.prices import estimate_cost

        text = f"{sum(call.total for call in usage):,} tokens"
        if self.engine is not None and self.engine.model is not None:
            cost = estimate_cost(self.engine.model.name, usage, self.settings.prices)
            if cost is not None:
                text += f" ${cost:.4f}"
        return text

    @work(exclusive=True, group="server")
    async def check_server(self) -> None:
        """The Kestra server's version, or why it cannot be reached, for the status bar."""
        from ..kestra import KestraClient, KestraError

        try:
            async with KestraClient.from_settings(self.settings) as client:
                info = await client.server_info()
            self.server_status = f"Kestra {info.version} at {self.settings.kestra_url}"
        except KestraError as exc:
            self.server_status = f"Kestra unreachable ({self.settings.kestra_url})"
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
        key = self.settings.keys.get(action_id) or ACTIONS[action_id][0]
        return "+".join(part.capitalize() if len(part) > 1 else part.upper() for part in key.split("+"))

    def help_text(self) -> str:
        keys = ", ".join(f"{self.key_label(i)} {title.lower()}" for i, (_, _, title, _) in ACTIONS.items())
        return HELP.format(keys=keys)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette (Ctrl+P): every action, with its key."""
        yield from super().get_system_commands(screen)
        for action_id, (_, action, title, _) in ACTIONS.items():
            if action_id != "cancel":
                yield SystemCommand(title, f"{self.key_label(action_id)}", lambda a=action: self.run_action(a))

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
        if self._turn is not None and self._turn.is_running:
            await self.say("A reply is still streaming: wait for it, or press Esc to stop it.", "system")
            return
        await self.say(text, "user")
        if self.engine is None:
            await self.say("Still loading the engine; try again in a moment.", "system")
            return
        self._turn = self.run_turn(text)

    async def command(self, text: str) -> None:
        name, _, argument = text[1:].partition(" ")
        actions = {
            "undo": self.action_undo,
            "redo": self.action_redo,
            "new": self.action_new,
            "save": lambda: self.action_save(argument.strip() or None),
            "help": self.action_help,
            "copy": lambda: self.action_copy(argument.strip()),
            "blocks": self.action_blocks,
            "repair": self.action_repair,
            "revisions": self.action_revisions,
            "revision": lambda: self.goto_revision(argument.strip()),
            "diff": lambda: self.diff_against(argument.strip()),
            "model": lambda: self.switch(model=argument.strip() or None),
            "recipe": lambda: self.switch(recipe=argument.strip() or None),
            "sessions": self.action_sessions,
            "resume": lambda: self.resume_session(argument.strip()),
            "sources": lambda: self.action_show_tab("tab-sources"),
        }
        if name == "load":
            await self.load_flow(argument.strip())
        elif name == "deploy":
            self.deploy_flow()
        elif name == "run":
            self.run_flow(argument)
        elif name in actions:
            result = actions[name]()
            if asyncio.iscoroutine(result):
                await result
        else:
            await self.say(f"Unknown command `/{name}`. {self.help_text()}", "error")

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    async def action_help(self) -> None:
        await self.say(self.help_text(), "system")

    def action_deploy(self) -> None:
        self.deploy_flow()

    def action_run(self) -> None:
        self.run_flow("")

    # --- a turn -------------------------------------------------------------------------------------
    @work(exclusive=True, group="turn")
    async def run_turn(self, text: str) -> None:
        from ..engine.turn import Attempt, ErrorEvent, Sources
        from ..llm.base import TextDelta

        queue: asyncio.Queue[Any] = asyncio.Queue()
        record = self._recorder(text)
        self.turn_usage = []

        def on_event(event: Any) -> None:
            if record is not None:
                record(event)
            queue.put_nowait(event)

        task = asyncio.create_task(self.engine.turn(text, on_event=on_event))
        stream = None
        try:
            while not (task.done() and queue.empty()):
                try:
                    event = await asyncio.wait_for(queue.get(), 0.1)
                except TimeoutError:
                    continue
                if isinstance(event, Attempt):
                    if stream is not None:
                        await stream.stop()
                    note = "" if event.number == 1 else f"*Repairing (attempt {event.number})…*\n\n"
                    self._reply = await self.say(note, "assistant")
                    self.replies.append("")
                    stream = Markdown.get_stream(self._reply)
                elif isinstance(event, TextDelta) and stream is not None:
                    self.replies[-1] += event.text
                    await stream.write(event.text)
                    self.query_one("#chat", VerticalScroll).scroll_end(animate=False)
                elif isinstance(event, Sources):
                    self.show_sources(event.hits)
                elif isinstance(event, ErrorEvent):
                    hint = f"\n\n{event.error.hint}" if event.error.hint else ""
                    await self.say(f"**{event.error}**{hint}", "error")
                else:
                    self._turn_event(event)
            await task
        except asyncio.CancelledError:
            task.cancel()
            if self.store is not None and self.session is not None:
                self.store.mark_interrupted(self.session)
            await self.say("*Stopped. The reply so far is kept above; the flow is unchanged.*", "system")
            raise
        finally:
            if stream is not None:
                await stream.stop()

    def _recorder(self, text: str) -> Any:
        """The session store's recorder for this turn (the session is created at the first turn)."""
        if self.store is None or self.engine is None:
            return None
        if self.session is None:
            model = self.engine.model.name if self.engine.model else ""
            self.session = self.store.create(model=model, recipe=self.engine.recipe.name,
                                             kestra_version=self.engine.kestra_version)  # fmt: skip
        return self.store.recorder(self.session, text)

    def action_cancel(self) -> None:
        if self._turn is not None and self._turn.is_running:
            self._turn.cancel()

    # --- panes --------------------------------------------------------------------------------------
    def show_revision(self, revision: Any) -> None:
        error_lines = {d.line for d in revision.diagnostics if d.is_error and d.line}
        syntax = Syntax(revision.yaml, "yaml", line_numbers=True, highlight_lines=error_lines, word_wrap=True)
        self.query_one("#flow", Static).update(syntax)
        self.show_problems(revision.diagnostics, revision=revision.number)
        self.show_topology(revision.yaml)
        if revision.diff is not None and revision.diff.changed:
            self.query_one("#diff", Static).update(Syntax(revision.diff.unified, "diff"))
        else:
            self.query_one("#diff", Static).update("No changes against the previous revision.")

    def show_topology(self, flow_yaml: str) -> None:
        from ..flows import FlowError, flow_topology, parse_flow

        tree = self.query_one("#topology", Tree)
        tree.clear()
        try:
            root = flow_topology(parse_flow(flow_yaml).data)
        except FlowError as exc:
            tree.root.set_label(f"(cannot read the flow: {exc})")
            return
        tree.root.set_label(root.label)

        def add(node: Any, parent: Any) -> None:
            for child in node.children:
                branch = parent.add(child.label, expand=True) if child.children else parent.add_leaf(child.label)
                add(child, branch)

        add(root, tree.root)
        tree.root.expand()

    def show_problems(self, diagnostics: Any, revision: int | None = None) -> None:
        lines = Text()
        if revision is not None:
            lines.append(f"Revision {revision}: ", style="bold")
        if not any(d.severity.value != "info" for d in diagnostics):
            lines.append("valid ✓", style="green")
        for d in diagnostics:
            if d.severity.value == "info":
                continue
            style = "red" if d.is_error else "yellow"
            where = f"{d.line}:{d.column} " if d.line else ""
            lines.append(f"\n{where}{d.severity.value}[{d.code}] {d.message}", style=style)
        self.query_one("#problems", Static).update(lines)

    def show_sources(self, hits: Any) -> None:
        self.hits = list(hits or [])
        listing = self.query_one("#source-list", OptionList)
        listing.clear_options()
        listing.display = bool(self.hits)
        if not self.hits:
            self.query_one("#sources", Static).update("No sources for this turn (is the index built?).")
            return
        self.query_one("#sources", Static).update(f"{len(self.hits)} source(s) — Enter or click opens one.")
        for number, hit in enumerate(self.hits, 1):
            chunk = hit.chunk
            label = Text.assemble(
                (f"[S{number}] ", "bold"),
                (f"{chunk.title or 'untitled'}\n", "bold"),
                (f"     {chunk.kind} · {chunk.source}: {chunk.location} · score {hit.score:.3f}", "dim"),
            )
            listing.add_option(Option(label, id=str(number)))
        listing.highlighted = 0

    @on(OptionList.OptionSelected, "#source-list")
    def open_source(self, event: OptionList.OptionSelected) -> None:
        number = int(event.option.id or 1)
        self.push_screen(SourceViewer(f"[S{number}]", self.hits[number - 1].chunk))

    # --- revisions and files ------------------------------------------------------------------------
    async def action_undo(self) -> None:
        await self._moved(self.engine.undo() if self.engine else None, "undo")

    async def action_redo(self) -> None:
        await self._moved(self.engine.redo() if self.engine else None, "redo")

    async def _moved(self, revision: Any, what: str) -> None:
        if revision is None:
            self.query_one("#flow", Static).update("No flow yet.")
            await self.say(f"Nothing to {what}." if what == "redo" else "Back before the first revision.", "system")
            return
        self.show_revision(revision)
        await self.say(f"{what.capitalize()}: revision {revision.number} is current.", "system")

    async def action_copy(self, block: str = "") -> None:
        """The current flow, or with a number the conversation's code block N (`/blocks` lists them)."""
        if block:
            blocks = [b for reply in self.replies for b in code_blocks(reply)]
            if not block.isdigit() or not 1 <= int(block) <= len(blocks):
                await self.say(f"Usage: `/copy N` with N from 1 to {len(blocks)} — `/blocks` lists them.", "error")
                return
            self.copy_to_clipboard(blocks[int(block) - 1][1])
            await self.say(f"Copied code block {block} to the clipboard.", "system")
            return
        current = self.engine.current if self.engine else None
        if current is None:
            await self.say("There is no flow to copy yet.", "error")
            return
        self.copy_to_clipboard(current.yaml)  # OSC 52: works over SSH and in most terminals
        await self.say(f"Copied revision {current.number} to the clipboard.", "system")

    async def action_blocks(self) -> None:
        blocks = [b for reply in self.replies for b in code_blocks(reply)]
        if not blocks:
            await self.say("No code blocks in the conversation yet.", "system")
            return
        copy = lambda number: number and self.run_worker(self.action_copy(number))  # noqa: E731
        self.push_screen(Picker("Copy a code block", code_block_options(blocks)), copy)

    async def action_sessions(self) -> None:
        if self.store is None:
            await self.say("Sessions are not available yet (the engine is loading, or the store failed).", "error")
            return
        self.push_screen(
            SessionsScreen(self.store), lambda chosen: chosen and self.run_worker(self.resume_session(chosen))
        )

    async def resume_session(self, session_id: str) -> None:
        if self.store is None or self.engine is None:
            await self.say("Sessions are not available yet.", "error")
            return
        try:
            current = self.store.restore(session_id, self.engine)
        except KeyError:
            await self.say(f"No session `{session_id}` — `/sessions` lists them.", "error")
            return
        self.session = session_id
        await self.query_one("#chat", VerticalScroll).remove_children()
        self.replies.clear()
        for turn in self.store.turns(session_id):
            await self.say(turn["request"], "user")
            if turn["reply"]:
                self.replies.append(turn["reply"])
                await self.say(turn["reply"], "assistant")
        if current is not None:
            self.show_revision(current)
        await self.say(
            f"Resumed session `{session_id}`" + (f" at revision {current.number}." if current else "."), "system"
        )

    async def action_revisions(self) -> None:
        if self.engine is None or not self.engine.revisions:
            await self.say("No revisions yet.", "system")
            return
        current = self.engine.current.number if self.engine.current else 0
        options = revision_options(self.engine.revisions, current)
        goto = lambda number: number and self.run_worker(self.goto_revision(number))  # noqa: E731
        self.push_screen(Picker("Revisions", options, highlighted=max(0, current - 1)), goto)

    async def goto_revision(self, argument: str) -> None:
        try:
            revision = self.engine.goto(int(argument))
        except (ValueError, IndexError, AttributeError) as exc:
            await self.say(f"Usage: `/revision N` — {exc}", "error")
            return
        self.show_revision(revision)
        await self.say(f"Revision {revision.number} is current.", "system")

    @work(exclusive=True, group="kestra")
    async def diff_against(self, argument: str) -> None:
        """`/diff N` against revision N; `/diff server` against the flow deployed on Kestra."""
        from ..flows import diff_flows, parse_flow
        from ..kestra import KestraClient, KestraError

        current = self.engine.current if self.engine else None
        if current is None:
            await self.say("There is no flow yet.", "error")
            return
        if argument == "server":
            if not self.settings.kestra_url:
                await self.say("No Kestra server: set KESTRA_URL.", "error")
                return
            data = parse_flow(current.yaml).data
            try:
                async with KestraClient.from_settings(self.settings) as client:
                    deployed = await client.get_flow(str(data.get("namespace")), str(data.get("id")))
            except KestraError as exc:
                await self.say(f"**{exc}** {exc.hint or ''}", "error")
                return
            if deployed is None:
                await self.say("The server has no such flow yet: it would be new.", "system")
                return
            old, label = deployed.source, f"server revision {deployed.revision}"
        else:
            try:
                other = self.engine.revisions[int(argument) - 1]
            except (ValueError, IndexError):
                await self.say("Usage: `/diff N` (a revision) or `/diff server`.", "error")
                return
            old, label = other.yaml, f"revision {other.number}"
        diff = diff_flows(old, current.yaml, old_label=label, new_label=f"revision {current.number}")
        pane = self.query_one("#diff", Static)
        pane.update(Syntax(diff.unified, "diff") if diff.changed else f"No differences with {label}.")
        self.query_one(TabbedContent).active = "tab-diff"

    @work(exclusive=True, group="engine", thread=True)
    def switch(self, model: str | None = None, recipe: str | None = None) -> None:
        """Another model or recipe for the next turns; the revisions stay."""
        from ..engine.factory import build_engine
        from ..engine.recipes import RecipeError

        if self.engine is None:
            return
        name = recipe or self.engine.recipe.name
        chosen_model = model or (self.engine.model.name if self.engine.model else None)
        try:
            setup = build_engine(self.settings, recipe=name, model=chosen_model)
        except RecipeError as exc:
            self.call_from_thread(self.say, f"{exc} {exc.hint or ''}", "error")
            return
        setup.engine.revisions, setup.engine._position = self.engine.revisions, self.engine._position
        self.call_from_thread(self._switched, setup.engine)

    async def _switched(self, engine: Any) -> None:
        self.engine = engine
        self.refresh_status()
        model = engine.model.name if engine.model else "no model"
        await self.say(f"Now using {model} with recipe {engine.recipe.name}.", "system")

    async def action_new(self) -> None:
        if self.engine is not None:
            self.engine.revisions.clear()
            self.engine._position = 0
        self.query_one("#flow", Static).update("No flow yet.")
        self.query_one("#topology", Tree).clear().root.set_label("No flow yet.")
        self.query_one("#diff", Static).update("No changes yet.")
        self.query_one("#problems", Static).update("")
        await self.say("New flow: the next request starts from scratch.", "system")

    async def action_save(self, path: str | None = None) -> None:
        from ..flows import parse_flow

        current = self.engine.current if self.engine else None
        if current is None:
            await self.say("There is no flow to save yet.", "error")
            return
        if path is None:
            data = parse_flow(current.yaml).data
            path = f"flows/{data.get('namespace', 'default')}/{data.get('id', 'flow')}.yml"
        target = Path(path).expanduser()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(current.yaml, encoding="utf-8")
        except OSError as exc:
            await self.say(f"Cannot save to {target}: {exc.strerror or exc}.", "error")
            return
        await self.say(f"Saved revision {current.number} to `{target}`.", "system")

    async def load_flow(self, path: str) -> None:
        if not path:
            await self.say("Usage: `/load PATH`", "error")
            return
        if self.engine is None:
            await self.say("Still loading the engine; try again in a moment.", "system")
            return
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            await self.say(f"Cannot read {path}: {exc.strerror or exc}.", "error")
            return
        revision = self.engine.start_from(text)
        self.show_revision(revision)
        verdict = "valid" if revision.valid else f"{sum(d.is_error for d in revision.diagnostics)} problem(s)"
        await self.say(f"Loaded `{path}` as revision {revision.number} ({verdict}). Ask for changes.", "system")

    # --- Kestra: deploy and test-run ----------------------------------------------------------------
    def _kestra_ready(self) -> str | None:
        """Why deploy/run cannot happen now, or None."""
        if not self.settings.kestra_url:
            return "No Kestra server: set KESTRA_URL (and KESTRA_USERNAME/KESTRA_PASSWORD or KESTRA_API_TOKEN)."
        if self.engine is None or self.engine.current is None:
            return "There is no flow yet."
        if not self.engine.current.valid:
            return f"Revision {self.engine.current.number} has problems; it is not deployed. Ask to fix them."
        return None

    @work(exclusive=True, group="kestra")
    async def deploy_flow(self) -> None:
        from ..flows import diff_flows, parse_flow
        from ..kestra import KestraClient, KestraError

        problem = self._kestra_ready()
        if problem:
            await self.say(problem, "error")
            return
        revision = self.engine.current
        data = parse_flow(revision.yaml).data
        namespace, flow_id = str(data.get("namespace")), str(data.get("id"))
        try:
            async with KestraClient.from_settings(self.settings) as client:
                deployed = await client.get_flow(namespace, flow_id)
                if deployed is not None:
                    diff = diff_flows(deployed.source, revision.yaml, old_label=f"server r{deployed.revision}")
                    if not diff.changed:
                        await self.say(f"{namespace}.{flow_id} is already up to date on the server.", "system")
                        return
                    body: Any = Syntax(diff.unified, "diff")
                else:
                    body = Syntax(revision.yaml, "yaml")
                title = f"Deploy {namespace}.{flow_id} to {self.settings.kestra_url}?" + (
                    "" if deployed else " (new flow)"
                )
                if not await self.push_screen_wait(ConfirmDeploy(title, body)):
                    await self.say("Not deployed.", "system")
                    return
                result = await client.deploy(revision.yaml, namespace, flow_id)
        except KestraError as exc:
            await self.say(f"**{exc}** {exc.hint or ''}", "error")
            return
        link = f"{self.settings.kestra_url}/ui/{self.settings.kestra_tenant}/flows/edit/{namespace}/{flow_id}"
        await self.say(f"Deployed {namespace}.{flow_id}, server revision {result.revision}: {link}", "system")

    @work(exclusive=True, group="kestra")
    async def run_flow(self, argument: str) -> None:
        """Test-run: deploy to the test namespace, run, follow, repair from failures (engine/testrun.py)."""
        from ..engine.testrun import Deployed, RunFinished, test_run
        from ..kestra import Execution, KestraClient, KestraError, LogEntry

        problem = self._kestra_ready()
        if problem:
            await self.say(problem, "error")
            return
        inputs = dict(part.split("=", 1) for part in argument.split() if "=" in part)
        if not argument.strip():
            from ..flows import parse_flow

            specs = [i for i in parse_flow(self.engine.current.yaml).data.get("inputs") or [] if isinstance(i, dict)]
            if specs:
                chosen = await self.push_screen_wait(RunInputs(specs))
                if chosen is None:
                    await self.say("Not run.", "system")
                    return
                inputs = {key: value for key, value in chosen.items() if value != ""}
        lines: list[str] = []
        self.turn_usage = []
        pane = self.query_one("#run", Static)
        self.query_one(TabbedContent).active = "tab-run"

        def show(event: Any) -> None:
            if isinstance(event, Deployed):
                lines.append(f"deployed {event.namespace}.{event.flow_id} (server revision {event.revision})")
            elif isinstance(event, Execution):
                states = "  ".join(f"{run.task_id}:{run.state}" for run in event.task_runs)
                lines.append(f"{event.id} {event.state}  {states}".rstrip())
            elif isinstance(event, LogEntry):
                lines.append(f"    {event.task_id or '':<16} {event.level:<5} {event.message}")
            elif isinstance(event, RunFinished):
                where = f" at task {event.failing_task}" if event.failing_task else ""
                lines.append(f"→ {event.execution.state}{where}")
                lines.extend(f"    {line}" for line in event.error_logs[-5:])
            else:
                self._turn_event(event)
            pane.update("\n".join(lines[-200:]))

        try:
            async with KestraClient.from_settings(self.settings) as client:
                result = await test_run(
                    self.engine,
                    client,
                    inputs=inputs,
                    namespace_suffix=self.settings.test_namespace_suffix,
                    on_event=show,
                )
        except KestraError as exc:
            await self.say(f"**{exc}** {exc.hint or ''}", "error")
            return
        repairs = f" after {len(result.repairs)} repair(s)" if result.repairs else ""
        self.last_failure = None if result.passed or not result.runs else result.runs[-1]
        follow_up = "" if result.passed else f" {self.key_label('repair')} or `/repair` asks for a fix from its logs."
        await self.say(f"Test run: **{result.state}**{repairs}.{follow_up}", "system" if result.passed else "error")

    async def action_repair(self) -> None:
        """Repair from failure: the last failed test-run's error logs go to the model, as a chat turn."""
        from ..engine.testrun import repair_request

        if self.last_failure is None:
            await self.say("No failed test-run to repair from: `/run` first.", "system")
            return
        if self._turn is not None and self._turn.is_running:
            await self.say("A reply is still streaming: wait for it, or press Esc to stop it.", "system")
            return
        failure, self.last_failure = self.last_failure, None
        where = f"task `{failure.failing_task}`" if failure.failing_task else "the run"
        await self.say(f"Repair from the failure of {where} ({failure.execution.state}).", "user")
        self._turn = self.run_turn(repair_request(self.engine, failure))

    def _turn_event(self, event: Any) -> None:
        """Engine events that update the panes and the status bar (chat turns and test-run repairs)."""
        from ..engine.turn import Revision, Validated
        from ..llm.base import Usage

        if isinstance(event, Revision):
            self.show_revision(event)
        elif isinstance(event, Validated):
            self.show_problems(event.diagnostics)
        elif isinstance(event, Usage):
            self.usage.append(event)
            self.turn_usage.append(event)
            self.refresh_status()
