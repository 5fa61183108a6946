"""Deploy, diff against the server, test-run and repair — the TUI against the loopback Gemini and Kestra."""

import asyncio
from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from textual.widgets import Static

from tests.engine.test_testrun import BROKEN, divides_by_zero
from tests.engine.test_turn import flow_of
from tests.fakes.gemini import FakeGemini, Reply
from tests.fakes.kestra import FakeKestra
from tests.tui.pilot import (
    approve,
    ask,
    flow_code,
    messages,
    resumed,
    running,
    screen,
    send,
    settings,
    settle,
    until,
    with_kestra,
)

INVALID = BROKEN.replace('    format: "{{ 1 / 0 }}"\n', '    format: "{{ 1 / 0 }}"\n    colour: red\n')
EDITED = BROKEN.replace(
    "```\n",
    '  - id: announce\n    type: io.kestra.plugin.core.log.Log\n    message: "{{ outputs.compute.value }}"\n```\n',
)
FIXED = EDITED.replace('"{{ 1 / 0 }}"', '"{{ 1 / 1 }}"')


def body(dialog: Any) -> str:
    content: Any = dialog.query_one("#dialog-body").content
    assert isinstance(content, Syntax)
    return content.code


def test_a_whole_conversation_generate_repair_edit_diff_deploy_run_fail_repair_succeed(
    gemini: FakeGemini, tmp_path: Path
) -> None:
    logs = {"compute": [("ERROR", "ArithmeticException: / by zero")]}

    async def scenario(kestra: FakeKestra) -> None:
        async with running(with_kestra(settings(tmp_path), kestra)) as (app, pilot):
            # generate, and repair from the validator's diagnostics
            gemini.script(Reply(INVALID), Reply(BROKEN))
            await send(pilot, "compute a value")
            await settle(app, pilot)
            assert str(app.query("Collapsible.repair").last().title).startswith("Repair (attempt 2): valid ✓")
            assert flow_code(app) == flow_of(BROKEN) and app.conversation.engine.current.number == 1
            assert "Unknown property `colour`" in gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]

            # edit, and the diff against the previous revision
            await ask(app, pilot, gemini, EDITED, "then log the value")
            assert app.conversation.engine.current.number == 2 and "id: announce" in flow_code(app)
            await send(pilot, "/diff 1")
            await settle(app, pilot)
            diff: Any = app.query_one("#diff").content
            assert isinstance(diff, Syntax) and "+  - id: announce" in diff.code
            assert app.query_one("TabbedContent").active == "tab-diff"

            # deploy: a new flow, the confirmation shows all of it
            await pilot.press("f6")
            dialog = await screen(app, pilot, "ConfirmDeploy")
            title = str(dialog.query_one("#dialog-title").content)
            assert title == f"Deploy company.team/report to {kestra.url}? (new flow)"
            assert body(dialog) == flow_of(EDITED)
            await until(pilot, lambda: not app.screen.query_one("#yes").disabled, "the yes button")
            await pilot.press("tab", "enter")  # no single key says yes: Tab to the button, Enter
            await settle(app, pilot)
            assert "Deployed revision 2 as company.team/report, server revision 1" in "\n".join(messages(app))
            assert kestra.flows[("company.team", "report")] == flow_of(EDITED)

            # test-run: it fails at compute, the model repairs it from the logs, the second run succeeds
            gemini.script(Reply(FIXED))
            await send(pilot, "/run")
            title, _ = await approve(app, pilot)  # the test-run asks first: where, what the flow can do, the flow
            assert title.startswith("Test-run company.team.copilot_test/report")
            await settle(app, pilot)
            run_log = str(app.query_one("#run").content)
            assert "→ FAILED at task compute" in run_log and "→ SUCCESS" in run_log
            assert "ERROR ArithmeticException: / by zero" in run_log.split("→ FAILED")[0]  # streamed live
            assert "Test run of revision 3: **SUCCESS** after 1 repair." in messages(app)
            assert "/ by zero" in gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]
            assert flow_code(app) == flow_of(FIXED) and app.conversation.engine.current.number == 3
            assert kestra.flows[("company.team", "report")] == flow_of(EDITED)  # a test-run deploys elsewhere
            turns = app.conversation.store.turns(
                app.conversation.session
            )  # the repair is a turn of the session, its revision too
            assert len(turns) == 3 and "/ by zero" in turns[-1]["request"] and turns[-1]["status"] == "done"
            assert [r["turn"] for r in app.conversation.store.revisions(app.conversation.session)] == [1, 2, 3]

            # the repaired revision against the server, then deployed: the modal shows only what changed
            await send(pilot, "/diff server")
            await settle(app, pilot)
            diff = app.query_one("#diff").content
            assert isinstance(diff, Syntax)
            assert '-    format: "{{ 1 / 0 }}"' in diff.code and '+    format: "{{ 1 / 1 }}"' in diff.code
            assert any("Against server revision 1: 1 change" in m for m in messages(app))
            await send(pilot, "/deploy")
            dialog = await screen(app, pilot, "ConfirmDeploy")
            assert "(server revision 1 → the diff below)" in str(dialog.query_one("#dialog-title").content)
            changed = [
                line for line in body(dialog).splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
            ]
            assert changed == ['-    format: "{{ 1 / 0 }}"', '+    format: "{{ 1 / 1 }}"']
            await until(pilot, lambda: not dialog.query_one("#yes").disabled, "the yes button")
            await pilot.click("#yes")
            await settle(app, pilot)
            assert "Deployed revision 3 as company.team/report, server revision 2" in "\n".join(messages(app))

            live = messages(app)
            session = app.conversation.session

        # another day: the session resumed shows the conversation as it was — the invalid first attempt and
        # its problems, the repair folded under what it came to, the deploys, the test-run and its verdict
        async with running(with_kestra(settings(tmp_path), kestra)) as (app, pilot):
            await send(pilot, f"/resume {session}")
            await settle(app, pilot)
            resumed = messages(app)
            told = [m for m in live[2:] if not m.startswith("Against server")]  # not the greeting, nor a /diff
            assert resumed == [*told, f"Resumed session `{session}` at revision 3."]  # word for word
            assert "Test run of revision 2: **FAILED** at task `compute`." in told
            first, second = app.query("Collapsible.repair")
            assert str(first.title).startswith("Repair (attempt 2): valid ✓")
            assert "colour" in str(first.query_one(".repair-diff", Static).content.code)  # the diff it made
            assert str(second.title).startswith("Repair 1 from the test-run: valid ✓")  # the test-run's, folded
            diff = second.query_one(".repair-diff", Static).content.code
            assert "--- revision 2" in diff and '+    format: "{{ 1 / 1 }}"' in diff  # against the flow that ran

    with FakeKestra(outcome_rule=divides_by_zero, task_logs=logs) as kestra:
        asyncio.run(scenario(kestra))
        assert kestra.flows[("company.team", "report")] == flow_of(FIXED)
        assert kestra.revisions[("company.team", "report")] == 2
        assert ("company.team.copilot_test", "report") not in kestra.flows  # the test copy was deleted after its run


