"""Sessions in SQLite (`<data dir>/sessions.db`): turns, replies, revisions, sources, recipe and prompt
hashes, usage — written as they happen, so a crash or Ctrl+C mid-stream loses nothing.

    store = SessionStore.open(settings.sessions_path)
    session = store.create(model="gemini-3.8-flash", recipe="default")
    result = await engine.turn(text, on_event=store.recorder(session, text))
    store.restore(session, engine)        # later: revisions back into a fresh engine, undo included

Everything stored goes through `redact_secrets` first. The store is private to the user (0600, in a folder
created 0700).

Several processes share one store (two `ask --session S` at once, a chat beside an `ask`): numbers are
allocated inside write transactions (BEGIN IMMEDIATE), a writer waits for another (a busy timeout) instead
of failing, and each running turn records the process writing it, so opening the store marks as interrupted
only the turns whose process is gone (a crash, a kill), never one another process is still writing.

Revisions are append-only: recording never overwrites, deletes or renumbers one (only deleting the session
does). Each keeps the revision it was made from (`previous`): a revision made after an undo is one more, made
from the revision the undo went back to, and the undone ones stay — `restore` brings back every one.

A streamed reply is written when it has grown by a quarter or a couple of seconds have passed, and at every
other event, so recording costs linear time; Ctrl+C (`mark_interrupted`) and `close` write what arrived.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, NotRequired, TypedDict, cast

from ..errors import CopilotError
from ..flows import Diagnostic, Severity, diff_flows, redact_secrets
from ..llm.base import TextDelta, Usage
from ..private_files import private_dir, tighten
from .processes import is_gone, this_process
from .turn import Attempt, Engine, ErrorEvent, Revision, Sources, TurnEnded, TurnEvent, Validated

__all__ = [
    "JudgedAttempt",
    "NoteRow",
    "RevisionRow",
    "SessionInfo",
    "SessionStore",
    "StoreError",
    "StoredAttempt",
    "TurnRow",
    "judged_attempts",
]

BUSY_SECONDS = 30.0  # how long a writer waits for another process's transaction before giving up
FLUSH_GROWTH = 4  # a streamed reply is written again once it grew by 1/FLUSH_GROWTH of what is written…
FLUSH_SECONDS = 2.0  # …or this long after its last write
DAMAGED = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB: not a database, or a damaged one

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL, title TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '', recipe TEXT NOT NULL DEFAULT '', kestra_version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL REFERENCES sessions(id), number INTEGER NOT NULL, request TEXT NOT NULL,
    reply TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    recipe TEXT NOT NULL DEFAULT '', prompt_hashes TEXT NOT NULL DEFAULT '[]', prompt_parts TEXT NOT NULL DEFAULT '[]',
    sources TEXT NOT NULL DEFAULT '[]',
    usage TEXT NOT NULL DEFAULT '[]', error TEXT, started REAL NOT NULL, ended REAL, owner TEXT, shown TEXT,
    question INTEGER NOT NULL DEFAULT 0, attempt_log TEXT NOT NULL DEFAULT '[]', error_hint TEXT,
    PRIMARY KEY (session_id, number)
);
CREATE TABLE IF NOT EXISTS revisions (
    session_id TEXT NOT NULL REFERENCES sessions(id), number INTEGER NOT NULL, turn INTEGER,
    yaml TEXT NOT NULL, valid INTEGER NOT NULL, diagnostics TEXT NOT NULL, recipe TEXT NOT NULL,
    prompt_hash TEXT NOT NULL, created REAL NOT NULL, previous INTEGER, PRIMARY KEY (session_id, number)
);
CREATE TABLE IF NOT EXISTS notes (
    session_id TEXT NOT NULL REFERENCES sessions(id), number INTEGER NOT NULL, after_turn INTEGER NOT NULL,
    kind TEXT NOT NULL, text TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (session_id, number)
);
"""
# Columns added since the first schema: an older sessions.db gets them on open (ALTER TABLE … ADD COLUMN).
# A revision's `previous` in an older file is the one before it: that store kept a single line.
MIGRATIONS = {
    ("turns", "owner"): ["ALTER TABLE turns ADD COLUMN owner TEXT"],
    ("turns", "shown"): ["ALTER TABLE turns ADD COLUMN shown TEXT"],
    ("turns", "question"): ["ALTER TABLE turns ADD COLUMN question INTEGER NOT NULL DEFAULT 0"],
    ("turns", "attempt_log"): ["ALTER TABLE turns ADD COLUMN attempt_log TEXT NOT NULL DEFAULT '[]'"],
    ("turns", "error_hint"): ["ALTER TABLE turns ADD COLUMN error_hint TEXT"],
    ("revisions", "previous"): [
        "ALTER TABLE revisions ADD COLUMN previous INTEGER",
        """UPDATE revisions SET previous = (SELECT MAX(r.number) FROM revisions r
           WHERE r.session_id = revisions.session_id AND r.number < revisions.number)""",
    ],
}
REVISION_COLUMNS = "number, turn, yaml, valid, diagnostics, recipe, prompt_hash, previous"


