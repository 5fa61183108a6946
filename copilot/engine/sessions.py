"""Sessions in SQLite (`<data dir>/sessions.db`): turns, replies, revisions, sources, recipe and prompt
hashes, usage — written as they happen, so a crash or Ctrl+C mid-stream loses nothing.

    store = SessionStore.open(settings.data_dir / "sessions.db")
    session = store.create(model="gemini-3.8-flash", recipe="default")
    result = await engine.turn(text, on_event=store.recorder(session, text))
    store.restore(session, engine)        # later: revisions back into a fresh engine, undo included

Everything stored goes through `redact_secrets` first. A turn still marked `running` when the store is
opened again was interrupted (crash, kill): it is marked so, its partial reply kept.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..flows import Diagnostic, Severity, diff_flows, redact_secrets
from ..llm.base import TextDelta, Usage
from .turn import Attempt, Engine, ErrorEvent, Revision, Sources, TurnEnded, TurnEvent

__all__ = ["SessionInfo", "SessionStore"]

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
    usage TEXT NOT NULL DEFAULT '[]', error TEXT, started REAL NOT NULL, ended REAL,
    PRIMARY KEY (session_id, number)
);
CREATE TABLE IF NOT EXISTS revisions (
    session_id TEXT NOT NULL REFERENCES sessions(id), number INTEGER NOT NULL, turn INTEGER,
    yaml TEXT NOT NULL, valid INTEGER NOT NULL, diagnostics TEXT NOT NULL, recipe TEXT NOT NULL,
    prompt_hash TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (session_id, number)
);
"""


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


def _clean(text: str) -> str:
    return redact_secrets(text)[0]


