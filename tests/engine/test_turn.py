"""The whole turn loop: the real google-genai SDK against the loopback Gemini, the real validator and diff."""

import asyncio
from collections.abc import Iterator

import pytest

from copilot.engine.recipes import load_recipe
from copilot.engine.turn import (
    REPAIR_UNCHANGED,
    Engine,
    ErrorEvent,
    Notice,
    Revision,
    TurnEnded,
    TurnEvent,
    TurnResult,
    Validated,
)
from copilot.llm.base import ModelStreamCut, TextDelta
from copilot.llm.gemini import GeminiModel
from copilot.llm.retry import RetryPolicy
from copilot.retrieval.chunks import Chunk
from copilot.retrieval.hybrid import Hit
from tests.fakes.gemini import FakeGemini, Fault, Reply

INVALID = """Here is the flow:

```yaml
id: taxi
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
    colour: red
  - id: wait
    type: io.kestra.plugin.core.flow.Sleep
    duration: [1, 2]
```
"""
VALID = """```yaml
id: taxi
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
  - id: wait
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT1S
```
It logs, then waits a second [S1].
"""
EDITED = VALID.replace(
    "    message: hi\n",
    "    message: hi\n    retry:\n      type: constant\n      interval: PT10S\n      maxAttempts: 3\n",
)


def flow_of(reply: str) -> str:
    """The flow YAML of a scripted reply (its first ```yaml block), as a file would hold it."""
    return reply.split("```yaml\n")[1].split("```")[0]


async def _no_wait(seconds: float) -> None:
    pass


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


def engine(gemini: FakeGemini, **options: object) -> Engine:
    model = GeminiModel(api_key="test-key", base_url=gemini.url, retry=RetryPolicy(sleep=_no_wait))
    hit = Hit(
        Chunk("Sleep waits for `duration`, an ISO-8601 duration.", "plugin-doc", "docs", "Sleep", "sleep.md"), 1.0
    )
    return Engine(model, recipe=load_recipe(), retrieve=lambda text, recipe: [hit], **options)  # type: ignore[arg-type]


def turn(engine: Engine, text: str) -> tuple[TurnResult, list[TurnEvent]]:
    events: list[TurnEvent] = []
    result = asyncio.run(engine.turn(text, on_event=events.append))
    return result, events


def test_an_invalid_first_answer_is_repaired_from_the_diagnostics(gemini: FakeGemini) -> None:
    gemini.script(Reply(INVALID), Reply(VALID))
    chat = engine(gemini)
    result, events = turn(chat, "log hi then wait a second")
    assert result.valid and result.attempts == 2 and result.revision.number == 1
    assert "colour" not in result.revision.yaml and "duration: PT1S" in result.revision.yaml
    validated = [e for e in events if isinstance(e, Validated)]
    assert [v.valid for v in validated] == [False, True]
    assert {d.code for d in validated[0].diagnostics} >= {"unknown-property", "wrong-type"}
    # The repair request carries the first reply and the validator's findings, line by line.
    repair = gemini.requests[1].body["contents"]
    assert [c["role"] for c in repair] == ["user", "model", "user"]
    assert "colour" in repair[1]["parts"][0]["text"]
    assert "7:5: error[unknown-property]" in repair[2]["parts"][0]["text"]
    assert "wrong-type" in repair[2]["parts"][0]["text"]
    # The sources were in the system instruction, with their ids.
    assert "[S1] (plugin-doc) Sleep" in gemini.requests[0].body["systemInstruction"]["parts"][0]["text"]
    kinds = [type(e).__name__ for e in events if not isinstance(e, TextDelta)]
    assert kinds[:2] == ["Sources", "Attempt"] and kinds[-2:] == ["Revision", "TurnEnded"]
    assert len(result.prompt_hashes) == 2 and result.prompt_hashes[0] != result.prompt_hashes[1]


