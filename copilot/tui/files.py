"""Copy (OSC 52), save and load the flow, copy any code block of the conversation, and capture a turn as
an eval case. A mixin of `CopilotApp` (app.py).

Files are read and written through copilot.fileio (regular files only, bounded, atomic). The default save
path is built from the flow's namespace and id, which the model wrote: they are reduced to safe file-name
characters and the result must stay inside `flows/`, so `id: ../../../../tmp/x` cannot choose a path.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .screens import FilePrompt, Picker, code_block_options, yaml_files
from .widgets import code_blocks

__all__ = ["FlowFiles", "default_save_path"]

FLOWS_FOLDER = "flows"


def _file_name_part(value: Any, fallback: str) -> str:
    """A namespace or id as one safe path component: letters, digits, `_`, `-` and single dots inside."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(value)) if value is not None else ""
    text = re.sub(r"\.{2,}", ".", text).strip("._-")
    return text[:120] or fallback


def default_save_path(data: Any, root: Path | None = None) -> Path:
    """`flows/<namespace>/<id>.yml` under `root` (the working directory), from parts a model may have
    written: sanitised, and checked to resolve inside `flows/` (a linked folder cannot lead out either)."""
    folder = (root or Path.cwd()) / FLOWS_FOLDER
    data = data if isinstance(data, dict) else {}
    path = folder / _file_name_part(data.get("namespace"), "default") / f"{_file_name_part(data.get('id'), 'flow')}.yml"
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"{path} leads out of {folder}")
    return path


class FlowFiles:
    """The flow to and from files and the clipboard. Mixed into the app, whose `engine`, `replies`, `say`
    and `show_revision` it uses; a loaded file is recorded in the session (conversation.py)."""

    engine: Any
    replies: list[str]
    store: Any
    session: str | None
    changing_flow_is_blocked: Callable[[], Awaitable[bool]]  # conversation.py
    record_revision: Callable[[Any], None]  # conversation.py

    async def action_copy(self, block: str = "") -> None:
        """The current flow, or with a number the conversation's code block N (`/blocks` lists them)."""
        if block:
            blocks = [b for reply in self.replies for b in code_blocks(reply)]
            if not block.isdigit() or not 1 <= int(block) <= len(blocks):
                await self.say(f"Usage: `/copy N` with N from 1 to {len(blocks)} — `/blocks` lists them.", "error")
                return
            self.copy_to_clipboard(blocks[int(block) - 1][1])
            await self.say(f"Copied code block {block} to the clipboard.", "system")
            return
        current = self.engine.current if self.engine else None
        if current is None:
            await self.say("There is no flow to copy yet.", "error")
            return
        self.copy_to_clipboard(current.yaml)  # OSC 52: works over SSH and in most terminals
        await self.say(f"Copied revision {current.number} to the clipboard.", "system")

    async def action_blocks(self) -> None:
        blocks = [b for reply in self.replies for b in code_blocks(reply)]
        if not blocks:
            await self.say("No code blocks in the conversation yet.", "system")
            return
        self.push_screen(Picker("Copy a code block", code_block_options(blocks)), self._picked_block)

    async def _picked_block(self, number: str | None) -> None:
        if number:
            await self.action_copy(number)

    async def action_save(self, path: str | None = None) -> None:
        """The current flow to PATH, or by default to `flows/<namespace>/<id>.yml` (see default_save_path)."""
        from ..fileio import FileError, write_text
        from ..flows import FlowError, parse_flow

        current = self.engine.current if self.engine else None
        if current is None:
            await self.say("There is no flow to save yet.", "error")
            return
        if path is None:
            try:
                data = parse_flow(current.yaml).data
            except FlowError:
                data = None
            try:
                target = default_save_path(data)
            except ValueError as exc:
                await self.say(f"Cannot save: {exc}. Give a path: `/save PATH`.", "error")
                return
        else:
            target = Path(path).expanduser()
        try:
            write_text(target, current.yaml, what="flow", make_parents=True)
        except FileError as exc:
            await self.say(f"Cannot save: {exc}" + (f" {exc.hint}" if exc.hint else ""), "error")
            return
        await self.say(f"Saved revision {current.number} to `{target}`.", "system")

    def action_load(self) -> None:
        """A prompt for the file, listing the YAML files under the working directory."""
        self.push_screen(FilePrompt("Load a flow", yaml_files(Path.cwd())), self._picked_file)

    async def _picked_file(self, path: str | None) -> None:
        if path:
            await self.load_flow(path)

    async def load_flow(self, path: str) -> None:
        if await self.changing_flow_is_blocked():
            return
        if self.engine is None:
            await self.say("Still loading the engine; try again in a moment.", "system")
            return
        from ..fileio import MAX_FLOW_BYTES, FileError, read_text

        try:
            text = read_text(Path(path).expanduser(), limit=MAX_FLOW_BYTES, what="flow")
        except FileError as exc:
            await self.say(f"Cannot load it: {exc}" + (f" {exc.hint}" if exc.hint else ""), "error")
            return
        revision = self.engine.start_from(text)
        self.record_revision(revision)
        self.show_revision(revision)
        verdict = "valid" if revision.valid else f"{sum(d.blocking for d in revision.diagnostics)} problem(s)"
        await self.say(f"Loaded `{path}` as revision {revision.number} ({verdict}). Ask for changes.", "system")

    async def action_capture(self, path: str | None = None) -> None:
        """The turn that made the current revision becomes a regression case (`eval capture`), its checks
        proposed from the flow, appended to `evals/captured.yaml` (or PATH) for review."""
        from ..errors import CopilotError
        from ..evaluation.capture import add_case, case_from_session

        current = self.engine.current if self.engine else None
        if current is None or self.store is None or self.session is None:
            await self.say("No turn to capture yet: ask for a flow first.", "system")
            return
        made = [r["turn"] for r in self.store.revisions(self.session) if r["number"] == current.number]
        if not made or made[0] is None:
            await self.say(f"Revision {current.number} was loaded, not written in a turn: nothing to capture.", "error")
            return
        suite = Path(path or "evals/captured.yaml").expanduser()
        try:
            case_id = add_case(suite, case_from_session(self.store, self.session, made[0]))
        except (CopilotError, OSError) as exc:
            await self.say(f"Cannot capture the turn: {exc}", "error")
            return
        await self.say(
            f"Case `{case_id}` added to `{suite}`: review its checks, then `kestra-copilot eval run {suite}`.",
            "system",
        )
