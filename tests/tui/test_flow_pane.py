"""The flow pane: every diagnostic at its line (gutter mark and message, by severity), and the problems
list jumping to the line."""

import asyncio
from pathlib import Path
from typing import Any

from textual.color import Color

from copilot.tui.widgets import FlowView
from tests.fakes.gemini import FakeGemini, Reply
from tests.tui.pilot import running, send, settings, settle

LOGS = "".join(
    f"  - id: log{n}\n    type: io.kestra.plugin.core.log.Log\n    message: line {n}\n" for n in range(1, 21)
)
# An unknown property (an error) early, an Enterprise-only one (a warning) at the end, 60+ lines apart.
PROBLEMS = f"""id: taxi
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
    colour: red
{LOGS}  - id: wait
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT1S
    workerGroup:
      key: gpu
"""
COLOUR_LINE = 7
WORKER_LINE = PROBLEMS.splitlines().index("    workerGroup:") + 1


def block_after(view: FlowView, block: Any) -> Any:
    children = list(view.children)
    return children[children.index(block) + 1]


def test_each_diagnostic_is_shown_under_its_line_by_severity(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            gemini.script(Reply(f"```yaml\n{PROBLEMS}```"))  # every repair answers the same: it stays invalid
            await send(pilot, "log a lot")
            await settle(app, pilot)
            view = app.query_one("#flow", FlowView)
            assert view.code == PROBLEMS and set(view.marked) == {COLOUR_LINE, WORKER_LINE}
            colours = app.get_css_variables()

            error_line = view.marked[COLOUR_LINE]
            assert error_line.content.plain == f"{COLOUR_LINE:>2} ●     colour: red"
            assert {"marked", "error"} <= error_line.classes
            note = block_after(view, error_line)
            assert {"flow-note", "error"} <= note.classes
            assert note.content.plain.startswith("└ error[unknown-property] Unknown property `colour` in task 'hello'")
            assert note.styles.color == Color.parse(colours["text-error"])

            warning_line = view.marked[WORKER_LINE]
            assert warning_line.content.plain == f"{WORKER_LINE} ▲     workerGroup:"
            note = block_after(view, warning_line)
            assert {"flow-note", "warning"} <= note.classes and "warning[enterprise-only]" in note.content.plain
            assert note.styles.color == Color.parse(colours["text-warning"])
            assert block_after(view, note).content.plain == f"{WORKER_LINE + 1}         key: gpu"  # the flow goes on

            # The lines in between are there, numbered, unmarked, in order.
            text = "\n".join(child.content.plain for child in view.children if "flow-code" in child.classes)
            numbered = [line.split(" ", 2) for line in text.splitlines()]
            assert [int(n[0] or n[1]) for n in numbered] == list(range(1, len(PROBLEMS.splitlines()) + 1))

            header = str(app.query_one("#problems").content)
            assert header.startswith("Revision 1: 1 error, 1 warning")

    asyncio.run(scenario())


def test_a_policy_finding_is_marked_as_such(gemini: FakeGemini, tmp_path: Path) -> None:
    """Kestra accepts a password written into a flow; the project's policy does not: ◆ in the gutter, `policy`
    in the note, the header and the problems list, in the error colour (it blocks a deploy as an error does)."""
    flow = "id: taxi\nnamespace: company.team\nvariables:\n  db_password: hunter2x\ntasks:\n" + LOGS

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            gemini.script(Reply(f"```yaml\n{flow}```"))  # every repair answers the same
            await send(pilot, "log a lot")
            await settle(app, pilot)
            view = app.query_one("#flow", FlowView)
            line = view.marked[4]
            assert line.content.plain == " 4 ◆   db_password: hunter2x" and {"marked", "policy"} <= line.classes
            note = block_after(view, line)
            assert note.content.plain.startswith("└ policy[hardcoded-secret] `variables.db_password`")
            assert note.styles.color == Color.parse(app.get_css_variables()["text-error"])
            assert str(app.query_one("#problems").content).startswith("Revision 1: 1 policy ·")
            listing = app.query_one("#problem-list")
            assert str(listing.get_option_at_index(0).prompt).startswith("◆ 4:3 hardcoded-secret")

    asyncio.run(scenario())


def test_the_problems_list_jumps_to_the_line(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            gemini.script(Reply(f"```yaml\n{PROBLEMS}```"))
            await send(pilot, "log a lot")
            await settle(app, pilot)
            view = app.query_one("#flow", FlowView)
            listing = app.query_one("#problem-list")
            prompts = [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]
            assert prompts[0].startswith(f"● {COLOUR_LINE}:5 unknown-property Unknown property `colour`")
            assert prompts[1].startswith(f"▲ {WORKER_LINE}:5 enterprise-only")

            def visible(line: int) -> bool:
                return view.scrollable_content_region.contains_region(view.marked[line].region)

            assert visible(COLOUR_LINE) and not visible(WORKER_LINE) and view.scroll_y == 0
            await pilot.click("#problem-list", offset=(4, 1))  # the second problem: the warning
            await pilot.pause()
            assert visible(WORKER_LINE) and not visible(COLOUR_LINE) and view.scroll_y > 0
            listing.focus()
            listing.highlighted = 0
            await pilot.press("enter")
            await pilot.pause()
            assert visible(COLOUR_LINE)

    asyncio.run(scenario())
