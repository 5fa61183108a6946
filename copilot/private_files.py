"""Files only the user can read: the session store, the index and the caches hold requests, replies and flows.

    folder = private_dir(settings.data_dir)          # created 0700 (and any missing parent), whatever the umask
    write_private(folder / "manifest.json", text)    # atomic, 0600
    tighten(folder / "sessions.db")                  # an existing file readable by others becomes 0600

A folder that already exists is left as it is (it may be the user's own, shared on purpose); what is created
inside it is private. Something in the way that is not a folder is a CopilotError saying what to do.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import CopilotError

__all__ = ["FILE_MODE", "FOLDER_MODE", "private_dir", "private_tree", "tighten", "write_private"]

FILE_MODE = 0o600
FOLDER_MODE = 0o700
SETTINGS_HINT = (
    "Move it aside, or choose another folder: data_dir / KESTRA_COPILOT_DATA_DIR, "
    "cache_dir / KESTRA_COPILOT_CACHE_DIR (or the command's --index)."
)


def private_dir(path: Path, *, hint: str = SETTINGS_HINT) -> Path:
    """`path` as a folder, creating it and its missing parents with mode 0700 (umask-independent)."""
    path = Path(path)
    missing: list[Path] = []
    here = path
    while not here.is_dir():
        if here.exists() or here.is_symlink():  # a file, or a link to nothing or to a file
            inside = "" if here == path else f", so {path} cannot be created in it"
            raise CopilotError(f"{here} is not a folder{inside}.", hint=hint)
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, FOLDER_MODE)
        except FileExistsError:
            if not folder.is_dir():  # another process put a file there meanwhile
                raise CopilotError(f"{folder} is not a folder.", hint=hint) from None
            continue
        except OSError as exc:
            raise CopilotError(f"Cannot create the folder {folder}: {exc.strerror or exc}.", hint=hint) from exc
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is filtered by the umask
    return path


def write_private(path: Path, content: str | bytes) -> None:
    """Write `content` to `path` atomically (a temporary file in the same folder, renamed over) with mode 0600."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, FILE_MODE)
        with os.fdopen(handle, "wb") as out:
            out.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def tighten(path: Path, mode: int = FILE_MODE) -> None:
    """Take away what others may do with `path` (a file of ours that exists); a file we do not own is left."""
    try:
        current = os.stat(path, follow_symlinks=False)
        if stat.S_ISLNK(current.st_mode) or current.st_uid != os.getuid():
            return
        if stat.S_IMODE(current.st_mode) & ~mode:
            os.chmod(path, stat.S_IMODE(current.st_mode) & mode)
    except (OSError, AttributeError):  # gone meanwhile, or no getuid (Windows)
        pass


def private_tree(folder: Path) -> None:
    """Every file (0600) and folder (0700) under `folder` that a library created with the umask's modes."""
    for root, folders, files in os.walk(folder):
        for name in folders:
            tighten(Path(root) / name, FOLDER_MODE)
        for name in files:
            tighten(Path(root) / name, FILE_MODE)