def test_diff_server_and_deploy_say_what_the_server_has(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario(kestra: FakeKestra) -> None:
        async with running(with_kestra(settings(tmp_path), kestra)) as (app, pilot):
            await send(pilot, "/diff server")
            await settle(app, pilot)
            assert messages(app)[-1] == "There is no flow yet."
            await ask(app, pilot, gemini, FIXED, "compute a value and log it")
            await pilot.press("f4")  # diff against the server
            await settle(app, pilot)
            assert messages(app)[-1] == "The server has no such flow yet: it would be new."
            await pilot.press("f6")
            await screen(app, pilot, "ConfirmDeploy")
            await pilot.press("escape")
            await settle(app, pilot)
            assert messages(app)[-1] == "Not deployed." and kestra.flows == {}
            await pilot.press("f6")
            await screen(app, pilot, "ConfirmDeploy")
            await until(pilot, lambda: not app.screen.query_one("#yes").disabled, "the yes button")
            await pilot.press("tab", "enter")  # no single key says yes: Tab to the button, Enter
            await settle(app, pilot)
            await send(pilot, "/diff server")
            await settle(app, pilot)
            assert str(app.query_one("#diff").content) == "No differences with server revision 1."
            await send(pilot, "/deploy")
            await settle(app, pilot)
            assert messages(app)[-1] == "company.team/report is already up to date on the server."
            assert type(app.screen).__name__ == "Screen" and kestra.revisions[("company.team", "report")] == 1

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))


