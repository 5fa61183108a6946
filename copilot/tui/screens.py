"""The chat's dialogs: deploy confirmation, test-run inputs, sessions, a source chunk, pickers, a file to load.
Their styles are in app.tcss."""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.console import RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from ..wording import counted
from .inputs import InputField

if TYPE_CHECKING:  # copilot.flows loads the validator (YAML, jsonschema): at the first flow, not at start
    from ..engine.sessions import SessionStore
    from ..events import ConsentRequest, DeployReview, Revision
    from ..flows import YamlMap, YamlValue
    from ..retrieval.chunks import Chunk

__all__ = [
    "ConfirmDeploy",
    "FilePrompt",
    "Picker",
    "RunInputs",
    "SessionsScreen",
    "SourceViewer",
    "code_block_options",
    "field_label",
    "revision_options",
    "yaml_files",
]


class ConfirmDeploy(ModalScreen[bool]):
    """Before a deploy or a test-run: where it goes, what the flow can do, the diff against what the server
    has (or the whole flow), and a yes/no.

    No single key says yes: keys typed ahead of the dialog (the next question, a stray `y`, an arrow and
    Enter) must not deploy anything. Cancel has the focus, and the yes button can be reached only after
    ARMING_SECONDS, once the dialog has been on screen long enough to be read: then Tab to it and Enter, or
    a click. Esc and `n` cancel; PageUp/PageDown scroll the flow."""

    ARMING_SECONDS = 0.8
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(False)", "Cancel"),
        Binding("n", "dismiss(False)", show=False),
        Binding("pageup", "scroll_body(-1)", show=False),
        Binding("pagedown", "scroll_body(1)", show=False),
    ]

    def __init__(
        self, title: str, diff: RenderableType, *, capabilities: Sequence[str] = (), yes: str = "Deploy"
    ) -> None:
        super().__init__()
        self.title_text, self.diff, self.capabilities, self.yes = title, diff, list(capabilities), yes

    @classmethod
    def for_deploy(cls, review: DeployReview, server: str, flow_yaml: str) -> ConfirmDeploy:
        """A deploy: the diff against the server's revision (or the whole flow, a new one) and what it can do."""
        from rich.syntax import Syntax  # Pygments: with the first dialog, not at start

        from ..events import flow_ref

        if review.deployed is not None and review.diff is not None:
            body = Syntax(review.diff.unified, "diff")
            what = f" (server revision {review.deployed.revision} → the diff below)"
        else:
            body, what = Syntax(flow_yaml, "yaml"), " (new flow)"
        title = f"Deploy {flow_ref(review.namespace, review.flow_id)} to {server}?{what}"
        return cls(
            title, body, capabilities=["What it can do:", *(f"  {line}" for line in review.capabilities.lines())]
        )

    @classmethod
    def for_test_run(cls, request: ConsentRequest) -> ConfirmDeploy:
        """A test-run's consent (engine/consent.py): what the flow can do, the diff or the whole flow."""
        from rich.syntax import Syntax

        from ..events import flow_ref

        body = Syntax(request.diff.unified, "diff") if request.diff is not None else Syntax(request.flow_yaml, "yaml")
        title = f"Test-run {flow_ref(request.namespace, request.flow_id)} on {request.server}?"
        if not request.first:
            title = f"A repair changed what the flow can do. {title}"
        return cls(title, body, capabilities=request.summary()[1:], yes="Deploy and run")

    @classmethod
    def for_overwrite(cls, path: Path, held: str | None, revision: Revision) -> ConfirmDeploy:
        """Saving over a file that holds something else: what it holds against the revision saved."""
        from rich.syntax import Syntax

        if held is None:
            body: RenderableType = Text("(The file is too large or unreadable to compare.)")
        else:
            lines = difflib.unified_diff(
                held.splitlines(keepends=True),
                revision.yaml.splitlines(keepends=True),
                fromfile=str(path),
                tofile=f"revision {revision.number}",
            )
            body = Syntax("".join(lines), "diff")
        title = f"Overwrite {path} with revision {revision.number}? (what it holds → the diff below)"
        return cls(title, body, yes="Overwrite")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="dialog-title", classes="title", markup=False)  # paths, URLs
            if self.capabilities:
                capabilities = VerticalScroll(
                    Static(Text("\n".join(self.capabilities)), id="dialog-capabilities-text"), id="dialog-capabilities"
                )
                capabilities.can_focus = False
                yield capabilities
            body = VerticalScroll(Static(self.diff, id="dialog-body"), id="dialog-diff")
            body.can_focus = False  # the buttons are the only stops of Tab: PageUp/PageDown scroll
            yield body
            yield Static(f"Tab to “{self.yes}” and press Enter (or click it) to go ahead; Esc or n cancels.",
                         classes="hint")  # fmt: skip
            with Horizontal(id="dialog-buttons"):
                yield Button(self.yes, variant="warning", id="yes", disabled=True)
                yield Button("Cancel (Esc)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()
        self.set_timer(self.ARMING_SECONDS, self._arm)

    def _arm(self) -> None:
        self.query_one("#yes", Button).disabled = False

    def action_scroll_body(self, pages: int) -> None:
        body = self.query_one("#dialog-diff", VerticalScroll)
        body.scroll_relative(y=pages * max(1, body.size.height - 1), animate=False)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class RunInputs(ModalScreen["dict[str, YamlValue] | None"]):
    """A form from the flow's `inputs`: one field per input with its type and default; returns the values
    typed by their declared type (inputs.InputField), and refuses to run until every one reads. The first
    field has the focus. `last` holds what was typed the last time this flow ran (input → text): the fields
    start from it, and it is updated when the form runs."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, inputs: Sequence[YamlMap], last: dict[str, str] | None = None) -> None:
        super().__init__()
        self.fields = [InputField.from_spec(spec) for spec in inputs]
        self.last = last if last is not None else {}
        self.secret = {field.name for field in self.fields if field.type == "SECRET"}  # never remembered

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Static("Test-run inputs — Enter runs, Esc cancels", classes="title")
            for field in self.fields:
                with Horizontal(classes="field"):
                    yield Static(field_label(field), classes="field-label", id=f"label-{field.name}")
                    secret = field.name in self.secret  # masked, and never filled in from an earlier run
                    yield Input(
                        field.initial if secret else self.last.get(field.name, field.initial),
                        placeholder=field.placeholder,
                        type=_input_type(field),
                        password=secret,
                        id=f"input-{field.name}",
                    )
                yield Static("", classes="field-error", id=f"error-{field.name}")
            with Horizontal(id="form-buttons"):
                yield Button("Run", variant="primary", id="run")
                yield Button("Cancel", id="cancel")

    def values(self) -> dict[str, YamlValue] | None:
        """Every filled field, typed; None (and the reasons shown under the fields) if one does not read."""
        values: dict[str, YamlValue] = {}
        wrong = False
        for field in self.fields:
            error = self.query_one(f"#error-{field.name}", Static)
            try:
                value = field.coerce(self.query_one(f"#input-{field.name}", Input).value)
            except ValueError as exc:
                error.update(str(exc))
                error.set_class(True, "-shown")
                wrong = True
                continue
            error.set_class(False, "-shown")
            if value is not None:
                values[field.name] = value
        return None if wrong else values

    def on_mount(self) -> None:
        self.query(Input).first().focus()  # type, Enter runs

    def _run(self) -> None:
        values = self.values()
        if values is not None:
            typed = {field.name: self.query_one(f"#input-{field.name}", Input).value for field in self.fields}
            self.last.update({name: text for name, text in typed.items() if name not in self.secret})
            self.dismiss(values)

    @on(Input.Submitted)
    def submitted(self) -> None:
        self._run()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run":
            self._run()
        else:
            self.dismiss(None)


def _input_type(field: InputField) -> Literal["integer", "number", "text"]:
    """What the field's Input lets be typed: digits for a number, anything for the rest."""
    return "integer" if field.type == "INT" else "number" if field.type == "FLOAT" else "text"


def field_label(field: InputField) -> Text:
    """`count  INT  default 3  required  — how many`"""
    label = Text.assemble((field.name, "bold"), "  ", (field.kind, "cyan"))
    if field.default is not None:
        label.append(f"  default {field.initial}", "green")
    if field.required:
        label.append("  required", "yellow")
    if field.description:
        label.append(f"  — {field.description}", "dim")
    return label


class FilePrompt(ModalScreen[str | None]):
    """A path to open: type it (Tab completes), or pick one of the YAML files found here."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("down", "pick", "Pick from the list", show=False),
    ]

    def __init__(self, title: str, candidates: list[str]) -> None:
        super().__init__()
        self.title_text, self.candidates = title, candidates

    def compose(self) -> ComposeResult:
        from textual.suggester import SuggestFromList

        with Vertical():
            yield Static(f"{self.title_text} — Enter opens, Tab completes, ↓ picks from the list", classes="title")
            yield Input(placeholder="path/to/flow.yml", suggester=SuggestFromList(self.candidates), id="path")
            yield OptionList(*(Option(path, id=path) for path in self.candidates), id="path-list")
            yield Static(f"{counted(len(self.candidates), 'YAML file')} under {Path.cwd()}", classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def action_pick(self) -> None:
        listing = self.query_one(OptionList)
        if listing.option_count:
            listing.focus()
            listing.highlighted = listing.highlighted or 0

    @on(Input.Changed, "#path")
    def filtered(self, event: Input.Changed) -> None:
        listing = self.query_one(OptionList)
        listing.clear_options()
        listing.add_options(Option(p, id=p) for p in self.candidates if event.value.lower() in p.lower())

    @on(Input.Submitted, "#path")
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


def yaml_files(root: Path, limit: int = 200, max_folders: int = 2000) -> list[str]:
    """YAML files under `root`, nearest first, as relative paths: at most 4 folders deep, hidden folders and
    virtualenvs skipped, and the walk bounded (a home directory must not stall the prompt)."""
    found: list[str] = []
    skip = {"node_modules", "__pycache__", "venv"}
    for visited, (folder, folders, files) in enumerate(os.walk(root)):
        folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in skip)
        base = Path(folder).relative_to(root)
        found.extend(str(base / name) for name in sorted(files) if name.endswith((".yml", ".yaml")))
        if len(found) >= limit or visited >= max_folders:
            break
        if len(base.parts) >= 3:
            folders.clear()
    return sorted(found[:limit], key=lambda path: (path.count(os.sep), path))


class SessionsScreen(ModalScreen[str | None]):
    """Every recorded session, newest first: type to search, Enter resumes, Ctrl+D deletes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("ctrl+d", "delete", "Delete session", priority=True),
        Binding("down", "move(1)", show=False, priority=True),
        Binding("up", "move(-1)", show=False, priority=True),
    ]

    def __init__(self, store: SessionStore) -> None:
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
            counts = f"{counted(info.turns, 'turn')}, {counted(info.revisions, 'revision')}"
            label = Text.assemble(
                (f"{when}  ", "dim"),
                (info.title or "(empty)", "bold"),
                (f"  {counts} · {info.model or 'no model'} · {info.id}", "dim"),
            )
            options.add_option(Option(label, id=info.id))
        if sessions:
            options.highlighted = 0
        found = counted(len(sessions), "session") + (f" matching {search.strip()!r}" if search.strip() else "")
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


