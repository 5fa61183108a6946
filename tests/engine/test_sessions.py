"""Sessions in SQLite: written as the turn happens, redacted, resumable after Ctrl+C or a crash."""

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from copilot.engine.sessions import SessionStore, judged_attempts
from copilot.engine.turn import Engine, TurnEvent
from copilot.llm.base import TextDelta
from tests.engine.test_turn import EDITED, INVALID, VALID, engine, flow_of
from tests.fakes.gemini import FakeGemini, Reply


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SessionStore]:
    opened = SessionStore.open(tmp_path / "sessions.db")
    yield opened
    opened.close()


def run_turn(chat: Engine, store: SessionStore, session: str, text: str) -> None:
    asyncio.run(chat.turn(text, on_event=store.recorder(session, text)))


def test_a_turn_is_recorded_with_its_revision_and_no_secrets(gemini: FakeGemini, store: SessionStore) -> None:
    chat = engine(gemini)
    session = store.create(model="gemini-2.5-flash", recipe="default")
    gemini.script(Reply(VALID))
    run_turn(chat, store, session, "log hi, my postgres is postgresql://bob:pa55word@db:5432/app")
    (turn,) = store.turns(session)
    assert turn["status"] == "done" and turn["attempts"] == 1 and turn["reply"] == VALID
    assert turn["recipe"] == "default"
    assert "pa55word" not in turn["request"] and "REDACTED_" in turn["request"]
    assert json.loads(turn["sources"])[0]["title"] == "Sleep" and len(json.loads(turn["prompt_hashes"])) == 1
    assert json.loads(turn["usage"])[0]["prompt"] == 120
    assert set(json.loads(turn["prompt_parts"])[0]) == {"system", "sources", "request"}
    (info,) = store.sessions()
    assert info.turns == 1 and info.revisions == 1 and info.title.startswith("log hi")
    database = Path(store.db.execute("PRAGMA database_list").fetchone()[2])
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))  # the WAL too
    assert b"log hi" in stored  # the check below reads real data
    assert b"pa55word" not in stored


def test_each_judged_attempt_is_recorded_with_its_findings_and_notes_where_they_were_said(
    gemini: FakeGemini, store: SessionStore
) -> None:
    chat = engine(gemini)
    session = store.create()
    store.add_note(session, "Loaded `flows/taxi.yml` as revision 1 (valid ✓).")  # before any turn
    leaked = INVALID.replace("message: hi", "message: postgresql://bob:pa55word@db:5432/app")
    gemini.script(Reply(leaked), Reply(VALID))
    run_turn(chat, store, session, "log hi then wait")
    store.add_note(session, "Test run of revision 1: **FAILED** at task `hello`.", "error")
    (turn,) = store.turns(session)
    first, second = judged_attempts(turn)
    assert not first.valid and second.valid and second.reply == turn["reply"] == VALID
    assert {d.code for d in first.diagnostics} >= {"unknown-property"} and first.diagnostics[0].line
    assert "pa55word" not in first.reply and "REDACTED_" in first.reply  # replies are redacted as a whole
    assert [(n["after_turn"], n["kind"]) for n in store.notes_of(session)] == [(0, "system"), (1, "error")]
    assert store.delete(session) and store.notes_of(session) == []


def test_ctrl_c_mid_stream_keeps_the_partial_reply_and_the_session_resumes(gemini: FakeGemini, tmp_path: Path) -> None:
    store = SessionStore.open(tmp_path / "s.db")
    chat = engine(gemini)
    session = store.create()
    gemini.script(Reply(VALID))
    run_turn(chat, store, session, "first")
    # chunks far apart, so the turn is really waiting on the stream when it is cancelled
    gemini.script(Reply(EDITED, chunks=5, chunk_delay=0.2))

    async def interrupted() -> None:
        task = asyncio.current_task()
        record = store.recorder(session, "second")

        def on_event(event: TurnEvent) -> None:
            record(event)
            if isinstance(event, TextDelta):
                task.cancel()  # what Ctrl+C does to the running turn

        try:
            await chat.turn("second", on_event=on_event)
        except asyncio.CancelledError:
            store.mark_interrupted(session)

    asyncio.run(interrupted())
    turns = store.turns(session)
    assert [t["status"] for t in turns] == ["done", "interrupted"]
    assert turns[1]["reply"] and EDITED.startswith(turns[1]["reply"])
    assert chat.current is not None and chat.current.number == 1  # no half revision
    store.close()

    reopened = SessionStore.open(tmp_path / "s.db")
    fresh = engine(gemini)
    assert reopened.restore(session, fresh).number == 1
    gemini.script(Reply(EDITED))
    run_turn(fresh, reopened, session, "second, again")
    assert [t["number"] for t in reopened.turns(session)] == [1, 2, 3]
    assert fresh.current.number == 2 and fresh.current.diff is not None and fresh.current.diff.changed
    reopened.close()