def test_the_chat_deploy_checks_the_allow_list_and_the_servers_verdict(gemini: FakeGemini, tmp_path: Path) -> None:
    from dataclasses import replace

    async def scenario(kestra: FakeKestra) -> None:
        config = replace(with_kestra(settings(tmp_path), kestra), deploy_namespaces="sandbox")
        async with running(config) as (app, pilot):
            await ask(app, pilot, gemini, FIXED, "compute a value and log it")
            await pilot.press("f6")
            await settle(app, pilot)
            assert "Namespace 'company.team' is not in the deploy allow-list (sandbox)" in messages(app)[-1]
            app.workspace.settings = replace(
                app.workspace.settings, deploy_namespaces="company"
            )  # children are allowed
            kestra.validate_answer = [{"index": 0, "constraints": "tasks[0].format: must not be blank"}]
            await pilot.press("f6")
            await settle(app, pilot)
            assert "Kestra refuses this flow; nothing was deployed" in messages(app)[-1]
            assert "must not be blank" in messages(app)[-1]
            assert type(app.screen).__name__ == "Screen"  # no confirmation was asked

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))
        assert kestra.flows == {}


TYPED = """id: typed
namespace: company.team
inputs:
  - id: who
    type: STRING
    defaults: world
  - id: count
    type: INT
    defaults: 3
    description: how many times
  - id: ratio
    type: FLOAT
    required: false
  - id: loud
    type: BOOL
    defaults: false
  - id: tags
    type: ARRAY
    itemType: STRING
    defaults: [a, b]
  - id: config
    type: JSON
    required: false
  - id: level
    type: SELECT
    values: [INFO, WARN]
    defaults: INFO
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.who }}"
"""


def test_the_run_form_shows_types_and_defaults_and_sends_typed_values(gemini: FakeGemini, tmp_path: Path) -> None:
    async def scenario(kestra: FakeKestra) -> None:
        async with running(with_kestra(settings(tmp_path), kestra)) as (app, pilot):
            gemini.script(Reply(f"```yaml\n{TYPED}```"))
            await send(pilot, "greet with typed inputs")
            await settle(app, pilot)
            await pilot.press("f5")
            form = await screen(app, pilot, "RunInputs")

            def label(name: str) -> str:
                return str(form.query_one(f"#label-{name}").content)

            def field(name: str) -> Any:
                return form.query_one(f"#input-{name}")

            assert label("who") == "who  STRING  default world"
            assert label("count") == "count  INT  default 3  — how many times"
            assert label("ratio") == "ratio  FLOAT"
            assert label("loud") == "loud  BOOL  default false"
            assert label("tags") == 'tags  ARRAY of STRING  default ["a", "b"]'
            assert label("config") == "config  JSON"
            assert label("level") == "level  SELECT (INFO | WARN)  default INFO"
            assert [field(n).value for n in ("who", "count", "ratio", "loud", "tags", "level")] == [
                "world",
                "3",
                "",
                "false",
                '["a", "b"]',
                "INFO",
            ]
            field("count").focus()
            await pilot.press("backspace", "x", "1", "2")  # an INT field takes digits only
            assert field("count").value == "12"
            field("ratio").value = "0.5"
            field("loud").value = "yes"
            field("tags").value = "a, b, c"
            field("config").value = "{oops"
            field("config").focus()
            await pilot.press("enter")
            await pilot.pause()
            assert type(app.screen).__name__ == "RunInputs"  # not run: the JSON does not read
            assert str(form.query_one("#error-config").content).startswith("config: not valid JSON")
            field("config").value = '{"k": [1, 2]}'
            await pilot.click("#run")
            await approve(app, pilot)
            await settle(app, pilot)
            assert any(": **SUCCESS**" in m for m in messages(app))

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))
        (execution,) = kestra.executions.values()
        assert execution["inputs"] == {  # Kestra's text forms, parsed back by the server per type
            "who": "world",
            "count": "12",
            "ratio": "0.5",
            "loud": "true",
            "tags": '["a", "b", "c"]',
            "config": '{"k": [1, 2]}',
            "level": "INFO",
        }


