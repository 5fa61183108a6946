"""Integrity: concurrent use and corrupt state lose nothing, mislabel nothing and end in no traceback; what
is kept on disk is readable by the user only.

- Concurrent use. Processes share the session store (two `ask --session S` at once, a chat beside an `ask`):
  each turn and revision gets its own number, recording never overwrites or deletes a revision (an undo,
  a new flow and a second writer all add to the store), and opening the store marks as interrupted only
  the turns of a process that is gone — never a turn another live process is recording.
- The recorder writes a streamed reply in linear time (not once per delta, redacted whole each time), and
  Ctrl+C still loses nothing; a runaway reply is cut at a cap with a clear error, its start kept.
- Corrupt state: a damaged sessions.db is moved aside (never deleted) and a new one started; a data dir
  that is a file, a bad chunks.jsonl line, a manifest.json that is not an object and a garbage Chroma
  store each say what is wrong and how to recover; `index build --rebuild` recovers from any of them.
- Private files: the store (with its -wal and -shm), the index and the caches are 0600 in 0700 folders,
  whatever the umask; an existing sessions.db readable by others is tightened when opened.
"""

import asyncio
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.engine.sessions import SessionStore
from copilot.engine.turn import MAX_REPLY_CHARS, Attempt, Revision, TurnEnded
from copilot.llm.base import TextDelta
from tests.engine.test_turn import EDITED, VALID, engine
from tests.fakes.gemini import FakeGemini, Reply

REPO = Path(__file__).resolve().parents[2]
RETRIED = VALID.replace("message: hi", "message: hi again")  # a third flow, different from both


@pytest.fixture
def data_dir() -> Path:
    return Path(os.environ["KESTRA_COPILOT_DATA_DIR"])


def turn(chat, store: SessionStore, session: str, text: str) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(chat.turn(text, on_event=store.recorder(session, text)))


