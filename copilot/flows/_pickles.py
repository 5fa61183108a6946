"""What the validator derives from a schema, kept as pickles in the user's private cache dir (0600 files in
0700 folders): read back, or None when never kept or unreadable; written, or left unsaid when it cannot be
(either costs time on the next run, never a verdict)."""

from __future__ import annotations

import pickle
from pathlib import Path

__all__ = ["read_pickle", "write_pickle"]

_UNREADABLE = (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError)


def read_pickle(path: Path) -> object | None:
    try:
        loaded: object = pickle.loads(path.read_bytes())  # the user's own file, in the private cache dir
    except _UNREADABLE:
        return None
    return loaded


def write_pickle(path: Path, value: object) -> None:
    from ..errors import CopilotError
    from ..private_files import private_dir, write_private

    try:
        private_dir(path.parent)
        write_private(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except (OSError, CopilotError):
        pass  # derived again next time
