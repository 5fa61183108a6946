"""The tabs beside the conversation: the current flow with its diagnostics, the topology, the diff, the
sources of each turn, the test-run. Their content is mounted just after the first frame (Lazy), the Flow
tab's too (it says there is no flow yet), and the tabs are laid out and drawn from the second frame on:
the first takes keys sooner. (They are composed with the screen all the same: a subtree mounted later
could be torn down half-mounted by a quit in that instant, and Textual's tabs fail on it.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.lazy import Lazy
from textual.widgets import Static, TabbedContent, TabPane

from .runlog import RunLog
from .widgets import FlowPane, SourcesPane, TopologyTree, WidgetOptions

if TYPE_CHECKING:
    from ..events import Revision
    from ..flows import FlowDiff

__all__ = ["SidePanel"]


class SidePanel(Vertical):
    def __init__(self, **options: Unpack[WidgetOptions]) -> None:
        super().__init__(**options)
        self.add_class("-first-frame")  # app.tcss: its place kept, nothing in it drawn

    def compose(self) -> ComposeResult:
        with TabbedContent():
            with TabPane("Flow", id="tab-flow"):
                yield Lazy(FlowPane(id="flow-pane"))
            with TabPane("Topology", id="tab-topology"):
                yield Lazy(TopologyTree("No flow yet.", id="topology"))
            with TabPane("Diff", id="tab-diff"):
                yield Lazy(VerticalScroll(Static("No changes yet.", id="diff")))
            with TabPane("Sources", id="tab-sources"):
                yield Lazy(SourcesPane(id="sources-pane"))
            with TabPane("Run", id="tab-run"):
                yield Lazy(VerticalScroll(RunLog(id="run")))

    def on_mount(self) -> None:
        self.call_after_refresh(self.remove_class, "-first-frame")

    @property
    def active(self) -> str:
        """The tab shown (`tab-flow`, `tab-diff` …)."""
        return self.query_one(TabbedContent).active

    @active.setter
    def active(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    @property
    def run_log(self) -> RunLog:
        return self.query_one("#run", RunLog)

    @property
    def sources(self) -> SourcesPane:
        return self.query_one(SourcesPane)

    def show_revision(self, revision: Revision | None) -> None:
        """Every tab on `revision`; None (before the first revision, a new flow) empties them."""
        diff = self.query_one("#diff", Static)
        if revision is None:
            self.query_one(FlowPane).clear()
            self.query_one(TopologyTree).clear().root.set_label("No flow yet.")
            diff.update("No changes yet.")
            return
        from rich.syntax import Syntax  # Pygments: with the first flow, not at start

        self.query_one(FlowPane).show(revision)
        self.query_one(TopologyTree).show(revision.yaml)
        if revision.diff is not None and revision.diff.changed:
            diff.update(Syntax(revision.diff.unified, "diff"))
        else:
            diff.update("No changes against the previous revision.")

    def show_diff(self, diff: FlowDiff, label: str) -> None:
        """The Diff tab on the current revision against `label` (another revision, the server's)."""
        from rich.syntax import Syntax

        pane = self.query_one("#diff", Static)
        pane.update(Syntax(diff.unified, "diff") if diff.changed else f"No differences with {label}.")
        self.active = "tab-diff"

    def note(self, text: str) -> None:
        """A word over the flow's problems while a turn validates and repairs."""
        self.query_one(FlowPane).note(text)

    def forget_runs(self) -> None:
        """The Run tab empty again, once it is mounted (another flow is taken up)."""
        for pane in self.query("#run").results(RunLog):
            pane.clear()