# --- concurrent use of the session store ---------------------------------------------------------------
def test_two_asks_continuing_one_session_at_once_both_keep_their_revision(gemini: FakeGemini, tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    first = SessionStore.open(path)
    session = first.create()
    gemini.script(Reply(VALID))
    turn(engine(gemini), first, session, "log hi")
    # Two processes (their own connections) resume the session, and each starts a turn before the other ends.
    a, b = SessionStore.open(path), SessionStore.open(path)
    chat_a, chat_b = engine(gemini), engine(gemini)
    a.restore(session, chat_a)
    b.restore(session, chat_b)
    record_a, record_b = a.recorder(session, "add a retry"), b.recorder(session, "say hi again")
    gemini.script(Reply(EDITED))
    asyncio.run(chat_a.turn("add a retry", on_event=record_a))
    gemini.script(Reply(RETRIED))
    asyncio.run(chat_b.turn("say hi again", on_event=record_b))
    assert chat_a.current.number == chat_b.current.number == 2  # each engine made its revision 2

    stored = first.db.execute("SELECT yaml FROM revisions WHERE session_id = ? ORDER BY number", (session,))
    assert len(stored.fetchall()) == 3  # nothing overwritten
    every = first.revisions(session)
    assert [(r["id"], r["previous"], r["turn"]) for r in every] == [(1, None, 1), (2, 1, 2), (3, 1, 3)]
    assert "retry" in every[1]["yaml"] and "hi again" in every[2]["yaml"]
    assert [r["number"] for r in every] == [1, 2, 3]  # both kept, each made from revision 1
    assert [t["number"] for t in first.turns(session)] == [1, 2, 3]
    resumed = engine(gemini)
    current = first.restore(session, resumed)
    assert current.number == 3 and "hi again" in current.yaml and current.previous == 1 and current.diff is not None
    assert resumed.undo().yaml == every[0]["yaml"]  # back to what it was made from
    assert resumed.redo().number == 3  # the newest made from it
    for store in (first, a, b):
        store.close()


def test_parallel_writers_each_get_their_own_turn_and_revision_numbers(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    setup = SessionStore.open(path)
    session = setup.create()
    writers, turns_each = 4, 15
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(name: str) -> None:
        store = SessionStore.open(path)  # a connection of its own, as another process has
        try:
            start.wait()
            for count in range(turns_each):
                record = store.recorder(session, f"{name} {count}")
                record(Attempt(1, "hash"))
                record(TextDelta(f"reply of {name} {count}"))
                record(Revision(count + 1, f"id: {name}_{count}\n", (), None, "default", "hash"))
                record(TurnEnded(True, 0.1))
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            failures.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=write, args=(f"w{n}",)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    total = writers * turns_each
    turns = setup.turns(session)
    assert [t["number"] for t in turns] == list(range(1, total + 1))
    assert {t["status"] for t in turns} == {"done"}
    made = [(n, c) for n in range(writers) for c in range(turns_each)]
    assert {t["request"] for t in turns} == {f"w{n} {c}" for n, c in made}
    every = setup.revisions(session)
    assert sorted(r["yaml"] for r in every) == sorted(f"id: w{n}_{c}\n" for n, c in made)
    setup.close()


CHILD = """
import sys
from pathlib import Path
from copilot.engine.sessions import SessionStore
from copilot.engine.turn import TurnEnded
from copilot.llm.base import TextDelta

store = SessionStore.open(Path(sys.argv[1]))
record = store.recorder(sys.argv[2], sys.argv[3])
record(TextDelta("id: half"))
print("recording", flush=True)
if sys.stdin.readline().strip() == "finish":
    record(TextDelta(" and the rest"))
    record(TurnEnded(True, 1.0))
    store.close()
"""


def recording_process(path: Path, session: str, request: str) -> subprocess.Popen[str]:
    """Another process recording a turn of `session`; it has written part of its reply when this returns."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), session, request],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "recording"
    return child


def test_a_turn_another_live_process_records_is_never_marked_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = SessionStore.open(path)
    session = store.create()
    live = recording_process(path, session, "still streaming")
    killed = recording_process(path, session, "about to be killed")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    try:
        mine = store.recorder(session, "mine")
        mine(TextDelta("id: mine"))
        store.mark_interrupted(session)  # this process's Ctrl+C: its own turn only
        reopened = SessionStore.open(path)  # e.g. the next `ask` starting
        by_request = {t["request"]: t for t in reopened.turns(session)}
        assert by_request["still streaming"]["status"] == "running"  # its process is alive
        assert by_request["about to be killed"]["status"] == "interrupted"  # its process is gone
        assert by_request["about to be killed"]["reply"] == "id: half"  # with the reply it had written
        assert by_request["mine"]["status"] == "interrupted" and by_request["mine"]["reply"] == "id: mine"
        assert live.stdin is not None
        live.stdin.write("finish\n")
        live.stdin.close()
        assert live.wait(timeout=60) == 0
        finished = {t["request"]: t for t in reopened.turns(session)}["still streaming"]
        assert finished["status"] == "done" and finished["reply"] == "id: half and the rest"
        reopened.close()
    finally:
        live.kill()
        store.close()


def test_a_new_revision_after_an_undo_keeps_the_undone_one(gemini: FakeGemini, tmp_path: Path) -> None:
    store = SessionStore.open(tmp_path / "sessions.db")
    chat = engine(gemini)
    session = store.create()
    for reply, text in ((VALID, "log hi"), (EDITED, "add a retry")):
        gemini.script(Reply(reply))
        turn(chat, store, session, text)
    chat.undo()
    gemini.script(Reply(RETRIED))
    turn(chat, store, session, "say hi again instead")  # one more revision, made from 1: 2 is kept
    assert [r.number for r in chat.revisions] == [1, 2, 3] and "hi again" in chat.current.yaml
    assert chat.current.previous == 1 and "retry" in chat.revisions[1].yaml
    stored = store.db.execute("SELECT yaml FROM revisions WHERE session_id = ? ORDER BY number", (session,))
    assert len(stored.fetchall()) == 3
    every = store.revisions(session)
    assert [(r["number"], r["turn"], r["previous"]) for r in every] == [(1, 1, None), (2, 2, 1), (3, 3, 1)]
    fresh = engine(gemini)
    assert store.restore(session, fresh).yaml == chat.current.yaml and len(fresh.revisions) == 3
    store.close()


def test_a_new_flow_in_the_chat_starts_a_new_session_and_the_old_one_keeps_its_flow(
    gemini: FakeGemini, tmp_path: Path
) -> None:
    from tests.tui.pilot import ask, running, settings

    async def scenario() -> None:
        async with running(settings(tmp_path)) as (app, pilot):
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            first = app.conversation.session
            await pilot.press("ctrl+n")
            await pilot.pause()
            await ask(app, pilot, gemini, RETRIED, "a flow that says hi again")
            assert app.conversation.session != first and app.conversation.engine.current.number == 1
            (kept,) = app.conversation.store.revisions(first)
            assert "hi again" not in kept["yaml"] and "message: hi\n" in kept["yaml"]
            assert "hi again" in app.conversation.store.revisions(app.conversation.session)[0]["yaml"]

    asyncio.run(scenario())


# --- the recorder ------------------------------------------------------------------------------------------
def test_a_long_reply_is_recorded_in_linear_time_and_ctrl_c_still_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from copilot.engine import sessions

    text = "  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n" * 1000  # ~64 KB
    reply = text + "postgresql://bob:pa55word@db:5432/app"
    budget = 10 * len(reply)  # the redactor reads each character of the reply a few times, not once per delta
    redacted = [0]
    clean = sessions._clean

    def counted(text: str) -> str:
        redacted[0] += len(text)
        assert redacted[0] <= budget, "the recorder redacts and rewrites the whole reply on every delta"
        return clean(text)

    monkeypatch.setattr(sessions, "_clean", counted)
    monkeypatch.setattr(sessions, "FLUSH_SECONDS", 3600.0)  # writes by size only: this machine's speed is no factor
    store = SessionStore.open(tmp_path / "sessions.db")
    session = store.create()
    record = store.recorder(session, "a long one")
    record(Attempt(1, "hash"))
    for start in range(0, len(reply), 4):  # 4 characters at a time, as a slow model streams
        record(TextDelta(reply[start : start + 4]))
    store.mark_interrupted(session)  # Ctrl+C: what arrived is written, however recently
    (recorded,) = store.turns(session)
    assert recorded["status"] == "interrupted" and recorded["reply"].startswith(text)
    assert recorded["reply"].endswith("db:5432/app")  # the last deltas too, written by the Ctrl+C
    assert "pa55word" not in recorded["reply"]  # redacted as a whole: the credential spanned several deltas
    store.close()


def test_a_runaway_reply_is_cut_at_the_cap_with_a_clear_error_and_kept(gemini: FakeGemini, tmp_path: Path) -> None:
    store = SessionStore.open(tmp_path / "sessions.db")
    session = store.create()
    chat = engine(gemini)
    gemini.script(Reply("```yaml\n" + "# again and again\n" * 20_000, chunks=40))  # ~350 KB
    result = asyncio.run(chat.turn("log hi", on_event=store.recorder(session, "log hi")))
    assert result.error is not None and f"over {MAX_REPLY_CHARS // 1024} KB" in str(result.error)
    assert "cut" in str(result.error) and result.error.hint
    assert len(result.reply) == MAX_REPLY_CHARS and result.reply.startswith("```yaml\n# again")
    assert result.revision is None and chat.current is None
    (recorded,) = store.turns(session)
    assert recorded["status"] == "failed" and "KB" in recorded["error"] and len(recorded["reply"]) == MAX_REPLY_CHARS
    store.close()


# --- corrupt state -----------------------------------------------------------------------------------------
GARBAGE = b"this is not a database\x00\xff" * 200


def test_a_damaged_sessions_db_is_moved_aside_and_the_ask_goes_on(
    gemini: FakeGemini, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir.mkdir()
    (data_dir / "sessions.db").write_bytes(GARBAGE)
    gemini.script(Reply(VALID))
    assert main(["ask", "log hi", "--recipe", "no-retrieval"]) == 0
    err = capsys.readouterr().err
    (aside,) = data_dir.glob("sessions.db.damaged-*")
    assert "damaged" in err and str(aside) in err and ".recover" in err
    assert aside.read_bytes() == GARBAGE  # the user's history is moved, never deleted
    assert main(["sessions"]) == 0
    assert "1 turn, 1 revision  log hi" in capsys.readouterr().out


def test_a_damaged_sessions_db_in_the_chat_is_moved_aside_and_said(gemini: FakeGemini, tmp_path: Path) -> None:
    from tests.tui.pilot import messages, running, settings

    config = settings(tmp_path)
    config.data_dir.mkdir(parents=True)
    (config.data_dir / "sessions.db").write_bytes(GARBAGE)

    async def scenario() -> None:
        async with running(config) as (app, pilot):
            await pilot.pause()
            assert app.conversation.store is not None
            assert any("was damaged" in m and "moved to" in m for m in messages(app))

    asyncio.run(scenario())
    (aside,) = config.data_dir.glob("sessions.db.damaged-*")
    assert aside.read_bytes() == GARBAGE


def test_a_data_dir_that_is_a_file_says_what_to_do(
    gemini: FakeGemini, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir.write_text("not a folder")
    gemini.script(Reply(VALID))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "schedule.md").write_text(DOCS["schedule.md"])
    for command in (["ask", "log hi"], ["sessions"], ["index", "build", "--source", str(docs)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"{data_dir} is not a folder" in err and "KESTRA_COPILOT_DATA_DIR" in err
    assert data_dir.read_text() == "not a folder"


def test_a_data_dir_that_is_a_file_in_the_chat_is_said(gemini: FakeGemini, tmp_path: Path) -> None:
    from tests.tui.pilot import messages, running, settings

    config = settings(tmp_path)
    config.data_dir.write_text("not a folder")

    async def scenario() -> None:
        async with running(config) as (app, pilot):
            await pilot.pause()
            notes = [m for m in messages(app) if "Sessions are not recorded" in m]
            assert notes and "is not a folder" in notes[0] and "KESTRA_COPILOT_DATA_DIR" in notes[0]

    asyncio.run(scenario())


DOCS = {
    "schedule.md": "# Schedule trigger\n\nRun a flow on a cron schedule every day.\n",
    "webhook.md": "# Webhook trigger\n\nStart an execution from an HTTP request to the webhook URL.\n",
}


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline embedding model, written once for these tests (building its graph takes seconds)."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture
def docs(tmp_path: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small source, indexed: the index is in <data dir>/index."""
    monkeypatch.setenv("KESTRA_COPILOT_CACHE_DIR", str(model_cache))
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    assert main(["index", "build", "--source", str(folder)]) == 0
    return folder


def rebuilt(docs: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """`index build --rebuild` succeeds, and a search then finds the docs by meaning and by words."""
    capsys.readouterr()
    assert main(["index", "build", "--rebuild", "--source", str(docs)]) == 0
    err = capsys.readouterr().err
    assert main(["search", "cron schedule", "--json"]) == 0
    out, search_err = capsys.readouterr()
    assert "warning" not in search_err and '"dense_rank": 1' in out and "Schedule trigger" in out
    return err


def test_a_bad_chunks_line_is_named_and_rebuild_recovers(
    docs: Path, data_dir: Path, gemini: FakeGemini, capsys: pytest.CaptureFixture[str]
) -> None:
    with (data_dir / "index" / "chunks.jsonl").open("a") as chunks:
        chunks.write('{"id": "half a line\n')
    capsys.readouterr()
    assert main(["search", "cron"]) == 2
    err = capsys.readouterr().err
    assert "damaged: line 3 of chunks.jsonl is not a chunk" in err and "index build --rebuild" in err
    gemini.script(Reply(VALID))
    assert main(["ask", "log hi"]) == 0  # the turn goes on without sources, and says why
    err = capsys.readouterr().err
    assert "damaged" in err and "without sources" in err and "No retrieval index yet" not in err
    assert main(["index", "build", "--source", str(docs)]) == 2
    assert "--rebuild" in capsys.readouterr().err
    rebuilt(docs, capsys)


def test_a_manifest_that_is_not_an_object_is_named_and_rebuild_recovers(
    docs: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (data_dir / "index" / "manifest.json").write_text("[1, 2, 3]")
    capsys.readouterr()
    for command in (["index", "status"], ["search", "cron"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "manifest.json is not a JSON object" in err and "index build --rebuild" in err
    rebuilt(docs, capsys)
    assert main(["index", "status", "--json"]) == 0


def test_a_garbage_chroma_store_is_named_and_rebuild_recovers(
    docs: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = data_dir / "index" / "chroma" / "chroma.sqlite3"
    store.write_bytes(GARBAGE)
    for leftover in store.parent.glob("chroma.sqlite3-*"):  # its journal, which a new process would not trust
        leftover.unlink()
    capsys.readouterr()
    assert main(["index", "build", "--source", str(docs)]) == 2
    err = capsys.readouterr().err
    assert "Chroma store cannot be" in err and "index build --rebuild" in err and "Traceback" not in err
    assert main(["search", "cron schedule"]) == 0  # BM25 still answers, and says why the rest is missing
    out, err = capsys.readouterr()
    assert "Schedule trigger" in out and "BM25 alone" in err and "--rebuild" in err
    rebuilt(docs, capsys)


def test_rebuilding_a_sound_index_leaves_no_old_vectors_behind(
    docs: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import chromadb

    store = data_dir / "index" / "chroma"
    other = chromadb.PersistentClient(path=str(store)).create_collection("another-model")  # e.g. Gemini's
    other.add(ids=["x"], embeddings=[[0.5, 0.5]], documents=["kept"])
    folders = {entry.name for entry in store.iterdir() if entry.is_dir()}
    assert len(folders) == 2  # one per collection's vectors
    for _ in range(3):  # the usual rebuild: the index is sound, the user wants it embedded afresh
        rebuilt(docs, capsys)
    after = {entry.name for entry in store.iterdir() if entry.is_dir()}
    assert len(after) == 2 and len(after - folders) == 1  # the old vectors went with their collection…
    assert chromadb.PersistentClient(path=str(store)).get_collection("another-model").count() == 1  # …no other


def test_rebuild_recovers_whatever_stands_where_the_index_should_be(
    docs: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = data_dir / "index"
    os.rename(index, data_dir / "old-index")
    index.write_text("someone's notes")
    err = rebuilt(docs, capsys)
    (aside,) = data_dir.glob("index.moved-*")
    assert aside.read_text() == "someone's notes" and str(aside) in err  # moved, said, never deleted
    for name in ("chunks.jsonl", "manifest.json", "chroma"):  # each entry broken in its own way
        target = index / name
        if target.is_dir():
            os.rename(target, data_dir / "old-chroma")
            target.write_text("not a folder")
        else:
            target.unlink()
            target.mkdir()
    rebuilt(docs, capsys)


# --- private files -----------------------------------------------------------------------------------------
@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: what is private must be made so, not left to the umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_the_index_and_the_caches_are_private_whatever_the_umask(
    gemini: FakeGemini, data_dir: Path, tmp_path: Path, model_cache: Path, open_umask: None
) -> None:
    from copilot.evaluation.cache import ReplyCache
    from copilot.retrieval.chunks import Chunk
    from copilot.retrieval.index import Index
    from copilot.schema_store import schema_from_server
    from tests.fakes.kestra import FakeKestra

    gemini.script(Reply(VALID))
    assert main(["ask", "log hi", "--recipe", "no-retrieval"]) == 0
    assert mode(data_dir) == 0o700
    store = SessionStore.open(data_dir / "sessions.db")  # the -wal and -shm files exist while it is open
    store.create()
    files = list(data_dir.glob("sessions.db*"))
    assert {f.name for f in files} == {"sessions.db", "sessions.db-wal", "sessions.db-shm"}
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    store.close()

    index = Index(data_dir / "index", cache_dir=model_cache)
    index.build([Chunk("Run a flow on a cron schedule.", "doc", "docs", "Schedule", "schedule.md")], sources={})
    entries = list((data_dir / "index").rglob("*"))
    assert any(e.name == "chroma.sqlite3" for e in entries) and mode(data_dir / "index") == 0o700
    assert {str(e): mode(e) for e in entries} == {str(e): 0o700 if e.is_dir() else 0o600 for e in entries}

    cache = tmp_path / "cache"
    ReplyCache(cache / "eval-replies").put("ab" * 32, {"text": "id: x"})
    with FakeKestra(flow_schema={"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {}}) as kestra:
        from copilot.kestra import KestraClient

        async def fetch() -> None:
            async with KestraClient(kestra.url, username=kestra.username, password=kestra.password) as client:
                await schema_from_server(client, cache)

        asyncio.run(fetch())
    entries = list(cache.rglob("*"))
    assert len([e for e in entries if e.is_file()]) == 2 and mode(cache) == 0o700
    assert {str(e): mode(e) for e in entries} == {str(e): 0o700 if e.is_dir() else 0o600 for e in entries}


def test_an_existing_sessions_db_readable_by_others_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    sqlite3.connect(path).close()
    for name in (path, tmp_path / "sessions.db-wal"):
        name.touch()
        name.chmod(0o644)
    store = SessionStore.open(path)
    assert mode(path) == 0o600 and mode(tmp_path / "sessions.db-wal") == 0o600
    store.close()