class StoreError(CopilotError):
    """The session store cannot be opened or written (locked for too long, read-only, a disk error)."""


@dataclass(frozen=True)
class SessionInfo:
    id: str
    title: str
    created: float
    updated: float
    turns: int
    revisions: int
    model: str
    recipe: str


class TurnRow(TypedDict):
    """A recorded turn, as `turns()` lists it; the lists (prompt hashes and parts, sources, usage) are JSON text."""

    session_id: str
    number: int
    request: str
    reply: str
    status: str  # running, done, failed or interrupted
    attempts: int
    recipe: str
    prompt_hashes: str
    prompt_parts: str
    sources: str
    usage: str
    error: str | None
    started: float
    ended: float | None
    shown: str | None  # what the user saw in place of `request` (None: the request itself)
    owner: str | None  # the process recording it (engine/processes.py)
    question: bool  # asked as a question (`/ask`): its reply is an answer, never a flow
    attempt_log: str  # JSON: each validated attempt, a list of StoredAttempt
    error_hint: str | None  # what to do about `error`


class StoredAttempt(TypedDict):
    """An attempt of a turn the validator judged: its reply and what it found (an answer, a reply cut short or
    stopped is never judged: it is the turn's `reply`)."""

    reply: str
    valid: bool
    diagnostics: list[_StoredDiagnostic]


@dataclass(frozen=True)
class JudgedAttempt:
    """A recorded attempt the validator judged (StoredAttempt, read back)."""

    reply: str
    valid: bool
    diagnostics: tuple[Diagnostic, ...]


def judged_attempts(turn: TurnRow) -> list[JudgedAttempt]:
    """The attempts of a recorded turn that were validated, in order (a store older than the log: none)."""
    stored: list[StoredAttempt] = json.loads(turn["attempt_log"] or "[]")
    return [JudgedAttempt(a["reply"], a["valid"], tuple(_diagnostic(d) for d in a["diagnostics"])) for a in stored]


class NoteRow(TypedDict):
    """Something a front end told the user about the session's flow (a test-run's verdict, a deploy, a file
    loaded), recorded so a resumed session shows it where it was said: after turn `after_turn`."""

    after_turn: int  # the number of the last turn recorded when it was said (0: before the first)
    kind: str  # system or error
    text: str


class RevisionRow(TypedDict):
    """A recorded revision, as `revisions()` lists it."""

    number: int  # its number, as the engine numbers it (the order revisions were made in)
    id: int  # the store's own number, never reused
    previous: int | None  # the id it was made from
    turn: int | None  # the turn that made it; None for a loaded file
    yaml: str
    valid: bool


class _StoredRevision(NamedTuple):
    """A row of the revisions table (REVISION_COLUMNS)."""

    number: int
    turn: int | None
    yaml: str
    valid: int
    diagnostics: str  # JSON: a list of _StoredDiagnostic
    recipe: str
    prompt_hash: str
    previous: int | None


class _StoredDiagnostic(TypedDict):
    """A diagnostic as `Diagnostic.to_dict` writes it; older stores lack the optional keys."""

    severity: str
    code: str
    message: str
    line: NotRequired[int | None]
    column: NotRequired[int | None]
    path: NotRequired[str]
    hint: NotRequired[str | None]


def _clean(text: str) -> str:
    return redact_secrets(text)[0]


