"""The chat's dialogs: deploy confirmation, test-run inputs, sessions, a source chunk, code blocks."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Markdown, OptionList, Static
from textual.widgets.option_list import Option

__all__ = [
    "ConfirmDeploy",
    "Picker",
    "RunInputs",
    "SessionsScreen",
    "SourceViewer",
    "code_block_options",
    "revision_options",
]

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 90%; height: 85%; border: thick $accent; background: $surface; padding: 0 1; }}
{name} .title {{ text-style: bold; height: auto; margin-bottom: 1; }}
{name} .hint {{ color: $text-muted; height: auto; }}
{name} OptionList {{ height: 1fr; }}
{name} VerticalScroll {{ height: 1fr; }}
"""


def _css(name: str) -> str:
    return DIALOG_CSS.format(name=name)


class ConfirmDeploy(ModalScreen[bool]):
    """The diff against what the server has, and a yes/no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(False)", "Cancel"),
        Binding("y", "dismiss(True)"),
    ]
    DEFAULT_CSS = _css("ConfirmDeploy") + "#dialog-buttons { height: 3; align: right middle; }"

    def __init__(self, title: str, diff: Any) -> None:
        super().__init__()
        self.title_text, self.diff = title, diff

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="dialog-title", classes="title")
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


class SessionsScreen(ModalScreen[str | None]):
    """Every recorded session, newest first: type to search, Enter resumes, Ctrl+D deletes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("ctrl+d", "delete", "Delete session", priority=True),
        Binding("down", "move(1)", show=False, priority=True),
        Binding("up", "move(-1)", show=False, priority=True),
    ]
    DEFAULT_CSS = _css("SessionsScreen")

    def __init__(self, store: Any) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Sessions — type to search, ↑/↓ to choose, Enter resumes, Ctrl+D deletes", classes="title")
            yield Input(placeholder="search titles, requests and replies", id="session-search")
            yield OptionList(id="session-list")
            yield Static("", id="session-hint", classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self.refill()

    def refill(self) -> None:
        search = self.query_one(Input).value
        sessions = self.store.sessions(search)
        options = self.query_one(OptionList)
        options.clear_options()
        for info in sessions:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.updated))
            label = Text.assemble(
                (f"{when}  ", "dim"),
                (info.title or "(empty)", "bold"),
                (
                    f"  {info.turns} turn(s), {info.revisions} revision(s) · {info.model or 'no model'} · {info.id}",
                    "dim",
                ),
            )
            options.add_option(Option(label, id=info.id))
        if sessions:
            options.highlighted = 0
        found = f"{len(sessions)} session(s)" + (f" matching {search.strip()!r}" if search.strip() else "")
        self.query_one("#session-hint", Static).update(found)

    @on(Input.Changed, "#session-search")
    def searched(self) -> None:
        self.refill()

    def _chosen(self) -> str | None:
        options = self.query_one(OptionList)
        if options.highlighted is None or not options.option_count:
            return None
        return options.get_option_at_index(options.highlighted).id

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            current = options.highlighted or 0
            options.highlighted = max(0, min(options.option_count - 1, current + step))

    def action_delete(self) -> None:
        chosen = self._chosen()
        if chosen is not None and self.store.delete(chosen):
            self.refill()
            self.query_one("#session-hint", Static).update(f"Deleted session {chosen}.")

    @on(Input.Submitted, "#session-search")
    def submitted(self) -> None:
        self.dismiss(self._chosen())

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class SourceViewer(ModalScreen[None]):
    """One retrieved chunk, in full: flows as YAML, docs as Markdown."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = _css("SourceViewer")

    def __init__(self, label: str, chunk: Any) -> None:
        super().__init__()
        self.label, self.chunk = label, chunk

    def compose(self) -> ComposeResult:
        chunk = self.chunk
        with Vertical():
            yield Static(f"{self.label} {chunk.title or 'untitled'}", classes="title")
            yield Static(f"{chunk.kind} · {chunk.source}: {chunk.location} — Esc closes", classes="hint")
            with VerticalScroll():
                if chunk.kind in ("flow", "blueprint"):
                    yield Static(Syntax(chunk.text, "yaml", word_wrap=True))
                else:
                    yield Markdown(chunk.text)


class Picker(ModalScreen[str | None]):
    """Choose one of a list (code blocks, revisions): Enter picks, Esc closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = _css("Picker")

    def __init__(self, title: str, options: list[Option], highlighted: int = 0) -> None:
        super().__init__()
        self.title_text, self.options, self.start = title, options, highlighted

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"{self.title_text} — Enter picks, Esc closes", classes="title")
            yield OptionList(*self.options)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = self.start
        options.focus()

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


def code_block_options(blocks: list[tuple[str, str]]) -> list[Option]:
    """Newest first: number, language, size and first line of each block."""
    options = []
    for number in range(len(blocks), 0, -1):
        language, code = blocks[number - 1]
        first = next((line for line in code.splitlines() if line.strip()), "")
        lines = code.count("\n") + (not code.endswith("\n"))
        about = f"{language or 'text'}, {lines} line(s)  "
        options.append(Option(Text.assemble((f"{number:>3}  ", "bold"), (about, "dim"), first), id=str(number)))
    return options


def revision_options(revisions: list[Any], current: int) -> list[Option]:
    """Every revision: validity, recipe and what changed against the previous one."""
    options = []
    for revision in revisions:
        mark = "▶ " if revision.number == current else "  "
        verdict = ("valid", "green") if revision.valid else ("invalid", "red")
        changes = "; ".join(c.line() for c in revision.diff.summary.changes[:3]) if revision.diff else "first"
        label = Text.assemble(
            (f"{mark}{revision.number:>3}  ", "bold"), verdict, (f"  {revision.recipe}  ", "dim"), changes
        )
        options.append(Option(label, id=str(revision.number)))
    return options
