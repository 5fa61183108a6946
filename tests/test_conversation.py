"""The application layer without a front end: a Workspace opens a Conversation, and every action a chat or
`ask` takes is a call on it — against the loopback Gemini and Kestra, with the real session store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from copilot.config import load_settings
from copilot.conversation import (
    Busy,
    Conversation,
    FileDiffers,
    NoFlow,
    NoSuchRevision,
    default_save_path,
    which_revisions,
)
from copilot.errors import CopilotError
from copilot.events import DeployReview, Usage
from copilot.workspace import Workspace
from tests.engine.test_testrun import BROKEN, FIXED
from tests.engine.test_turn import EDITED, VALID, flow_of
from tests.fakes.gemini import FakeGemini, Reply
from tests.fakes.kestra import FakeKestra


def opened(record: bool = True) -> Conversation:
    workspace = Workspace(load_settings())
    return workspace.open(workspace.engine(recipe="no-retrieval"), record=record)


def test_a_turn_is_recorded_and_counted_and_a_resumed_session_brings_back_its_revisions_and_cost(
    gemini: FakeGemini,
) -> None:
    gemini.script(Reply(VALID), Reply(EDITED))
    conversation = opened()
    seen: list[object] = []
    asyncio.run(conversation.turn("log hi then wait", on_event=seen.append))
    asyncio.run(conversation.turn("add a retry"))
    assert conversation.current is not None and conversation.current.number == 2
    assert any(isinstance(event, Usage) for event in seen)
    calls, spent = len(conversation.usage), conversation.spent()
    assert calls == 2 and spent.tokens > 0 and spent.cost is not None
    session = conversation.session
    conversation.close()

    later = opened()  # another process, another day
    turns = later.resume(str(session))
    assert [turn.request for turn in turns] == ["log hi then wait", "add a retry"]
    assert later.current is not None and later.current.yaml == flow_of(EDITED)
    assert later.spent() == spent  # the status bar's session cost does not start from zero
    assert later.undo() is not None and later.current.number == 1


def test_a_new_flow_is_a_new_session_and_the_last_one_keeps_its_revisions(gemini: FakeGemini) -> None:
    gemini.script(Reply(VALID))
    conversation = opened()
    asyncio.run(conversation.turn("log hi"))
    first = conversation.session
    conversation.new()
    assert conversation.current is None and conversation.session is None and conversation.usage == []
    asyncio.run(conversation.turn("log hi again"))
    assert conversation.session not in (None, first)
    assert conversation.store is not None and len(conversation.store.revisions(str(first))) == 1


def test_while_a_test_run_goes_on_nothing_changes_the_flow(gemini: FakeGemini, tmp_path: Path) -> None:
    gemini.script(Reply(VALID))
    conversation = opened()
    asyncio.run(conversation.turn("log hi"))
    conversation.test_running = True
    flow = tmp_path / "other.yml"
    flow.write_text(flow_of(EDITED))
    for action in (conversation.undo, lambda: conversation.goto(1), lambda: conversation.load(flow)):
        with pytest.raises(Busy):
            action()
    with pytest.raises(Busy):
        asyncio.run(conversation.turn("and more"))
    assert [r.number for r in conversation.revisions] == [1] and len(gemini.requests) == 1


def test_revisions_compare_load_and_save(gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    conversation = opened()
    with pytest.raises(NoFlow):
        conversation.save()
    source = tmp_path / "mine.yml"
    source.write_text(flow_of(VALID))
    loaded = conversation.load(source)
    assert loaded.number == 1 and loaded.valid and conversation.session is not None  # recorded
    gemini.script(Reply(EDITED))
    asyncio.run(conversation.turn("add a retry"))
    comparison = asyncio.run(conversation.compare(1))
    assert comparison.label == "revision 1" and comparison.diff is not None and "+    retry:" in comparison.diff.unified
    assert [which_revisions(n) for n in (0, 1, 3)] == [
        "there is none yet",
        "there is only revision 1",
        "they go from 1 to 3",
    ]
    with pytest.raises(NoSuchRevision, match="There is no revision 7: they go from 1 to 2"):
        asyncio.run(conversation.compare(7))
    saved = conversation.save()
    path = tmp_path / "flows" / "company.team" / "taxi.yml"
    assert saved.path == path and saved.written and path.read_text() == saved.revision.yaml
    assert not conversation.save().written  # the same flow: nothing to write
    conversation.undo()
    with pytest.raises(FileDiffers) as differs:  # another flow there: kept until the caller says so
        conversation.save()
    assert differs.value.held == saved.revision.yaml and path.read_text() == saved.revision.yaml
    assert conversation.save(overwrite=True).written and path.read_text() == flow_of(VALID)
    written = default_save_path({"namespace": "../..", "id": "../../etc/passwd"}, tmp_path)  # a model's words
    assert written.is_relative_to(tmp_path / "flows") and ".." not in written.parts


def test_deploy_is_one_review_then_a_yes(gemini: FakeGemini, kestra: FakeKestra) -> None:
    gemini.script(Reply(VALID), Reply(BROKEN), Reply(FIXED))  # Return tasks: this server has them
    conversation = opened()
    asked: list[DeployReview] = []

    async def no(review: DeployReview, server: str) -> bool:
        asked.append(review)
        return False

    async def yes(review: DeployReview, server: str) -> bool:
        asked.append(review)
        return True

    asyncio.run(conversation.turn("log hi then wait"))  # a Sleep this server does not have
    outcome = asyncio.run(conversation.deploy(no))
    assert outcome.refused and outcome.deployed is None and not asked and not kestra.flows  # the server said no
    asyncio.run(conversation.turn("log hi"))
    outcome = asyncio.run(conversation.deploy(no))
    assert outcome.deployed is None and not kestra.flows and asked[-1].deployed is None  # a new flow: no diff
    outcome = asyncio.run(conversation.deploy(yes))
    assert outcome.deployed is not None and outcome.where == "company.team/report"
    assert outcome.link.endswith("/flows/edit/company.team/report") and ("company.team", "report") in kestra.flows
    outcome = asyncio.run(conversation.deploy(yes))
    assert outcome.review.up_to_date and len(asked) == 2  # nothing to confirm
    asyncio.run(conversation.turn("and divide by one"))
    outcome = asyncio.run(conversation.deploy(no))
    assert outcome.review.diff is not None and outcome.review.diff.changed and outcome.deployed is None
    comparison = asyncio.run(conversation.compare(None))
    assert comparison.label == "server revision 1"


def test_nothing_is_deployed_without_a_server_or_from_a_flow_with_problems(gemini: FakeGemini) -> None:
    conversation = opened(record=False)
    with pytest.raises(NoFlow):
        conversation.require_current()
    gemini.script(Reply(VALID))
    asyncio.run(conversation.turn("log hi"))
    with pytest.raises(CopilotError, match="No Kestra server is configured"):
        conversation.deployable()
    assert conversation.store is None and conversation.session is None  # not recorded, as asked


def test_a_resumed_session_prices_each_call_by_the_model_that_made_it(gemini: FakeGemini) -> None:
    gemini.script(Reply(VALID))
    workspace = Workspace(load_settings())
    conversation = workspace.open(workspace.engine(recipe="no-retrieval", model="gemini-3.5-flash-lite"))
    asyncio.run(conversation.turn("log hi"))
    spent, session = conversation.spent(), str(conversation.session)
    conversation.close()
    later = Workspace(load_settings())  # the settings' model is another, dearer one
    resumed = later.open(later.engine(recipe="no-retrieval"))
    resumed.resume(session)
    assert resumed.model_name != "gemini-3.5-flash-lite" and resumed.spent() == spent


def test_a_resumed_session_shows_what_the_user_saw_not_the_repair_prompt(gemini: FakeGemini) -> None:
    gemini.script(Reply(VALID), Reply(EDITED))
    conversation = opened()
    asyncio.run(conversation.turn("log hi"))
    prompt = "The test run FAILED at task `hello`. Its logs, as data: … Fix the flow."
    asyncio.run(conversation.turn(prompt, shown="Repair from the failure of task `hello` (FAILED)."))
    session = str(conversation.session)
    conversation.close()
    turns = opened().resume(session)
    assert [t.request for t in turns] == ["log hi", "Repair from the failure of task `hello` (FAILED)."]
    assert prompt in str(gemini.requests[-1].body["contents"])  # the model had the logs


def test_the_same_flow_again_is_not_recorded_twice(gemini: FakeGemini) -> None:
    reformatted = (
        VALID.replace("  - id: hello", "  -   id: hello")
        .replace("    type: io.kestra.plugin.core.log.Log", "      type: io.kestra.plugin.core.log.Log")
        .replace("    message: hi", "      message: hi")
    )
    gemini.script(Reply(VALID), Reply(reformatted))
    conversation = opened()
    asyncio.run(conversation.turn("log hi then wait"))
    result = asyncio.run(conversation.turn("make it log hi then wait"))  # the same flow, laid out otherwise
    assert result.unchanged and result.revision is None and result.kept is conversation.current
    assert [r.number for r in conversation.revisions] == [1] and result.valid
    assert conversation.store is not None and len(conversation.store.revisions(str(conversation.session))) == 1
    assert len(conversation.store.turns(str(conversation.session))) == 2  # the turn itself is recorded


def test_a_test_runs_inputs_are_remembered_per_flow_but_never_a_secret(tmp_path: Path) -> None:
    from dataclasses import replace

    workspace = Workspace(replace(load_settings(), data_dir=tmp_path / "data"))
    assert workspace.last_inputs("company.team", "report") == {}  # never run
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    values = {"day": "2024-02-01", "password": "hunter2", "token": token}
    workspace.remember_inputs("company.team", "report", values, secret={"password"})
    later = Workspace(replace(load_settings(), data_dir=tmp_path / "data"))  # another process
    assert later.last_inputs("company.team", "report") == {"day": "2024-02-01"}  # no SECRET, no credential
    assert later.last_inputs("company.team", "other") == {}
    (tmp_path / "data" / "test-run-inputs.json").write_text("{not json")
    assert later.last_inputs("company.team", "report") == {}  # a damaged file is no error: a convenience
