"""The chat's own widgets: the input (history, multi-line paste), the flow with its diagnostics at their
lines, the sources of each turn, and the status bar (a message of the conversation: message.py)."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypedDict, Unpack

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, OptionList, Select, Static, Tree
from textual.widgets.option_list import Option
from textual.widgets.tree import TreeNode

from ..terminal import printable, strip_controls_in_textual
from ..wording import counted
from .status import StatusPart, fit

if TYPE_CHECKING:
    from ..events import Revision
    from ..flows import Diagnostic, TopologyNode
    from ..retrieval.chunks import Chunk
    from ..retrieval.hybrid import Hit

strip_controls_in_textual()  # the net under `printable` below, for every widget of the app

__all__ = [
    "FlowPane",
    "FlowView",
    "PromptInput",
    "SourcesPane",
    "StatusBar",
    "TopologyTree",
    "TurnSources",
    "WidgetOptions",
    "code_blocks",
]


class WidgetOptions(TypedDict, total=False):
    """What every Textual widget takes to be found and styled; the widgets here pass it on as given."""

    name: str | None
    id: str | None
    classes: str | None


_FENCE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+.-]*)[^\n]*\n(?P<code>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a Markdown text, as (language, code), in order."""
    return [(match["lang"], match["code"]) for match in _FENCE.finditer(markdown)]