def test_a_follow_up_edit_changes_only_what_was_asked(gemini: FakeGemini) -> None:
    chat = engine(gemini)
    gemini.script(Reply(VALID))
    turn(chat, "log hi then wait a second")
    gemini.script(Reply(EDITED))
    result, _ = turn(chat, "add a retry to the hello task")
    assert result.revision.number == 2 and result.valid
    request = gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]
    assert "revision 1" in request and "id: taxi" in request and request.endswith("add a retry to the hello task")
    diff = result.revision.diff
    assert diff is not None and diff.changed
    changed_lines = [line for line in diff.unified.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert all(line.startswith("+") for line in changed_lines) and any("retry:" in line for line in changed_lines)
    # Everything else is byte-identical.
    first, second = chat.revisions[0].yaml, result.revision.yaml
    assert (
        second.replace("    retry:\n      type: constant\n      interval: PT10S\n      maxAttempts: 3\n", "") == first
    )


def test_undo_redo_and_a_revision_made_after_an_undo(gemini: FakeGemini) -> None:
    """Nothing is dropped or renumbered: a revision made after an undo is the next number, made from the
    current one; undo goes back to what a revision was made from, redo forward to the newest made from it."""
    chat = engine(gemini)
    gemini.script(Reply(VALID))
    turn(chat, "first")
    gemini.script(Reply(EDITED))
    turn(chat, "second")
    assert chat.undo().number == 1 and chat.undo() is None and chat.redo().number == 1
    gemini.script(Reply(VALID.replace("hi", "hello")))
    result, _ = turn(chat, "third")
    assert result.revision.number == 3 and result.revision.previous == 1 and len(chat.revisions) == 3
    assert "message hi → hello" in str(result.revision.diff.summary.to_dict())  # against 1, what it came from
    assert chat.redo().number == 3 and chat.redo().number == 3  # the newest: nothing to redo
    assert chat.undo().number == 1 and chat.redo().number == 3  # redo: the newest made from 1
    assert chat.goto(2).yaml == flow_of(EDITED) and chat.undo().number == 1  # the undone one, still there


def test_giving_up_after_the_repair_budget_keeps_the_last_flow(gemini: FakeGemini) -> None:
    gemini.script(Reply(INVALID), Reply(INVALID.replace("red", "blue")), Reply(INVALID.replace("red", "green")))
    result, _ = turn(engine(gemini), "log hi")
    assert result.attempts == 3 and not result.valid and result.revision is not None
    assert len(gemini.requests) == 3 and "colour: green" in result.revision.yaml


def test_a_repair_that_gives_back_the_same_flow_ends_the_repairs(gemini: FakeGemini) -> None:
    """Asking again would cost a call and bring the same flow: the turn stops, says so, keeps the flow."""
    gemini.script(Reply(INVALID))  # every attempt: the same invalid flow
    result, events = turn(engine(gemini), "log hi")
    assert result.attempts == 2 and len(gemini.requests) == 2 and not result.valid and result.revision is not None
    assert [e.message for e in events if isinstance(e, Notice)] == [REPAIR_UNCHANGED]


def test_a_model_outage_ends_the_turn_cleanly_and_keeps_the_flow(gemini: FakeGemini) -> None:
    chat = engine(gemini)
    gemini.script(Reply(VALID))
    turn(chat, "first")
    gemini.script(Fault(400))  # e.g. the key was revoked
    result, events = turn(chat, "second")
    assert result.error is not None and result.revision is None
    assert any(isinstance(e, ErrorEvent) for e in events)
    assert chat.current is not None and chat.current.number == 1


def test_a_cut_stream_keeps_the_partial_reply_and_counts_what_it_cost(gemini: FakeGemini) -> None:
    gemini.script(Reply(VALID, chunks=6, cut_after=3))
    result, events = turn(engine(gemini), "first")
    assert isinstance(result.error, ModelStreamCut) and result.reply and VALID.startswith(result.reply)
    (spent,) = result.usage  # the usage the stream reported before it was cut
    assert spent.prompt_tokens > 0 and spent.output_tokens > 0 and spent in events


ANSWER = "A MERGE updates the rows already loaded, so a re-run adds no duplicates; an INSERT would add them again."


def test_a_question_after_a_flow_is_answered_without_a_repair_or_a_revision(gemini: FakeGemini) -> None:
    chat = engine(gemini)
    gemini.script(Reply(VALID))
    turn(chat, "log hi then wait a second")
    gemini.script(Reply(ANSWER), Reply(EDITED))  # a repair would take the flow
    result, events = turn(chat, "Why a MERGE instead of a plain INSERT?")
    assert result.answer == ANSWER == result.reply and result.revision is None and result.attempts == 1
    assert len(gemini.requests) == 2 and len(chat.revisions) == 1 and chat.current is result.kept
    assert result.valid and result.usage  # the flow kept is valid; the call is counted
    assert not [e for e in events if isinstance(e, Validated | Revision)]
    assert isinstance(events[-1], TurnEnded) and events[-1].valid
    assert chat.history[-1] == ("Why a MERGE instead of a plain INSERT?", ANSWER)  # the next turn sees it


def test_a_question_before_any_flow_is_an_answer(gemini: FakeGemini) -> None:
    chat = engine(gemini)
    gemini.script(Reply("A Schedule trigger starts a flow at set times; a Flow trigger when another flow ends."))
    result, _ = turn(chat, "What is the difference between a Schedule and a Flow trigger?")
    assert result.answer and result.revision is None and result.kept is None and not result.valid
    assert chat.revisions == [] and len(gemini.requests) == 1


def test_the_prompt_says_when_to_answer_and_when_to_write_the_flow(gemini: FakeGemini) -> None:
    chat = engine(gemini)
    gemini.script(Reply(VALID))
    turn(chat, "log hi")
    system = gemini.requests[-1].body["systemInstruction"]["parts"][0]["text"]
    assert "When the user asks a question" in system and "write no flow" in system
    gemini.script(Reply(ANSWER))
    turn(chat, "why?")
    request = gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]
    assert "If the request only asks a question, answer it without writing the flow" in " ".join(request.split())