def test_repair_from_failure_after_the_automatic_repairs_gave_up(gemini: FakeGemini, tmp_path: Path) -> None:
    still_broken = [BROKEN.replace("1 / 0", f"{n} / 0") for n in (2, 3)]
    fixed = BROKEN.replace('"{{ 1 / 0 }}"', '"{{ 1 / 1 }}"')

    async def scenario(kestra: FakeKestra) -> None:
        async with running(with_kestra(settings(tmp_path), kestra)) as (app, pilot):
            await send(pilot, "/repair")
            await settle(app, pilot)
            assert any("No failed test-run to repair from" in m for m in messages(app))
            gemini.script(Reply(BROKEN), *(Reply(text) for text in still_broken))
            await send(pilot, "compute a value")
            await settle(app, pilot)
            await pilot.press("f5")  # test-run: fails, the two automatic repairs fail too
            await approve(app, pilot)  # asked once: the repairs add nothing to what the flow can do
            await settle(app, pilot)
            assert any(": **FAILED** after 2 repairs. F7 or `/repair`" in m for m in messages(app))
            gemini.script(Reply(fixed))
            await pilot.press("f7")
            await settle(app, pilot)
            assert "Repair from the failure of task `compute` (FAILED)." in messages(app)
            assert app.conversation.engine.current.number == 4 and '"{{ 1 / 1 }}"' in flow_code(app)
            assert "3 / 0" in gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]  # the failing flow
            await send(pilot, "/run")
            await settle(app, pilot)
            assert any(": **SUCCESS**." in m for m in messages(app))
            turns = [turn.request for turn in app.query_one("#sources-pane").turns]
            assert turns[-1] == "Repair from the failure of task `compute` (FAILED)."  # its sources, by its name

    with FakeKestra(outcome_rule=divides_by_zero) as kestra:
        asyncio.run(scenario(kestra))


TWO_TASKS = BROKEN.replace(
    "tasks:\n", "tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: starting\n"
)


def test_the_run_tab_follows_the_run_and_the_advice_stops_the_loop(gemini: FakeGemini, tmp_path: Path) -> None:
    """The Run tab: the execution's link, each task's state once per change, the newest line in view, the
    verdict last. A repair that leaves the flow unchanged ends the loop with its advice, shown as an error."""
    from tests.engine.test_testrun import OUTSIDE

    outside = OUTSIDE.split("```yaml")[0] + TWO_TASKS
    logs = {"compute": [("INFO", f"reading batch {n}") for n in range(60)] + [("ERROR", "Not found: Table trips")]}

    async def scenario(kestra: FakeKestra) -> None:
        async with running(with_kestra(settings(tmp_path, sandbox_test_runs=True), kestra)) as (app, pilot):
            await ask(app, pilot, gemini, TWO_TASKS, "compute a value")
            gemini.script(Reply(outside))
            await send(pilot, "/run")
            await settle(app, pilot)
            lines = str(app.query_one("#run").content).splitlines()
            (execution,) = kestra.executions
            link = f"{kestra.url}/ui/main/executions/company.team.copilot_test/report/{execution}"
            assert f"execution {execution} — {link}" in lines
            assert [line for line in lines if line.startswith("  compute:")] == [
                "  compute: RUNNING",
                "  compute: FAILED",
            ]
            assert [line for line in lines if line.startswith("  hello:")] == ["  hello: RUNNING", "  hello: SUCCESS"]
            assert lines.count("  execution RUNNING") == 1 and lines.count("  execution FAILED") == 1
            assert "→ the cause is outside the flow: revision 1 is not run again" in lines
            assert lines[-1] == "verdict: FAILED — the cause is outside the flow"  # no repair was made
            scroll = app.query_one("#run").parent
            await until(pilot, lambda: scroll.max_scroll_y > 0 and scroll.scroll_y == scroll.max_scroll_y, "the end")
            advice = app.query("ChatMessage").last()
            assert advice.has_class("error") and "the cause is outside the flow" in advice.source
            assert "The table `company.trips` does not exist" in advice.source and "```" not in advice.source
            assert [r.number for r in app.conversation.revisions] == [1] and flow_code(app) == flow_of(TWO_TASKS)
            live, session = messages(app), app.conversation.session

        told, folds = await resumed(with_kestra(settings(tmp_path), kestra), session)
        assert told == [*live[2:], f"Resumed session `{session}` at revision 1."]  # the advice too, word for word
        assert folds[-1].startswith("Repair 1 from the test-run: valid ✓ — The table `company.trips` does not exist")

    with FakeKestra(outcome_rule=divides_by_zero, task_logs=logs) as kestra:
        asyncio.run(scenario(kestra))
        assert len(kestra.executions) == 1


