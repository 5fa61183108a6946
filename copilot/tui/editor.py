"""Edit the flow yourself: the current revision in the user's editor ($VISUAL, $EDITOR, else vi), what comes
back to become the next revision. The file is private (0600, in its own folder) and removed afterwards: a
flow holds the user's own values the model never saw."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from ..errors import CopilotError

__all__ = ["edit_text", "editor_command"]


def editor_command() -> list[str]:
    """The user's editor, as a command line: $VISUAL, then $EDITOR, then vi."""
    chosen = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        command = shlex.split(chosen)
    except ValueError as exc:
        raise CopilotError(
            f"The editor command {chosen!r} does not parse: {exc}.", hint="Fix $VISUAL or $EDITOR."
        ) from exc
    if not command or shutil.which(command[0]) is None:
        raise CopilotError(f"There is no editor {chosen!r} here.", hint="Set $VISUAL or $EDITOR to your editor.")
    return command


def edit_text(text: str, name: str, suspended: Callable[[], AbstractContextManager[object]]) -> str | None:
    """`text` edited in the user's editor (the app `suspended` meanwhile); None when it comes back unchanged."""
    command = editor_command()
    folder = Path(tempfile.mkdtemp(prefix="kestra-copilot-"))  # 0700
    path = folder / name
    try:
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        with suspended():
            done = subprocess.run([*command, str(path)], check=False)
        if done.returncode:
            raise CopilotError(f"The editor ended with status {done.returncode}: the flow is unchanged.")
        edited = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CopilotError(f"Cannot edit the flow: {exc}") from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return None if edited == text else edited