def test_an_asked_question_never_makes_a_revision(gemini: FakeGemini) -> None:
    """`/ask`: the reply is an answer even when it quotes a whole flow."""
    chat = engine(gemini)
    gemini.script(Reply(VALID))
    turn(chat, "log hi")
    gemini.script(Reply("It could retry:\n" + EDITED))
    result = asyncio.run(chat.turn("Would a retry help?", question=True))
    assert result.answer is not None and "retry:" in result.answer and result.revision is None
    assert len(chat.revisions) == 1 and len(gemini.requests) == 2
    request = gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]
    assert "Do not write or change the flow" in request and "id: taxi" in request
    assert request.endswith("Question: Would a retry help?")


def test_a_repair_reply_without_yaml_is_still_a_failed_repair(gemini: FakeGemini) -> None:
    gemini.script(Reply(INVALID), Reply("I would use a Log task."), Reply(VALID))
    result, events = turn(engine(gemini), "log hi")
    assert result.valid and result.attempts == 3 and result.answer is None
    second = [e for e in events if isinstance(e, Validated)][1]
    assert [d.code for d in second.diagnostics] == ["no-flow"]


def test_start_from_an_existing_flow(gemini: FakeGemini) -> None:
    chat = engine(gemini)
    first = chat.start_from(flow_of(INVALID))
    assert first.number == 1 and not first.valid
    gemini.script(Reply(VALID))
    result, _ = turn(chat, "fix it")
    assert result.valid and result.revision.diff is not None
    assert "colour" in gemini.requests[-1].body["contents"][-1]["parts"][0]["text"]