def test_a_test_run_says_what_the_server_lacks_before_deploying(gemini: FakeGemini, tmp_path: Path) -> None:
    from tests.engine.test_testrun import NEEDS

    async def scenario(kestra: FakeKestra) -> None:
        async with running(with_kestra(settings(tmp_path, sandbox_test_runs=True), kestra)) as (app, pilot):
            await ask(app, pilot, gemini, f"```yaml\n{NEEDS}```", "query the trips")
            await send(pilot, "/run")
            await settle(app, pilot)
            said = app.query("ChatMessage").last()
            assert said.has_class("error")
            assert said.source.startswith("**Revision 1 needs what the server does not have, so it was not deployed")
            assert "- KV key DATASET is not set in company.team.copilot_test" in said.source
            assert "- plugin type io.kestra.plugin.gcp.bigquery.Query is not installed" in said.source
            run_log = str(app.query_one("#run").content)
            assert "checked the server: 2 KV keys, 2 plugin types — 2 missing" in run_log
            assert "secret GCP_SERVICE_ACCOUNT" in run_log

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))
        assert not kestra.flows and not kestra.executions


def test_what_the_server_lacks_is_said_before_the_inputs_form(gemini: FakeGemini, tmp_path: Path) -> None:
    """The form is not shown for a run that cannot happen: the check comes first."""
    from tests.engine.test_testrun import NEEDS

    with_inputs = NEEDS.replace("tasks:\n", "inputs:\n  - id: day\n    type: STRING\n    defaults: monday\ntasks:\n", 1)
    assert with_inputs != NEEDS

    async def scenario(kestra: FakeKestra) -> None:
        async with running(with_kestra(settings(tmp_path, sandbox_test_runs=True), kestra)) as (app, pilot):
            await ask(app, pilot, gemini, f"```yaml\n{with_inputs}```", "query the trips on a day")
            await pilot.press("f5")
            await settle(app, pilot)
            assert app.screen.__class__.__name__ != "RunInputs"
            said = app.query("ChatMessage").last()
            assert said.has_class("error") and "- KV key DATASET is not set" in said.source

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))
        assert not kestra.flows and not kestra.executions


def test_the_run_form_has_the_focus_and_remembers_the_last_values_of_each_flow(
    gemini: FakeGemini, tmp_path: Path
) -> None:
    async def form_for(app: Any, pilot: Any) -> Any:
        await pilot.press("f5")
        return await screen(app, pilot, "RunInputs")

    async def scenario(kestra: FakeKestra) -> None:
        async with running(with_kestra(settings(tmp_path, sandbox_test_runs=True), kestra)) as (app, pilot):
            await ask(app, pilot, gemini, f"```yaml\n{TYPED}```", "greet with typed inputs")
            form = await form_for(app, pilot)
            assert form.focused is form.query_one("#input-who")  # typed at once, Enter runs
            await pilot.press(*["backspace"] * len("world"), "A", "d", "a", "enter")
            await settle(app, pilot)
            assert any(": **SUCCESS**" in m for m in messages(app))
            form = await form_for(app, pilot)
            assert form.query_one("#input-who").value == "Ada" and form.query_one("#input-count").value == "3"
            await pilot.press("enter")
            await settle(app, pilot)
            # another flow has its own values
            await ask(app, pilot, gemini, f"```yaml\n{TYPED.replace('id: typed', 'id: other')}```", "another one")
            form = await form_for(app, pilot)
            assert form.query_one("#input-who").value == "world"
            await pilot.press("escape")
            await settle(app, pilot)

        # another day, another process: the first flow's form starts from what it last ran with
        async with running(with_kestra(settings(tmp_path, sandbox_test_runs=True), kestra)) as (app, pilot):
            await ask(app, pilot, gemini, f"```yaml\n{TYPED}```", "greet with typed inputs, again")
            form = await form_for(app, pilot)
            assert form.query_one("#input-who").value == "Ada" and form.query_one("#input-count").value == "3"
            await pilot.press("escape")
            await settle(app, pilot)

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))
        assert [e["inputs"]["who"] for e in kestra.executions.values()] == ["Ada", "Ada"]
    kept = (tmp_path / "data" / "test-run-inputs.json").read_text()
    assert (
        '"who": "Ada"' in kept and oct((tmp_path / "data" / "test-run-inputs.json").stat().st_mode & 0o777) == "0o600"
    )


