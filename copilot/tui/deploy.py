"""The Kestra half of the app: diff against the deployed flow, deploy after a confirmation showing that diff,
test-run with an inputs form, and repair from a failed run. A mixin of `CopilotApp` (app.py)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from rich.syntax import Syntax
from textual import work
from textual.widgets import Static, TabbedContent

from .inputs import typed_inputs, wire
from .screens import ConfirmDeploy, RunInputs

__all__ = ["KestraActions"]


class KestraActions:
    """Deploy, test-run, repair. Mixed into the app, whose `settings`, `engine`, `say` and widgets it uses."""

    settings: Any
    engine: Any
    last_failure: Any
    approvals: Any  # engine.consent.Approvals: what the user said yes to in this conversation
    test_running: bool  # a test-run is going on (one at a time)
    run_generation: int  # bumped when another flow is taken up: a stopped run's last events are not shown
    changing_flow_is_blocked: Callable[[], Awaitable[bool]]  # conversation.py

    def _kestra_ready(self) -> str | None:
        """Why deploy/run cannot happen now, or None."""
        if not self.settings.kestra_url:
            return "No Kestra server: set KESTRA_URL (and KESTRA_USERNAME/KESTRA_PASSWORD or KESTRA_API_TOKEN)."
        if self.engine is None or self.engine.current is None:
            return "There is no flow yet."
        if not self.engine.current.valid:
            return f"Revision {self.engine.current.number} has problems; it is not deployed. Ask to fix them."
        return None

    def action_deploy(self) -> None:
        self.deploy_flow()

    def action_run(self) -> None:
        self.run_flow("")

    def action_diff_server(self) -> None:
        self.diff_against("server")

    # --- diff ---------------------------------------------------------------------------------------
    @work(group="kestra")
    async def diff_against(self, argument: str) -> None:
        """`/diff N` against revision N; `/diff server` against the flow deployed on Kestra."""
        from ..errors import CopilotError
        from ..flows import diff_flows
        from ..kestra import flow_key
        from ..workspace import Workspace

        current = self.engine.current if self.engine else None
        if current is None:
            await self.say("There is no flow yet.", "error")
            return
        if argument == "server":
            if not self.settings.kestra_url:
                await self.say("No Kestra server: set KESTRA_URL.", "error")
                return
            try:
                async with Workspace(self.settings).kestra() as client:
                    deployed = await client.get_flow(*flow_key(current.yaml))
            except CopilotError as exc:
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
        if argument == "server":
            changes = f"{len(diff.summary.changes)} change(s)" if diff.changed else "no differences"
            await self.say(f"Against {label}: {changes} (Diff tab).", "system")

    # --- deploy -------------------------------------------------------------------------------------
    @work(group="kestra")
    async def deploy_flow(self) -> None:
        """Deploy the current revision (kestra.review: the allow-list and the server's verdict first), after a
        confirmation showing the diff against what the server has."""
        from ..errors import CopilotError
        from ..kestra import deploy_reviewed, review_deploy, ui_link
        from ..workspace import Workspace

        problem = self._kestra_ready() or self._test_run_going()
        if problem:
            await self.say(problem, "error")
            return
        revision = self.engine.current
        try:
            async with Workspace(self.settings).kestra() as client:
                review = await review_deploy(
                    client, revision.yaml, allow=self.settings.deploy_namespaces, label=f"revision {revision.number}"
                )
                where = f"{review.namespace}.{review.flow_id}"
                if review.problems:
                    found = "\n".join(f"- {d.format('flow')}" for d in review.problems)
                    await self.say(f"**Kestra refuses this flow; nothing was deployed.**\n\n{found}", "error")
                    return
                if review.up_to_date:
                    await self.say(f"{where} is already up to date on the server.", "system")
                    return
                if review.deployed is not None and review.diff is not None:
                    body: Any = Syntax(review.diff.unified, "diff")
                    what = f" (server revision {review.deployed.revision} → the diff below)"
                else:
                    body, what = Syntax(revision.yaml, "yaml"), " (new flow)"
                title = f"Deploy {where} to {client.url}?{what}"
                capabilities = ["What it can do:", *(f"  {line}" for line in review.capabilities.lines())]
                if not await self.push_screen_wait(ConfirmDeploy(title, body, capabilities=capabilities)):
                    await self.say("Not deployed.", "system")
                    return
                result = await deploy_reviewed(client, review, revision.yaml)
                link = ui_link(client, review.namespace, review.flow_id)
        except CopilotError as exc:
            await self.say(f"**{exc}** {exc.hint or ''}", "error")
            return
        await self.say(f"Deployed {where}, server revision {result.revision}: {link}", "system")

    # --- test-run -----------------------------------------------------------------------------------
    @work(group="kestra")
    async def run_flow(self, argument: str) -> None:
        """Test-run: deploy to the test namespace, run, follow, repair from failures (engine/testrun.py). One
        at a time; a new flow or a resumed session stops it (its execution is killed)."""
        problem = self._kestra_ready() or self._test_run_going()
        if problem:
            await self.say(problem, "error")
            return
        self.test_running = True  # set before the first await: a second F5 sees it
        try:
            await self._test_run(argument)
        finally:
            self.test_running = False

    def _test_run_going(self) -> str | None:
        if self.test_running:
            return "A test-run is going on: wait for its verdict (a new flow, Ctrl+N, stops it)."
        return None

    def stop_test_run(self) -> bool:
        """Stop a test-run that is going on (its execution is killed, its test copy removed); whether one was."""
        if not self.test_running:
            return False
        for worker in self.workers:
            if worker.group == "kestra":
                worker.cancel()
        return True

    async def _test_run(self, argument: str) -> None:
        from ..engine.consent import Approvals
        from ..engine.testrun import test_run
        from ..errors import CopilotError
        from ..flows import parse_flow
        from ..workspace import Workspace

        specs = [i for i in parse_flow(self.engine.current.yaml).data.get("inputs") or [] if isinstance(i, dict)]
        # `/run --keep …`: leave the test copy on the server after the run
        argument, kept = re.subn(r"(?:^|\s)--keep(?=\s|$)", " ", argument)
        keep = bool(kept)
        if argument.strip():
            try:
                inputs = typed_inputs(specs, argument)
            except (CopilotError, ValueError) as exc:
                await self.say(f"{exc} Usage: `/run [--keep] KEY=VALUE …`, or `/run` for a form.", "error")
                return
        elif specs:
            chosen = await self.push_screen_wait(RunInputs(specs))
            if chosen is None:
                await self.say("Not run.", "system")
                return
            inputs = {name: wire(value) for name, value in chosen.items()}  # typed, in Kestra's text form
        else:
            inputs = {}
        self.turn_usage = []
        if self.approvals is None:
            self.approvals = Approvals()
        self.query_one(TabbedContent).active = "tab-run"
        show = self._run_log(self.query_one("#run", Static))
        try:
            async with Workspace(self.settings).kestra() as client:
                result = await test_run(
                    self.engine,
                    client,
                    consent=self._consent,
                    approvals=self.approvals,
                    inputs=inputs,
                    namespace_suffix=self.settings.test_namespace_suffix,
                    allow=self.settings.deploy_namespaces,
                    keep=keep,
                    follow_timeout=self.settings.test_run_timeout,
                    on_event=show,
                )
        except CopilotError as exc:  # Kestra's errors, a refused consent, a namespace outside the allow-list
            await self.say(f"**{exc}** {exc.hint or ''}", "error")
            return
        if result.refused is not None:  # the engine is back on the revision that last ran
            self.show_revision(self.engine.current)
            await self.say(
                f"The repair (revision {result.refused_revision}) was not approved, so it was not run: revision "
                f"{self.engine.current.number}, the last one run, is current again ({self.key_label('redo')} shows "
                "the repair).",
                "system",
            )
        repairs = f" after {len(result.repairs)} repair(s)" if result.repairs else ""
        follow_up = "" if result.passed else f" {self.key_label('repair')} or `/repair` asks for a fix from its logs."
        await self.say(f"Test run: **{result.state}**{repairs}.{follow_up}", "system" if result.passed else "error")

    async def _consent(self, request: Any) -> bool:
        """A test-run's consent (engine/consent.py): the dialog with what the flow can do and the diff."""
        if self.settings.sandbox_test_runs:
            return True
        body: Any = (
            Syntax(request.diff.unified, "diff") if request.diff is not None else Syntax(request.flow_yaml, "yaml")
        )
        title = f"Test-run {request.namespace}.{request.flow_id} on {request.server}?"
        if not request.first:
            title = f"A repair changed what the flow can do. {title}"
        dialog = ConfirmDeploy(title, body, capabilities=request.summary()[1:], yes="Deploy and run")
        return bool(await self.push_screen_wait(dialog))

    def _run_log(self, pane: Static) -> Any:
        """The test-run's event handler: task states and log lines into the Run tab, repairs into the panes
        and, each as a turn of its own, into the session store."""
        from ..engine.testrun import GOOD_STATES, CleanedUp, Deployed, RepairStarted, RunFinished, recording_repairs
        from ..kestra import Execution, LogEntry
        from ..kestra.watch import LiveLogsStopped

        lines: list[str] = []
        record = recording_repairs(self._recorder)
        generation = self.run_generation
        repair = "Test-run repair"  # how the Sources tab names the repair turn

        def show(event: Any) -> None:
            nonlocal repair
            if generation != self.run_generation:  # stopped for another flow: its clean-up is not this flow's
                return
            record(event)
            if isinstance(event, RepairStarted):
                repair = f"Test-run repair {event.number}"
                lines.append(f"→ asking for a repair from the run ({event.number})")
            elif isinstance(event, Deployed):
                lines.append(f"deployed {event.namespace}.{event.flow_id} (server revision {event.revision})")
                lines.extend(f"    {change}" for change in event.changes)
            elif isinstance(event, CleanedUp):
                where = f"{event.namespace}.{event.flow_id}"
                lines.append(
                    f"deleted the test flow {where}"
                    if event.deleted
                    else f"the test flow {where} is still there: {event.problem or 'kept'}"
                )
            elif isinstance(event, Execution):
                states = "  ".join(f"{run.task_id}:{run.state}" for run in event.task_runs)
                line = f"{event.id} {event.state}  {states}".rstrip()
                if line not in lines[-1:]:  # the stream repeats the state it started in
                    lines.append(line)
            elif isinstance(event, LogEntry):
                lines.append(f"    {event.task_id or '':<16} {event.level:<5} {event.message}")
            elif isinstance(event, LiveLogsStopped):
                lines.append(f"    (live logs stopped: {event.reason}; the failing task's are read at the end)")
            elif isinstance(event, RunFinished):  # the last failed run, for F7 (even if a later step errs)
                self.last_failure = None if event.execution.state in GOOD_STATES else event
                where = f" at task {event.failing_task}" if event.failing_task else ""
                lines.append(f"→ {event.execution.state}{where}")
                lines.extend(f"    {line}" for line in event.error_logs[-5:])
            else:
                self.turn_event(event, repair)
            pane.update("\n".join(lines[-200:]))

        return show

    async def action_repair(self) -> None:
        """Repair from failure: the last failed test-run's error logs go to the model, as a chat turn."""
        from ..engine.testrun import repair_request

        if await self.changing_flow_is_blocked():
            return
        if self.last_failure is None:
            await self.say("No failed test-run to repair from: `/run` first.", "system")
            return
        if self.streaming:
            await self.say("A reply is still streaming: wait for it, or press Esc to stop it.", "system")
            return
        failure, self.last_failure = self.last_failure, None
        where = f"task `{failure.failing_task}`" if failure.failing_task else "the run"
        shown = f"Repair from the failure of {where} ({failure.execution.state})."
        await self.say(shown, "user")
        self.start_turn(repair_request(self.engine, failure), shown)