def test_credentials_never_reach_the_model(gemini: FakeGemini) -> None:
    chat = engine(gemini)
    key = "AIza" + "SyD" + "x" * 32
    chat.start_from(flow_of(VALID) + "variables:\n  db_password: hunter2secret\n")
    gemini.script(Reply(VALID))
    result, _ = turn(chat, f"use my key {key} and connect to postgresql://bob:pa55word@db:5432/app")
    sent = str(gemini.requests[-1].body)
    assert key not in sent and "pa55word" not in sent and "hunter2secret" not in sent
    assert "REDACTED_" in sent and result.redacted == 3


def test_follow_up_turns_carry_the_conversation_with_earlier_flows_left_out(gemini: FakeGemini) -> None:
    chat = engine(gemini)
    gemini.script(Reply(VALID))
    turn(chat, "log hi then wait a second")
    gemini.script(Reply("You could add a retry.\n" + EDITED))
    turn(chat, "what would make it sturdier?")
    contents = gemini.requests[-1].body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[0]["parts"][0]["text"] == "log hi then wait a second"
    earlier = contents[1]["parts"][0]["text"]
    assert "flow of this answer is left out" in earlier and "It logs, then waits a second" in earlier
    assert "type: io.kestra.plugin.core.log.Log" not in earlier  # only the current flow, once, in the request
    assert chat.history[-1][0] == "what would make it sturdier?"


def test_the_recipe_bounds_the_history(gemini: FakeGemini) -> None:
    from dataclasses import replace

    chat = engine(gemini)
    chat.recipe = replace(chat.recipe, history_turns=1)
    for text in ("one", "two", "three"):
        gemini.script(Reply(VALID))
        turn(chat, text)
    texts = [c["parts"][0]["text"] for c in gemini.requests[-1].body["contents"]]
    assert texts[0] == "two" and len(texts) == 3
    chat.reset()
    assert chat.history == [] and chat.current is None


def test_a_failing_retrieval_degrades_the_turn_and_says_why(gemini: FakeGemini) -> None:
    from copilot.engine.turn import Notice, Sources
    from copilot.errors import CopilotError
    from copilot.retrieval.hybrid import DenseUnavailable

    bm25_hit = Hit(Chunk("Log a message.", "plugin-doc", "docs", "Log", "log.md"), 0.5)

    def degraded(text: str, recipe: object) -> list[Hit]:
        raise DenseUnavailable(CopilotError("Gemini is unavailable (503)", hint="Try again."), [bm25_hit])

    def broken(text: str, recipe: object) -> list[Hit]:
        raise CopilotError("The index is corrupt.", hint="Rebuild it.")

    model = GeminiModel(api_key="test-key", base_url=gemini.url)
    notices = []
    for retrieve, sources in ((degraded, (bm25_hit,)), (broken, ())):
        gemini.script(Reply(VALID))
        chat = Engine(model, recipe=load_recipe(), retrieve=retrieve)
        result, events = turn(chat, "log hi")
        assert result.valid and result.sources == sources
        (notice,) = [e for e in events if isinstance(e, Notice)]
        assert notice.hint and isinstance(events[1], Sources)
        notices.append(notice.message)
    assert "BM25 alone" in notices[0] and "answering without sources" in notices[1]


def test_the_retrieval_query_is_redacted_too(gemini: FakeGemini) -> None:
    queries: list[str] = []
    chat = Engine(
        GeminiModel(api_key="test-key", base_url=gemini.url),
        recipe=load_recipe(),
        retrieve=lambda text, recipe: queries.append(text) or [],
    )
    gemini.script(Reply(VALID))
    turn(chat, "load from postgresql://bob:pa55word@db:5432/app")
    assert queries and "pa55word" not in queries[0] and "REDACTED_" in queries[0]


def test_the_revision_names_the_prompt_that_wrote_it(gemini: FakeGemini) -> None:
    gemini.script(Reply(INVALID), Reply("Sorry, I cannot."), Reply("Still no flow."))
    result, _ = turn(engine(gemini), "log hi")
    assert result.attempts == 3 and result.revision is not None and "colour" in result.revision.yaml
    assert result.revision.prompt_hash == result.prompt_hashes[0] != result.prompt_hashes[-1]