class SessionStore:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    @classmethod
    def open(cls, path: Path) -> SessionStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None)  # autocommit: every write lands at once
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(SCHEMA)
        connection.execute(
            "UPDATE turns SET status = 'interrupted', ended = ? WHERE status = 'running'", (time.time(),)
        )
        return cls(connection)

    def close(self) -> None:
        self.db.close()

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
        where, values = "", ()
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

    def delete(self, session_id: str) -> bool:
        """Remove a session with its turns and revisions; False when there was none."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM turns WHERE session_id = ?", (session_id,))
            self.db.execute("DELETE FROM revisions WHERE session_id = ?", (session_id,))
            deleted = self.db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount
        return bool(deleted)

    def turns(self, session_id: str) -> list[dict[str, Any]]:
        cursor = self.db.execute("SELECT * FROM turns WHERE session_id = ? ORDER BY number", (session_id,))
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def revisions(self, session_id: str) -> list[dict[str, Any]]:
        """The session's revisions in order: number, the turn that made it (None for a loaded file), yaml."""
        rows = self.db.execute(
            "SELECT number, turn, yaml, valid FROM revisions WHERE session_id = ? ORDER BY number", (session_id,)
        ).fetchall()
        return [{"number": n, "turn": t, "yaml": y, "valid": bool(v)} for n, t, y, v in rows]

    # --- recording a turn ---------------------------------------------------------------------------
    def recorder(self, session_id: str, request: str) -> Callable[[TurnEvent], None]:
        """An `on_event` callback that writes the turn as its events arrive."""
        (number,) = self.db.execute(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM turns WHERE session_id = ?", (session_id,)
        ).fetchone()
        now = time.time()
        self.db.execute(
            "INSERT INTO turns (session_id, number, request, status, started) VALUES (?, ?, ?, 'running', ?)",
            (session_id, number, _clean(request), now),
        )
        title = " ".join(_clean(request).split())[:80]
        self.db.execute(
            "UPDATE sessions SET updated = ?, title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
            (now, title, session_id),
        )
        reply: list[str] = []
        hashes: list[str] = []
        parts: list[dict[str, str]] = []
        usage: list[dict[str, int]] = []
        where = (session_id, number)

        def update(sql: str, *values: Any) -> None:
            self.db.execute(f"UPDATE turns SET {sql} WHERE session_id = ? AND number = ?", (*values, *where))

        def record(event: TurnEvent) -> None:
            if isinstance(event, Sources):
                sources = [
                    {"kind": h.chunk.kind, "title": h.chunk.title, "location": h.chunk.location, "id": h.chunk.id}
                    for h in event.hits
                ]
                update("sources = ?", json.dumps(sources))
            elif isinstance(event, Attempt):
                reply.clear()
                hashes.append(event.prompt_hash)
                parts.append(event.parts)
                update(
                    "attempts = ?, recipe = ?, prompt_hashes = ?, prompt_parts = ?",
                    event.number,
                    event.recipe,
                    json.dumps(hashes),
                    json.dumps(parts),
                )
            elif isinstance(event, TextDelta):
                reply.append(event.text)
                update("reply = ?", _clean("".join(reply)))  # each delta lands: Ctrl+C loses nothing
            elif isinstance(event, Usage):
                usage.append(
                    {
                        "prompt": event.prompt_tokens,
                        "output": event.output_tokens,
                        "thoughts": event.thought_tokens,
                        "cached": event.cached_tokens,
                    }
                )
                update("usage = ?", json.dumps(usage))
            elif isinstance(event, ErrorEvent):
                update("status = 'failed', error = ?, ended = ?", _clean(str(event.error)), time.time())
            elif isinstance(event, Revision):
                self.save_revision(session_id, event, number)
            elif isinstance(event, TurnEnded):
                update("status = CASE WHEN status = 'running' THEN 'done' ELSE status END, ended = ?", time.time())

        return record

    def save_revision(self, session_id: str, revision: Revision, turn: int | None = None) -> None:
        diagnostics = json.dumps([d.to_dict() for d in revision.diagnostics])
        self.db.execute(
            "INSERT OR REPLACE INTO revisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                revision.number,
                turn,
                _clean(revision.yaml),
                int(revision.valid),
                diagnostics,
                revision.recipe,
                revision.prompt_hash,
                time.time(),
            ),
        )
        self.db.execute("DELETE FROM revisions WHERE session_id = ? AND number > ?", (session_id, revision.number))

    def mark_interrupted(self, session_id: str) -> None:
        """After Ctrl+C: the running turn keeps its partial reply and is marked interrupted."""
        self.db.execute(
            "UPDATE turns SET status = 'interrupted', ended = ? WHERE session_id = ? AND status = 'running'",
            (time.time(), session_id),
        )

    # --- resuming -----------------------------------------------------------------------------------
    def restore(self, session_id: str, engine: Engine) -> Revision | None:
        """Put the session's revisions and conversation back into `engine`; the last revision becomes current."""
        rows = self.db.execute(
            "SELECT number, yaml, diagnostics, recipe, prompt_hash FROM revisions WHERE session_id = ? ORDER BY number",
            (session_id,),
        ).fetchall()
        if not rows and not self.db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone():
            raise KeyError(session_id)
        revisions: list[Revision] = []
        for number, yaml, diagnostics, recipe, prompt_hash in rows:
            found = tuple(_diagnostic(d) for d in json.loads(diagnostics))
            diff = diff_flows(revisions[-1].yaml, yaml) if revisions else None
            revisions.append(Revision(number, yaml, found, diff, recipe, prompt_hash))
        exchanges = self.db.execute(
            "SELECT request, reply FROM turns WHERE session_id = ? AND reply != '' ORDER BY number", (session_id,)
        ).fetchall()
        engine.load(revisions, exchanges)
        return engine.current


def _diagnostic(data: dict[str, Any]) -> Diagnostic:
    return Diagnostic(
        Severity(data["severity"]), data["code"], data["message"], data.get("line"), data.get("column"),
        data.get("path", ""), data.get("hint"),
    )  # fmt: skip