class PromptInput(Input):
    """The input: history on up/down, and multi-line pastes kept whole.

    Textual's Input keeps only the first line of a paste. Here a paste of several lines shows as a
    `[pasted text #1: 42 lines]` marker and `expand_pastes()` puts the text back when the message is sent —
    so a flow or a stack trace can be pasted into a one-line input without losing a line. Pastes are
    numbered for the whole session, so a message recalled from the history still expands.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Earlier input", show=False),
        Binding("down", "history(1)", "Later input", show=False),
    ]

    def __init__(self, *, placeholder: str = "", **options: Unpack[WidgetOptions]) -> None:
        # Focus coming back (a click, a key typed elsewhere) keeps the draft: no select-all for a key to replace.
        super().__init__(placeholder=placeholder, select_on_focus=False, **options)
        self.history: list[str] = []
        self._cursor = 0
        self.pastes: dict[str, str] = {}

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

    def _on_paste(self, event: events.Paste) -> None:
        text = event.text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text.strip("\n"):
            return  # one line: Input's own handler (Textual calls it next, down the class hierarchy)
        event.prevent_default()  # not Input's handler, which would keep the first line only
        event.stop()
        marker = f"[pasted text #{len(self.pastes) + 1}: {text.strip(chr(10)).count(chr(10)) + 1} lines]"
        self.pastes[marker] = text.strip("\n")
        self.insert_text_at_cursor(marker)

    def expand_pastes(self, value: str) -> str:
        """The message with every paste marker replaced by the pasted text (on its own lines)."""
        for marker, text in self.pastes.items():
            value = value.replace(marker, f"\n{text}\n")
        return value.strip()


# --- the flow, with its diagnostics at their lines ------------------------------------------------------
MARKS = {"error": "●", "policy": "◆", "warning": "▲"}
TONES = {"error": "error", "policy": "error", "warning": "warning"}  # the theme colour of each severity


def _shown(diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    """Errors, policy findings and warnings (infos are for the eval reports), in the validator's order: by
    line, errors first."""
    return [d for d in diagnostics if d.severity.value in MARKS]


class FlowView(VerticalScroll, can_focus=True):
    """The flow's YAML, highlighted, with line numbers; under each line with diagnostics, its messages.

    The gutter marks the line (● error, ◆ policy, ▲ warning) and the messages follow it, coloured by severity. A
    line with diagnostics is a block of its own, so `jump(line)` brings exactly that line into view.
    """

    def __init__(self, **options: Unpack[WidgetOptions]) -> None:
        super().__init__(**options)
        self.code = ""  # the YAML shown, "" for none
        self.marked: dict[int, Static] = {}  # line → its block

    def compose(self) -> ComposeResult:
        yield Static("No flow yet.", classes="flow-empty")

    def clear(self, message: str = "No flow yet.") -> None:
        self.code, self.marked = "", {}
        self._replace([Static(message, classes="flow-empty")])

    def show(self, code: str, diagnostics: Sequence[Diagnostic]) -> None:
        from textual.highlight import highlight

        code = printable(code)  # `self.code` keeps what is shown; the revision keeps the flow as written
        lines = highlight(code, language="yaml").split("\n", allow_blank=True) if code else []
        if lines and not lines[-1].plain:
            lines.pop()  # the newline that ends the file
        width = max(2, len(str(len(lines))))
        by_line: dict[int, list[Diagnostic]] = {}
        for d in _shown(diagnostics):
            by_line.setdefault(d.line if d.line and d.line <= len(lines) else 0, []).append(d)
        blocks: list[Widget] = [self._note(d, 0) for d in by_line.pop(0, [])]  # no line: above the flow
        self.code, self.marked = code, {}
        pending: list[Content] = []

        def flush() -> None:
            if pending:
                blocks.append(Static(Content("\n").join(pending), classes="flow-code"))
                pending.clear()

        for number, line in enumerate(lines, 1):
            found = by_line.get(number)
            severity = found[0].severity.value if found else ""  # the line's worst
            tone = TONES.get(severity, "")
            gutter = Content.assemble(
                (f"{number:>{width}} ", "$text-muted" if not found else f"bold $text-{tone}"),
                (f"{MARKS[severity]} " if found else "  ", f"$text-{tone}" if found else ""),
            )
            if not found:
                pending.append(gutter + line)
                continue
            flush()
            block = Static(gutter + line, classes=f"flow-code marked {severity}")
            self.marked[number] = block
            blocks.append(block)
            blocks.extend(self._note(d, width + 1) for d in found)
        flush()
        self._replace(blocks or [Static("(empty flow)", classes="flow-empty")])

    def _note(self, diagnostic: Diagnostic, indent: int) -> Static:
        severity = diagnostic.severity.value
        where = "" if diagnostic.line else "flow: "
        text = Content.assemble(
            printable(f"└ {where}{severity}[{diagnostic.code}] {diagnostic.message}"),
            (printable(f"\n  hint: {diagnostic.hint}"), "$text-muted") if diagnostic.hint else "",
        )
        note = Static(text, classes=f"flow-note {severity}", markup=False)
        note.styles.padding = (0, 0, 0, indent)  # under the gutter's mark, whatever the line count
        return note

    def _replace(self, blocks: list[Widget]) -> None:
        with self.app.batch_update():
            self.remove_children()
            self.mount_all(blocks)
        self.scroll_home(animate=False)

    def jump(self, line: int) -> bool:
        """Scroll so that `line` (one with diagnostics) is in the middle of the view."""
        block = self.marked.get(line)
        if block is None:
            return False
        self.scroll_to_center(block, animate=False)
        return True


class FlowPane(Vertical):
    """The current flow (FlowView) over its problems list: Enter or a click on a problem shows its line."""

    def compose(self) -> ComposeResult:
        yield FlowView(id="flow")
        yield Static("", id="problems")
        problems = OptionList(id="problem-list")
        problems.display = False  # until there are some (not in on_mount: a quit may tear the list down first)
        yield problems

    def show(self, revision: Revision) -> None:
        self.query_one(FlowView).show(revision.yaml, revision.diagnostics)
        self.show_problems(revision.diagnostics, f"Revision {revision.number}")

    def clear(self, message: str = "No flow yet.") -> None:
        self.query_one(FlowView).clear(message)
        self.show_problems((), "")

    def note(self, text: str) -> None:
        """A word over the problems while a turn validates and repairs."""
        self.query_one("#problems", Static).update(text)

    def show_problems(self, diagnostics: Sequence[Diagnostic], title: str) -> None:
        shown = _shown(diagnostics)
        listing = self.query_one("#problem-list", OptionList)
        listing.clear_options()
        listing.display = bool(shown)
        header = self.query_one("#problems", Static)
        if not title:
            header.update("")
            return
        if not shown:
            header.update(Content.assemble((f"{title}: ", "bold"), ("valid ✓", "$text-success")))
            return
        tally = [(sum(d.severity.value == severity for d in shown), severity) for severity in MARKS]
        counts = ", ".join(f"{n} {word}{'s' if n > 1 else ''}" for n, word in tally if n)
        header.update(Content.assemble((f"{title}: ", "bold"), counts, (" · Enter/click: go to its line", "dim")))
        for index, d in enumerate(shown):
            severity = d.severity.value
            where = f"{d.line}:{d.column or 1}" if d.line else "flow"
            prompt = Content.assemble(
                (f"{MARKS[severity]} {where} ", f"$text-{TONES[severity]}"),
                (f"{d.code} ", "bold"),
                printable(d.message),
            )
            listing.add_option(Option(prompt, id=f"{index}:{d.line or 0}"))

    @on(OptionList.OptionSelected, "#problem-list")
    def _jump(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        line = int((event.option.id or "0:0").split(":")[1])
        if line:
            self.query_one(FlowView).jump(line)


# --- the topology -----------------------------------------------------------------------------------
class TopologyTree(Tree[None]):
    """The flow as a tree (flows.flow_topology): inputs, triggers, tasks with their nesting and branches."""

    def show(self, flow_yaml: str) -> None:
        from ..flows import FlowError, flow_topology, parse_flow

        self.clear()
        try:
            root = flow_topology(parse_flow(flow_yaml).data)
        except FlowError as exc:
            self.root.set_label(f"(cannot read the flow: {exc})")
            return
        self.root.set_label(root.label)

        def add(node: TopologyNode, parent: TreeNode[None]) -> None:
            for child in node.children:
                branch = parent.add(child.label, expand=True) if child.children else parent.add_leaf(child.label)
                add(child, branch)

        add(root, self.root)
        self.root.expand()


# --- sources, per turn ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TurnSources:
    number: int  # the turn, 1-based in this conversation
    request: str
    hits: tuple[Hit, ...]


class _TurnSelect(Select[int]):
    """The Sources tab's turn picker. A quit in the instant it mounts (just after the first frame) removes its
    overlay before Textual's Select sets it up on mount: that is the app ending, not an error."""

    def _on_mount(self, event: events.Mount) -> None:
        from textual.css.query import NoMatches
        from textual.widget import Widget

        # Textual calls the handler of each class of the MRO: without this, Select's would run again, unguarded.
        event.prevent_default()
        with contextlib.suppress(NoMatches):  # its overlay is gone only when the app is being torn down
            super()._on_mount(event)
        Widget._on_mount(self, event)  # what the classes after Select do on mount