# A resumed session's source: listed by title and location, its text not kept with the session.
_NOT_KEPT = (
    "*The text of this source is not kept with the session (it is in the index): "
    '`kestra-copilot search "{title}"` finds it.*'
)


class SourceViewer(ModalScreen[None]):
    """One retrieved chunk, in full, as the Markdown it is: a flow's description, then its YAML as code."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, label: str, chunk: Chunk) -> None:
        super().__init__()
        self.label, self.chunk = label, chunk

    def compose(self) -> ComposeResult:
        from textual.widgets import Markdown  # markdown-it: with the first message, not at start

        chunk = self.chunk
        with Vertical():
            yield Static(f"{self.label} {chunk.title or 'untitled'}", classes="title", markup=False)  # `[S1]`
            yield Static(f"{chunk.kind} · {chunk.source}: {chunk.location} — Esc closes", classes="hint", markup=False)
            with VerticalScroll():
                yield Markdown(chunk.text or _NOT_KEPT.format(title=chunk.title.replace('"', "")))


class Picker(ModalScreen[str | None]):
    """Choose one of a list (code blocks, revisions): Enter picks, Esc closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Close")]

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
        about = f"{language or 'text'}, {counted(lines, 'line')}  "
        options.append(Option(Text.assemble((f"{number:>3}  ", "bold"), (about, "dim"), first), id=str(number)))
    return options


def revision_options(revisions: Sequence[Revision], current: int) -> list[Option]:
    """Every revision: validity, recipe and what changed against the one it was made from (named when that is
    not the one before it: made after an undo)."""
    from ..flows import has_errors

    options = []
    for revision in revisions:
        mark = "▶ " if revision.number == current else "  "
        refused = "invalid" if has_errors(revision.diagnostics) else "policy"  # Kestra accepts it
        verdict = ("valid", "green") if revision.valid else (refused, "red")
        changes = "; ".join(c.line() for c in revision.diff.summary.changes[:3]) if revision.diff else "first"
        made_from = revision.previous
        branch = f"from {made_from}: " if made_from is not None and made_from != revision.number - 1 else ""
        label = Text.assemble(
            (f"{mark}{revision.number:>3}  ", "bold"), verdict, (f"  {revision.recipe}  ", "dim"), branch + changes
        )
        options.append(Option(label, id=str(revision.number)))
    return options