def test_a_secret_input_is_masked_and_never_filled_in_again(gemini: FakeGemini, tmp_path: Path) -> None:
    flow = (
        "id: signed\nnamespace: company.team\ninputs:\n  - id: day\n    type: STRING\n    defaults: monday\n"
        "  - id: token\n    type: SECRET\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: hi\n"
    )

    async def scenario(kestra: FakeKestra) -> None:
        async with running(with_kestra(settings(tmp_path, sandbox_test_runs=True), kestra)) as (app, pilot):
            await ask(app, pilot, gemini, f"```yaml\n{flow}```", "a signed call")
            await pilot.press("f5")
            form = await screen(app, pilot, "RunInputs")
            assert form.query_one("#input-token").password and not form.query_one("#input-day").password
            form.query_one("#input-token").value = "s3cr3t"
            await pilot.click("#run")
            await settle(app, pilot)
            await pilot.press("f5")
            form = await screen(app, pilot, "RunInputs")
            assert form.query_one("#input-token").value == "" and form.query_one("#input-day").value == "monday"
            await pilot.press("escape")
            await settle(app, pilot)

    with FakeKestra() as kestra:
        asyncio.run(scenario(kestra))
    assert "s3cr3t" not in (tmp_path / "data" / "test-run-inputs.json").read_text()


def test_a_resumed_session_shows_the_file_loaded_the_advice_in_prose_and_a_cut_reply(
    gemini: FakeGemini, tmp_path: Path
) -> None:
    """What the chat said of the flow comes back with the session, where it was said: a file loaded before any
    turn, a failed test-run and its repair answered in prose (folded, titled with its first sentence), a reply
    the stream cut."""
    flow = tmp_path / "report.yml"
    flow.write_text(flow_of(TWO_TASKS))
    prose = "The flow itself is fine. The cause is outside the flow: create the table `company.trips`."

    async def scenario(kestra: FakeKestra) -> None:
        config = with_kestra(settings(tmp_path, sandbox_test_runs=True), kestra)
        async with running(config) as (app, pilot):
            await send(pilot, f"/load {flow}")
            await settle(app, pilot)
            gemini.script(Reply(prose))
            await send(pilot, "/run")
            await settle(app, pilot)
            gemini.script(Reply(EDITED, chunks=4, cut_after=2))
            await send(pilot, "then announce the value")
            await settle(app, pilot)
            live, session = messages(app), app.conversation.session
            folds = [str(fold.title) for fold in app.query("Collapsible")]

        told, folded = await resumed(config, session)
        assert live[2].startswith(f"Loaded `{flow}` as revision 1 (valid ✓). Ask for changes.")
        assert told[0] == f"Loaded `{flow}` as revision 1 (valid ✓)."  # without "ask for changes": that was then
        assert told[1:] == [*live[3:], f"Resumed session `{session}` at revision 1."]
        assert "Test run of revision 1: **FAILED** at task `hello`." in told
        assert any("was cut off mid-way" in m and "ask again" in m for m in told[-3:])  # the error, its hint
        assert folds == folded == [f"Repair 1 from the test-run: answered without a flow — {prose}"]

    with FakeKestra(outcome_rule=lambda task: "FAILED") as kestra:
        asyncio.run(scenario(kestra))