def test_a_crash_leaves_the_turn_marked_interrupted_on_reopen(tmp_path: Path) -> None:
    store = SessionStore.open(tmp_path / "s.db")
    session = store.create()
    record = store.recorder(session, "doomed")
    record(TextDelta("id: half"))
    store.close()  # closed mid-turn (a process really killed: tests/security/test_integrity.py)
    reopened = SessionStore.open(tmp_path / "s.db")
    (turn,) = reopened.turns(session)
    assert turn["status"] == "interrupted" and turn["reply"] == "id: half"
    reopened.close()


def test_restore_brings_back_every_revision_and_undo(gemini: FakeGemini, store: SessionStore) -> None:
    chat = engine(gemini)
    session = store.create()
    for reply, text in ((VALID, "first"), (EDITED, "second")):
        gemini.script(Reply(reply))
        run_turn(chat, store, session, text)
    fresh = engine(gemini)
    current = store.restore(session, fresh)
    assert current is not None and current.number == 2 and current.yaml == chat.current.yaml
    assert [d.code for d in current.diagnostics] == [d.code for d in chat.current.diagnostics]
    assert fresh.history == [("first", VALID), ("second", EDITED)]  # the conversation goes on where it was
    assert fresh.undo().number == 1
    with pytest.raises(KeyError):
        store.restore("nope", fresh)


def test_search_and_delete(gemini: FakeGemini, store: SessionStore) -> None:
    chat = engine(gemini)
    taxi, hello = store.create(), store.create()
    gemini.script(Reply(VALID), Reply(EDITED))
    run_turn(chat, store, taxi, "load the yellow cab data, 100% of it")
    run_turn(chat, store, hello, "a hello world")
    assert [s.id for s in store.sessions("YELLOW CAB")] == [taxi]  # case-insensitive, requests searched
    assert [s.id for s in store.sessions("100%")] == [taxi]  # LIKE wildcards are literal
    assert store.sessions("100_") == []
    assert {s.id for s in store.sessions("  ")} == {taxi, hello}
    assert store.delete(taxi) and not store.delete(taxi)
    assert [s.id for s in store.sessions()] == [hello]
    assert store.turns(taxi) == [] and store.db.execute(
        "SELECT COUNT(*) FROM revisions WHERE session_id = ?", (taxi,)
    ).fetchone() == (0,)
    assert len(store.sessions("maxAttempts")) == 1  # replies are searched too


# The schema the first version wrote: its files must stay readable, and are upgraded in place.
FIRST_SCHEMA = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL, title TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '', recipe TEXT NOT NULL DEFAULT '', kestra_version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE turns (
    session_id TEXT NOT NULL REFERENCES sessions(id), number INTEGER NOT NULL, request TEXT NOT NULL,
    reply TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    recipe TEXT NOT NULL DEFAULT '', prompt_hashes TEXT NOT NULL DEFAULT '[]', prompt_parts TEXT NOT NULL DEFAULT '[]',
    sources TEXT NOT NULL DEFAULT '[]',
    usage TEXT NOT NULL DEFAULT '[]', error TEXT, started REAL NOT NULL, ended REAL,
    PRIMARY KEY (session_id, number)
);
CREATE TABLE revisions (
    session_id TEXT NOT NULL REFERENCES sessions(id), number INTEGER NOT NULL, turn INTEGER,
    yaml TEXT NOT NULL, valid INTEGER NOT NULL, diagnostics TEXT NOT NULL, recipe TEXT NOT NULL,
    prompt_hash TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (session_id, number)
);
"""


def test_an_older_sessions_db_is_read_and_upgraded_in_place(gemini: FakeGemini, tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(FIRST_SCHEMA)
    old.execute("INSERT INTO sessions (id, created, updated, title) VALUES ('s1', 1, 2, 'log hi')")
    for number, status, reply in ((1, "done", VALID), (2, "running", EDITED[:20])):  # 2: left by a crash
        old.execute(
            "INSERT INTO turns (session_id, number, request, reply, status, started) VALUES ('s1', ?, ?, ?, ?, 1)",
            (number, f"request {number}", reply, status),
        )
    for number, reply in ((1, VALID), (2, EDITED)):
        old.execute(
            "INSERT INTO revisions VALUES ('s1', ?, ?, ?, 1, '[]', 'default', 'hash', 1)",
            (number, number, flow_of(reply)),
        )
    old.close()

    store = SessionStore.open(path)
    assert [t["status"] for t in store.turns("s1")] == ["done", "interrupted"]  # no owner: taken for gone
    assert [judged_attempts(t) for t in store.turns("s1")] == [[], []]  # not recorded then: none judged
    store.add_note("s1", "Deployed revision 2.")
    assert store.notes_of("s1") == [{"after_turn": 2, "kind": "system", "text": "Deployed revision 2."}]
    fresh = engine(gemini)
    current = store.restore("s1", fresh)
    assert current.number == 2 and current.yaml == flow_of(EDITED) and current.diff is not None
    gemini.script(Reply(VALID))
    run_turn(fresh, store, "s1", "back to the first one")
    every = store.revisions("s1")
    assert [(r["id"], r["previous"], r["number"], r["turn"]) for r in every] == [
        (1, None, 1, 1),
        (2, 1, 2, 2),
        (3, 2, 3, 3),
    ]
    store.close()
