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
from pathlib import Path
from typing import Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Markdown, Static, TabbedContent, TabPane, Tree

from ..config import Settings, load_settings

__all__ = ["CopilotApp"]

HELP = """**Commands** — `/deploy`, `/run [KEY=VALUE …]`, `/undo`, `/redo`, `/revisions`, `/revision N`,
`/diff N|server`, `/new`, `/save [PATH]`, `/load PATH`, `/copy`, `/sessions`, `/resume ID`, `/model NAME`,
`/recipe NAME`, `/sources`, `/help`.
Keys: Enter sends, Esc stops a reply (what arrived is kept), Ctrl+Z / Ctrl+Y undo / redo, Ctrl+S saves,
Ctrl+O copies the flow."""


class ChatMessage(Markdown):
    """One message of the conversation."""


class PromptInput(Input):
    """The input, with a history on up/down."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", show=False),
        Binding("down", "history(1)", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: list[str] = []
        self._cursor = 0

    def remember(self, text: str) -> None:
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._cursor = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._cursor = max(0, min(len(self.history), self._cursor + step))
        self.value = self.history[self._cursor] if self._cursor < len(self.history) else ""
        self.cursor_position = len(self.value)


class ConfirmDeploy(ModalScreen[bool]):
    """The diff against what the server has, and a yes/no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(False)", "Cancel"),
        Binding("y", "dismiss(True)"),
    ]
    DEFAULT_CSS = """
    ConfirmDeploy { align: center middle; }
    #dialog { width: 90%; height: 80%; border: thick $accent; background: $surface; padding: 1; }
    #dialog-diff { height: 1fr; }
    #dialog-buttons { height: 3; align: right middle; }
    """

    def __init__(self, title: str, diff: Any) -> None:
        super().__init__()
        self.title_text, self.diff = title, diff

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="dialog-title")
            yield VerticalScroll(Static(self.diff, id="dialog-body"), id="dialog-diff")
            with Horizontal(id="dialog-buttons"):
                yield Button("Deploy (y)", variant="primary", id="yes")
                yield Button("Cancel (Esc)", id="no")

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class RunInputs(ModalScreen[dict[str, str] | None]):
    """A form from the flow's `inputs`: one field per input, with its type and default."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    RunInputs { align: center middle; }
    #form { width: 80%; height: auto; max-height: 90%; border: thick $accent; background: $surface; padding: 1; }
    #form-buttons { height: 3; align: right middle; }
    """

    def __init__(self, inputs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.inputs = inputs

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Static("Test-run inputs (Enter runs, Esc cancels)")
            for spec in self.inputs:
                name = str(spec.get("id") or spec.get("name"))
                required = " (required)" if spec.get("required") and "defaults" not in spec else ""
                yield Static(f"{name}: {spec.get('type', 'STRING')}{required}")
                default = spec.get("defaults")
                yield Input(value="" if default is None else str(default), id=f"input-{name}")
            with Horizontal(id="form-buttons"):
                yield Button("Run", variant="primary", id="run")
                yield Button("Cancel", id="cancel")

    def _values(self) -> dict[str, str]:
        return {field.id.removeprefix("input-"): field.value for field in self.query(Input) if field.id}

    @on(Input.Submitted)
    def submitted(self) -> None:
        self.dismiss(self._values())

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self._values() if event.button.id == "run" else None)


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
        Binding("escape", "cancel", "Stop reply"),
        Binding("ctrl+z", "undo", "Undo"),
        Binding("ctrl+y", "redo", "Redo"),
        Binding("ctrl+s", "save", "Save flow"),
        Binding("ctrl+n", "new", "New flow"),
        Binding("ctrl+o", "copy", "Copy flow"),
    ]

    def __init__(self, settings: Settings | None = None, *, recipe: str = "default") -> None:
        super().__init__()
        self.settings = settings or load_settings()
        self.recipe_name = recipe
        self.engine: Any = None
        self.notes: list[str] = []
        self.index_chunks = 0
        self.tokens = 0
        self.usage: list[Any] = []  # every model call of the session, for the cost
        self.store: Any = None  # the session store, opened with the engine
        self.session: str | None = None
        self._turn: Any = None  # the running turn's worker
        self._reply: ChatMessage | None = None

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
                    yield VerticalScroll(Static("No sources yet.", id="sources"))
                with TabPane("Run", id="tab-run"):
                    yield VerticalScroll(Static("Nothing run yet: /deploy, /run.", id="run"))
        yield Static("starting…", id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one(PromptInput).focus()
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

        self.engine, self.notes, self.index_chunks = setup.engine, setup.notes, setup.index_chunks
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
        parts.append(f"{self.tokens:,} tokens")
        if self.engine is not None and self.engine.model is not None:
            from ..llm.prices import estimate_cost

            cost = estimate_cost(self.engine.model.name, self.usage)
            if cost is not None:
                parts.append(f"${cost:.4f}")
        parts.append(f"index {self.index_chunks:,} chunks" if self.index_chunks else "no index")
        parts.append(f"server {self.settings.kestra_url}" if self.settings.kestra_url else "no Kestra server")
        self.query_one("#status", Static).update(" · ".join(parts))

    async def say(self, text: str, kind: str) -> ChatMessage:
        message = ChatMessage(text, classes=kind)
        chat = self.query_one("#chat", VerticalScroll)
        await chat.mount(message)
        chat.scroll_end(animate=False)
        return message

    # --- input --------------------------------------------------------------------------------------
    @on(Input.Submitted, "#prompt")
    async def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        prompt = self.query_one(PromptInput)
        prompt.remember(text)
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
            "help": lambda: self.say(HELP, "system"),
            "copy": self.action_copy,
            "revisions": self.list_revisions,
            "revision": lambda: self.goto_revision(argument.strip()),
            "diff": lambda: self.diff_against(argument.strip()),
            "model": lambda: self.switch(model=argument.strip() or None),
            "recipe": lambda: self.switch(recipe=argument.strip() or None),
            "sessions": self.list_sessions,
            "resume": lambda: self.resume_session(argument.strip()),
            "sources": lambda: self._show_tab("tab-sources"),
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
            await self.say(f"Unknown command `/{name}`. {HELP}", "error")

    async def _show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    # --- a turn -------------------------------------------------------------------------------------
    @work(exclusive=True, group="turn")
    async def run_turn(self, text: str) -> None:
        from ..engine.turn import Attempt, ErrorEvent, Revision, Sources, Validated
        from ..llm.base import TextDelta, Usage

        queue: asyncio.Queue[Any] = asyncio.Queue()
        record = self._recorder(text)

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
                    stream = Markdown.get_stream(self._reply)
                elif isinstance(event, TextDelta) and stream is not None:
                    await stream.write(event.text)
                    self.query_one("#chat", VerticalScroll).scroll_end(animate=False)
                elif isinstance(event, Usage):
                    self.tokens += event.total
                    self.usage.append(event)
                    self.refresh_status()
                elif isinstance(event, Sources):
                    self.show_sources(event.hits)
                elif isinstance(event, Validated):
                    self.show_problems(event.diagnostics)
                elif isinstance(event, Revision):
                    self.show_revision(event)
                elif isinstance(event, ErrorEvent):
                    hint = f"\n\n{event.error.hint}" if event.error.hint else ""
                    await self.say(f"**{event.error}**{hint}", "error")
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
        if not hits:
            self.query_one("#sources", Static).update("No sources for this turn (is the index built?).")
            return
        text = Text()
        for number, hit in enumerate(hits, 1):
            chunk = hit.chunk
            text.append(f"[S{number}] ", style="bold")
            text.append(f"{chunk.title or 'untitled'}\n", style="bold")
            text.append(f"     {chunk.kind} · {chunk.source}: {chunk.location} · score {hit.score:.3f}\n", style="dim")
        self.query_one("#sources", Static).update(text)

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

    async def action_copy(self) -> None:
        current = self.engine.current if self.engine else None
        if current is None:
            await self.say("There is no flow to copy yet.", "error")
            return
        self.copy_to_clipboard(current.yaml)  # OSC 52: works over SSH and in most terminals
        await self.say(f"Copied revision {current.number} to the clipboard.", "system")

    async def list_sessions(self) -> None:
        if self.store is None:
            await self.say("Sessions are not available.", "error")
            return
        import time

        rows = [
            f"- `{s.id}` {time.strftime('%Y-%m-%d %H:%M', time.localtime(s.updated))} — {s.title or '(empty)'} "
            f"({s.turns} turn(s), {s.revisions} revision(s))"
            for s in self.store.sessions()[:20]
        ]
        await self.say("\n".join(rows) + "\n\n`/resume ID` continues one." if rows else "No sessions yet.", "system")

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
        for turn in self.store.turns(session_id):
            await self.say(turn["request"], "user")
            if turn["reply"]:
                await self.say(turn["reply"], "assistant")
        if current is not None:
            self.show_revision(current)
        await self.say(
            f"Resumed session `{session_id}`" + (f" at revision {current.number}." if current else "."), "system"
        )

    async def list_revisions(self) -> None:
        if self.engine is None or not self.engine.revisions:
            await self.say("No revisions yet.", "system")
            return
        current = self.engine.current.number if self.engine.current else 0
        rows = []
        for revision in self.engine.revisions:
            mark = "▶" if revision.number == current else " "
            verdict = "valid" if revision.valid else "invalid"
            changes = "; ".join(c.line() for c in revision.diff.summary.changes[:3]) if revision.diff else "first"
            rows.append(f"- {mark} **{revision.number}** ({verdict}, {revision.recipe}) {changes}")
        await self.say("\n".join(rows) + "\n\n`/revision N` makes one current, `/diff N` compares.", "system")

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
        await self.say(f"Test run: **{result.state}**{repairs}.", "system" if result.passed else "error")

    def _turn_event(self, event: Any) -> None:
        """Engine events of a repair turn during a test-run: keep the panes current."""
        from ..engine.turn import Revision, Validated

        if isinstance(event, Revision):
            self.show_revision(event)
        elif isinstance(event, Validated):
            self.show_problems(event.diagnostics)
