"""Copy (OSC 52), save and load the flow, copy any code block of the conversation, and capture a turn as
an eval case. A mixin of `CopilotApp` (app.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .screens import FilePrompt, Picker, code_block_options, yaml_files
from .widgets import code_blocks

__all__ = ["FlowFiles"]


class FlowFiles:
    """The flow to and from files and the clipboard. Mixed into the app, whose `engine`, `replies`, `say`
    and `show_revision` it uses."""

    engine: Any
    replies: list[str]
    store: Any
    session: str | None

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
        from ..flows import parse_flow

        current = self.engine.current if self.engine else None
        if current is None:
            await self.say("There is no flow to save yet.", "error")
            return
        if path is None:
            data = parse_flow(current.yaml).data
            path = f"flows/{data.get('namespace', 'default')}/{data.get('id', 'flow')}.yml"
        target = Path(path).expanduser()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(current.yaml, encoding="utf-8")
        except OSError as exc:
            await self.say(f"Cannot save to {target}: {exc.strerror or exc}.", "error")
            return
        await self.say(f"Saved revision {current.number} to `{target}`.", "system")

    def action_load(self) -> None:
        """A prompt for the file, listing the YAML files under the working directory."""
        self.push_screen(FilePrompt("Load a flow", yaml_files(Path.cwd())), self._picked_file)

    async def _picked_file(self, path: str | None) -> None:
        if path:
            await self.load_flow(path)

    async def load_flow(self, path: str) -> None:
        if self.engine is None:
            await self.say("Still loading the engine; try again in a moment.", "system")
            return
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            await self.say(f"Cannot read {path}: {exc.strerror or exc}.", "error")
            return
        revision = self.engine.start_from(text)
        self.show_revision(revision)
        verdict = "valid" if revision.valid else f"{sum(d.is_error for d in revision.diagnostics)} problem(s)"
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