def _clean_diagnostic(found: dict[str, object]) -> _StoredDiagnostic:
    """A diagnostic to store, its texts redacted (a message may quote the value it found)."""
    stored = cast(_StoredDiagnostic, {k: _clean(v) if isinstance(v, str) else v for k, v in found.items()})
    return stored


class SessionStore:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection
        self.notes: list[str] = []  # what happened on open that the user should know (a damaged file moved aside)
        self._recording: dict[tuple[str, int], _TurnRecorder] = {}  # this store's running turns
        self._ids: dict[str, list[int]] = {}  # session → the store's id of each of the engine's revisions, in order
        self._closed = False

    @classmethod
    def open(cls, path: Path) -> SessionStore:
        """The store at `path`, created if need be. A file that is not a database (or a damaged one) is moved
        aside, never deleted, and a new one started; `store.notes` says where it went."""
        path = Path(path)
        private_dir(path.parent)
        notes = []
        try:
            try:
                connection = _connect(path)
            except sqlite3.DatabaseError as exc:
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in DAMAGED:
                    raise
                aside = _move_aside(path)
                notes.append(
                    f"The session store {path} was damaged ({exc}): it was moved to {aside} and a new one started. "
                    f"Your earlier sessions are in that file; `sqlite3 {aside} .recover` may bring them back."
                )
                connection = _connect(path)
        except (sqlite3.Error, OSError) as exc:
            raise _store_error(path, exc) from exc
        store = cls(connection)
        store.notes = notes
        return store

    def close(self) -> None:
        """Close the store; a turn still being recorded keeps what arrived and is marked interrupted."""
        if self._closed:
            return
        for session_id in {session for session, _ in self._recording}:
            self.mark_interrupted(session_id)
        self._closed = True
        self.db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A write transaction that holds the database's write lock from its start: what it reads (the next
        number) cannot change before it writes."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- sessions -----------------------------------------------------------------------------------
    def create(self, *, model: str = "", recipe: str = "", kestra_version: int = 1) -> str:
        session_id = uuid.uuid4().hex[:12]
        now = time.time()
        self.db.execute(
            "INSERT INTO sessions (id, created, updated, model, recipe, kestra_version) VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, now, now, model, recipe, kestra_version),
        )
        return session_id

    def sessions(self, search: str = "") -> list[SessionInfo]:
        """Newest first; `search` keeps sessions whose id, title, any request or any reply contains it."""
        where, values = "", tuple[str, ...]()
        if search.strip():
            pattern = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where = """WHERE s.id LIKE ?1 ESCAPE '\\' OR s.title LIKE ?1 ESCAPE '\\' OR EXISTS (
                SELECT 1 FROM turns t WHERE t.session_id = s.id
                AND (t.request LIKE ?1 ESCAPE '\\' OR t.reply LIKE ?1 ESCAPE '\\'))"""
            values = (pattern,)
        rows = self.db.execute(
            f"""SELECT s.id, s.title, s.created, s.updated, s.model, s.recipe,
                      (SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id),
                      (SELECT COUNT(*) FROM revisions r WHERE r.session_id = s.id)
               FROM sessions s {where} ORDER BY s.updated DESC""",
            values,
        ).fetchall()
        return [SessionInfo(r[0], r[1], r[2], r[3], r[6], r[7], r[4], r[5]) for r in rows]

    def model_of(self, session_id: str) -> str:
        """The model a session was started with ("" when unknown, or no such session)."""
        row = self.db.execute("SELECT model FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return str(row[0]) if row else ""

    def delete(self, session_id: str) -> bool:
        """Remove a session with its turns and revisions; False when there was none."""
        with self._transaction():
            self.db.execute("DELETE FROM turns WHERE session_id = ?", (session_id,))
            self.db.execute("DELETE FROM revisions WHERE session_id = ?", (session_id,))
            self.db.execute("DELETE FROM notes WHERE session_id = ?", (session_id,))
            deleted = self.db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount
        self._ids.pop(session_id, None)
        return bool(deleted)

    def add_note(self, session_id: str, text: str, kind: str = "system") -> None:
        """Record what a front end told the user about the session's flow, after the turns recorded so far."""
        with self._transaction():
            self.db.execute(
                """INSERT INTO notes (session_id, number, after_turn, kind, text, created) VALUES (?1,
                   (SELECT COALESCE(MAX(number), 0) + 1 FROM notes WHERE session_id = ?1),
                   (SELECT COALESCE(MAX(number), 0) FROM turns WHERE session_id = ?1), ?2, ?3, ?4)""",
                (session_id, kind, _clean(text), time.time()),
            )

    def notes_of(self, session_id: str) -> list[NoteRow]:
        """The notes recorded in a session (add_note), in order."""
        rows = self.db.execute(
            "SELECT after_turn, kind, text FROM notes WHERE session_id = ? ORDER BY number", (session_id,)
        ).fetchall()
        return [NoteRow(after_turn=r[0], kind=r[1], text=r[2]) for r in rows]

    def turns(self, session_id: str) -> list[TurnRow]:
        cursor = self.db.execute("SELECT * FROM turns WHERE session_id = ? ORDER BY number", (session_id,))
        cursor.row_factory = sqlite3.Row
        return [_turn(row) for row in cursor]

    def revisions(self, session_id: str) -> list[RevisionRow]:
        """Every revision of the session, in the order they were made, as `restore` brings them back: `number`
        (as the engine numbers it), `turn` (the turn that made it; None for a loaded file or a hand edit),
        `yaml`, `valid`, and `id` (the store's own number, never reused) with `previous` (the id it was made
        from)."""
        rows = self._rows(session_id)
        return [
            RevisionRow(
                number=position,
                id=stored,
                previous=rows[stored].previous,
                turn=rows[stored].turn,
                yaml=rows[stored].yaml,
                valid=bool(rows[stored].valid),
            )
            for position, stored in enumerate(sorted(rows), 1)
        ]

    def _rows(self, session_id: str) -> dict[int, _StoredRevision]:
        query = f"SELECT {REVISION_COLUMNS} FROM revisions WHERE session_id = ? ORDER BY number"
        return {row[0]: _StoredRevision(*row) for row in self.db.execute(query, (session_id,)).fetchall()}

    # --- recording a turn ---------------------------------------------------------------------------
    def recorder(
        self, session_id: str, request: str, *, model: str = "", shown: str | None = None, question: bool = False
    ) -> Callable[[TurnEvent], None]:
        """An `on_event` callback that writes the turn as its events arrive; `model` names the model its calls
        are made with (their cost is priced by it, also after a resume under another model); `shown` is what
        the user saw in place of `request` (a repair from a failed run: not the prompt with its logs);
        `question`: asked as a question (its reply is an answer)."""
        now = time.time()
        request = _clean(request)
        title = " ".join((shown or request).split())[:80]
        with self._transaction():
            (number,) = self.db.execute(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM turns WHERE session_id = ?", (session_id,)
            ).fetchone()
            self.db.execute(
                "INSERT INTO turns (session_id, number, request, status, started, owner, shown, question) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                (
                    session_id,
                    number,
                    request,
                    now,
                    this_process(),
                    _clean(shown) if shown is not None else None,
                    int(question),
                ),
            )
            self.db.execute(
                "UPDATE sessions SET updated = ?, title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
                (now, title, session_id),
            )
        recorder = _TurnRecorder(self, session_id, number, model)
        self._recording[(session_id, number)] = recorder
        return recorder

    def save_revision(self, session_id: str, revision: Revision, turn: int | None = None) -> int:
        """Append `revision` to the session, made from the one its `previous` names; returns its id. Nothing
        recorded is replaced or renumbered: a revision made after an undo is one more."""
        ids = self._ids.get(session_id)
        if ids is None:
            ids = self._ids[session_id] = sorted(self._rows(session_id))
        made_from = ids[revision.previous - 1] if revision.previous and revision.previous <= len(ids) else None
        diagnostics = json.dumps([d.to_dict() for d in revision.diagnostics])
        with self._transaction():
            (number,) = self.db.execute(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM revisions WHERE session_id = ?", (session_id,)
            ).fetchone()
            self.db.execute(
                f"INSERT INTO revisions (session_id, {REVISION_COLUMNS}, created) VALUES ({', '.join('?' * 10)})",
                (
                    session_id,
                    number,
                    turn,
                    _clean(revision.yaml),
                    int(revision.valid),
                    diagnostics,
                    revision.recipe,
                    revision.prompt_hash,
                    made_from,
                    time.time(),
                ),
            )
        ids.append(number)
        return int(number)

    def mark_interrupted(self, session_id: str) -> None:
        """After Ctrl+C: the turn this process is recording keeps its partial reply and is marked interrupted
        (another process's turn in the same session goes on)."""
        if self._closed:
            return
        for key in [key for key in self._recording if key[0] == session_id]:
            self._recording.pop(key).flush()
        self.db.execute(
            "UPDATE turns SET status = 'interrupted', ended = ? WHERE session_id = ? AND status = 'running' "
            "AND owner = ?",
            (time.time(), session_id, this_process()),
        )

    # --- resuming -----------------------------------------------------------------------------------
    def has_session(self, session_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is not None

    def restore(self, session_id: str, engine: Engine) -> Revision | None:
        """Put the session's revisions (every one, in the order they were made) and its conversation back
        into `engine`; the last revision made becomes current."""
        rows = self._rows(session_id)
        if not rows and not self.has_session(session_id):
            raise KeyError(session_id)
        ids = sorted(rows)
        number_of = {stored: position for position, stored in enumerate(ids, 1)}
        revisions: list[Revision] = []
        for position, stored in enumerate(ids, 1):
            row = rows[stored]
            found = tuple(_diagnostic(d) for d in json.loads(row.diagnostics))
            previous = number_of.get(row.previous) if row.previous is not None else None
            diff = diff_flows(revisions[previous - 1].yaml, row.yaml) if previous else None
            revisions.append(Revision(position, row.yaml, found, diff, row.recipe, row.prompt_hash, previous))
        self._ids[session_id] = ids
        exchanges = self.db.execute(
            "SELECT request, reply FROM turns WHERE session_id = ? AND reply != '' ORDER BY number", (session_id,)
        ).fetchall()
        engine.load(revisions, exchanges)
        return engine.current


class _TurnRecorder:
    """Writes one turn as its events arrive (see SessionStore.recorder)."""

    def __init__(self, store: SessionStore, session_id: str, number: int, model: str = "") -> None:
        self.store, self.session_id, self.number, self.model = store, session_id, number, model
        self.pieces: list[str] = []  # the current attempt's reply
        self.size = 0  # its length so far
        self.written = 0  # its length when last written
        self.last_write = time.monotonic()
        self.hashes: list[str] = []
        self.parts: list[dict[str, str]] = []
        self.usage: list[dict[str, int | str]] = []
        self.judged: list[StoredAttempt] = []  # the attempts validated so far

    def update(self, sql: str, *values: str | int | float | None) -> None:
        if self.store._closed:  # the app closed the store while the turn was being stopped: it was marked then
            return
        self.store.db.execute(
            f"UPDATE turns SET {sql} WHERE session_id = ? AND number = ?", (*values, self.session_id, self.number)
        )

    def flush(self) -> None:
        """Write the reply so far, if it grew since it was last written (redacted as a whole: a credential
        may straddle two deltas)."""
        if self.size == self.written:
            return
        text = "".join(self.pieces)
        self.pieces = [text]
        self.update("reply = ?", _clean(text))
        self.written, self.last_write = self.size, time.monotonic()

    def __call__(self, event: TurnEvent) -> None:
        if isinstance(event, TextDelta):
            self.pieces.append(event.text)
            self.size += len(event.text)
            grown = self.size - self.written
            if grown * FLUSH_GROWTH >= self.written or time.monotonic() - self.last_write >= FLUSH_SECONDS:
                self.flush()
            return
        self.flush()  # every other event comes after a reply (or between attempts): what arrived is written
        if isinstance(event, Sources):
            sources = [
                {
                    "kind": h.chunk.kind,
                    "title": h.chunk.title,
                    "location": h.chunk.location,
                    "id": h.chunk.id,
                    "source": h.chunk.source,
                    "score": h.score,
                }
                for h in event.hits
            ]
            self.update("sources = ?", json.dumps(sources))
        elif isinstance(event, Attempt):
            self.pieces, self.size, self.written = [], 0, 0
            self.hashes.append(event.prompt_hash)
            self.parts.append(event.parts)
            self.update(
                "attempts = ?, recipe = ?, prompt_hashes = ?, prompt_parts = ?",
                event.number,
                event.recipe,
                json.dumps(self.hashes),
                json.dumps(self.parts),
            )
        elif isinstance(event, Usage):
            self.usage.append(
                {
                    "prompt": event.prompt_tokens,
                    "output": event.output_tokens,
                    "thoughts": event.thought_tokens,
                    "cached": event.cached_tokens,
                    **({"model": self.model} if self.model else {}),
                }
            )
            self.update("usage = ?", json.dumps(self.usage))
        elif isinstance(event, Validated):
            found = [_clean_diagnostic(d.to_dict()) for d in event.diagnostics]
            self.judged.append(StoredAttempt(reply=_clean("".join(self.pieces)), valid=event.valid, diagnostics=found))
            self.update("attempt_log = ?", json.dumps(self.judged))
        elif isinstance(event, ErrorEvent):
            hint = _clean(event.error.hint) if event.error.hint else None
            self.update(
                "status = 'failed', error = ?, error_hint = ?, ended = ?", _clean(str(event.error)), hint, time.time()
            )
            self.store._recording.pop((self.session_id, self.number), None)
        elif isinstance(event, Revision):
            self.store.save_revision(self.session_id, event, self.number)
        elif isinstance(event, TurnEnded):
            self.update("status = CASE WHEN status = 'running' THEN 'done' ELSE status END, ended = ?", time.time())
            self.store._recording.pop((self.session_id, self.number), None)


def _turn(row: sqlite3.Row) -> TurnRow:
    return TurnRow(
        session_id=row["session_id"],
        number=row["number"],
        request=row["request"],
        reply=row["reply"],
        status=row["status"],
        attempts=row["attempts"],
        recipe=row["recipe"],
        prompt_hashes=row["prompt_hashes"],
        prompt_parts=row["prompt_parts"],
        sources=row["sources"],
        usage=row["usage"],
        error=row["error"],
        started=row["started"],
        ended=row["ended"],
        owner=row["owner"],
        shown=row["shown"],
        question=bool(row["question"]),
        attempt_log=row["attempt_log"],
        error_hint=row["error_hint"],
    )


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to the store at `path`, created private (SQLite gives its -wal and -shm files the mode of
    the database file), its schema brought up to date."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))):
        tighten(name)
    connection = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)  # autocommit: writes land at once
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(SCHEMA)
        _migrate(connection)
        _interrupt_orphans(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def _interrupt_orphans(connection: sqlite3.Connection) -> None:
    """Turns left `running` by a process that has ended (a crash, a kill) were interrupted: marked so, their
    partial reply kept. A turn another live process is recording is left alone."""
    running = connection.execute("SELECT session_id, number, owner FROM turns WHERE status = 'running'").fetchall()
    for session, number, owner in running:
        if is_gone(owner):
            connection.execute(
                "UPDATE turns SET status = 'interrupted', ended = ? "
                "WHERE session_id = ? AND number = ? AND status = 'running'",
                (time.time(), session, number),
            )


def _migrate(connection: sqlite3.Connection) -> None:
    def missing() -> list[tuple[str, str]]:
        columns = {
            table: {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
            for table in ("turns", "revisions")
        }
        return [(table, column) for table, column in MIGRATIONS if column not in columns[table]]

    if not missing():
        return
    connection.execute("BEGIN IMMEDIATE")  # another process may be migrating the same file
    try:
        for key in missing():
            for statement in MIGRATIONS[key]:
                connection.execute(statement)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _move_aside(path: Path) -> Path:
    """Rename a damaged store (with its -wal and -shm) to `sessions.db.damaged-<when>`, never over a file."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside, count = path.with_name(f"{path.name}.damaged-{stamp}"), 1
    while aside.exists():
        count += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{count}")
    for suffix in ("-wal", "-shm", ""):  # the main file last: its name is what the next open looks for
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, aside.with_name(aside.name + suffix))
    return aside


def _store_error(path: Path, exc: sqlite3.Error | OSError) -> StoreError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    return StoreError(
        f"The session store {path} cannot be used: {reason}.",
        hint="If another kestra-copilot is busy with it, try again; check the folder's permissions and free space.",
    )


def _diagnostic(data: _StoredDiagnostic) -> Diagnostic:
    return Diagnostic(
        Severity(data["severity"]), data["code"], data["message"], data.get("line"), data.get("column"),
        data.get("path", ""), data.get("hint"),
    )  # fmt: skip