class SourcesPane(Vertical):
    """The retrieved chunks of the selected turn (the newest by default), best score first. Each keeps the
    number the model saw it under (`[S3]`, as the reply cites it); the turn picker always names the turn shown."""

    @dataclass
    class Open(Message):
        """The user opened a source: show it in full."""

        label: str
        chunk: Chunk

    def __init__(self, **options: Unpack[WidgetOptions]) -> None:
        super().__init__(**options)
        self.turns: list[TurnSources] = []
        self.selected: TurnSources | None = None

    def compose(self) -> ComposeResult:
        # No blank entry: the picker always shows the turn listed (a placeholder until the first turn).
        yield _TurnSelect([("No turn yet", 0)], allow_blank=False, value=0, id="source-turn")
        yield Static("No sources yet.", id="sources")
        hidden = OptionList(id="source-list")
        hidden.display = False  # shown with the first sources (set here: a quit while mounting leaves no children)
        yield hidden

    def reset(self) -> None:
        """No turn yet: another conversation is taken up (a resumed session lists its own turns again)."""
        self.turns, self.selected = [], None
        select = self.query_one("#source-turn", Select)
        with self.prevent(Select.Changed):
            select.set_options([("No turn yet", 0)])
            select.value = 0
        self.query_one("#sources", Static).update("No sources yet.")
        listing = self.query_one("#source-list", OptionList)
        listing.clear_options()
        listing.display = False

    def add_turn(self, request: str, hits: Sequence[Hit]) -> TurnSources:
        turn = TurnSources(len(self.turns) + 1, request, tuple(hits))
        self.turns.append(turn)
        options = [
            (printable(f"Turn {t.number}: {' '.join(t.request.split())[:48]} ({len(t.hits)})"), t.number)
            for t in self.turns
        ]
        select = self.query_one("#source-turn", Select)
        with self.prevent(Select.Changed):
            select.set_options(reversed(options))
        self.select_turn(turn.number)
        return turn

    def select_turn(self, number: int) -> bool:
        """Show turn `number`'s sources; False when there is no such turn."""
        if not 1 <= number <= len(self.turns):
            return False
        self.selected = turn = self.turns[number - 1]
        select = self.query_one("#source-turn", Select)
        if select.value != number:
            with self.prevent(Select.Changed):
                select.value = number
        listing = self.query_one("#source-list", OptionList)
        listing.clear_options()
        listing.display = bool(turn.hits)
        about = self.query_one("#sources", Static)
        if not turn.hits:
            about.update(f"No sources for turn {number} (is the index built?).")
            return True
        about.update(f"Turn {number}: {counted(len(turn.hits), 'source')}, best first — Enter or click opens one.")
        for index, hit in sorted(enumerate(turn.hits, 1), key=lambda numbered: -numbered[1].score):
            chunk = hit.chunk
            label = Content.assemble(
                (f"[S{index}] ", "bold"),
                (printable(f"{chunk.title or 'untitled'}\n"), "bold"),
                (printable(f"     {chunk.kind} · {chunk.source}: {chunk.location}{_score(hit.score)}"), "dim"),
            )
            listing.add_option(Option(label, id=str(index)))
        listing.highlighted = 0
        return True

    @on(Select.Changed, "#source-turn")
    def _picked(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, int):
            self.select_turn(event.value)

    @on(OptionList.OptionSelected, "#source-list")
    def _open(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.selected is not None:
            index = int(event.option.id or 1)
            label = f"[S{index}] (turn {self.selected.number})"
            self.post_message(self.Open(label, self.selected.hits[index - 1].chunk))


def _score(score: float) -> str:
    """` · score 0.812`; nothing for a source a resumed session recorded without its score."""
    return "" if math.isnan(score) else f" · score {score:.3f}"


# --- the status bar ---------------------------------------------------------------------------------
class StatusBar(Static):
    """One line: model, recipe, tokens and cost, index, Kestra — shortened to fit (status.fit)."""

    def __init__(self, content: str = "", **options: Unpack[WidgetOptions]) -> None:
        super().__init__(content, **options)
        self.parts: tuple[StatusPart, ...] = ()

    def show(self, parts: Sequence[StatusPart]) -> None:
        self.parts = tuple(parts)
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        if self.parts:
            width = self.content_size.width or 1000
            self.update(fit(self.parts, width))
