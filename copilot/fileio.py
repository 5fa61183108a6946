"""The user's files, read and written safely: one place for every command, the chat and the evals.

    text = read_text(path, limit=MAX_FLOW_BYTES, what="flow")   # or "-" for stdin, with allow_stdin=True
    write_text(path, text, what="flow")                          # atomic, keeps the file's permissions

Reads take regular files only (a FIFO, a device or a folder is refused before a byte is read, so nothing
hangs and `/dev/zero` is no MemoryError), stop at a size limit chosen per use, and decode strict UTF-8: a
bad byte is an error naming the file, the offset and the line, never a traceback and never silently
replaced. Writes go to a temporary file beside the target, are fsynced, then renamed over it: a crash
leaves the old file or the new one, never half of each. The existing file's permissions are kept; a
symlink is written through to its target; a target that is not a regular file is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import CopilotError

__all__ = [
    "MAX_DATASET_BYTES",
    "MAX_FLOW_BYTES",
    "MAX_PROMPT_BYTES",
    "MAX_SCHEMA_BYTES",
    "MAX_SUITE_BYTES",
    "FileError",
    "check_writable",
    "decode_utf8",
    "open_regular",
    "read_bytes",
    "read_text",
    "size_text",
    "write_text",
]

MAX_FLOW_BYTES = 1_000_000  # a flow file; the validator parses no bigger document (flows/_parse.py uses it)
MAX_SUITE_BYTES = 20_000_000  # an eval suite file, flows inline
MAX_PROMPT_BYTES = 1_000_000  # a recipe or a prompt template
MAX_SCHEMA_BYTES = 100_000_000  # a Kestra flow JSON schema (every plugin's: tens of MB)
MAX_DATASET_BYTES = 500_000_000  # a JSONL of flows or cases (kestra-flows/*.jsonl: a few MB)

_BLOCK = 1 << 16
_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class FileError(CopilotError):
    """A file cannot be read or written as asked."""


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def size_text(n: int) -> str:
    """`3 MB`, `1.2 MB`, `900 bytes`: a size for a message."""
    if n < 1_000_000:
        return f"{n:,} bytes"
    return f"{n / 1_000_000:.1f}".removesuffix(".0") + " MB"


def _not_regular(name: str, mode: int, *, allow_stdin: bool) -> FileError:
    hint = "Give the path of a regular file" + (", or - to read standard input." if allow_stdin else ".")
    if stat.S_ISDIR(mode):  # `diff flows …` (validate searches a folder itself: flowfiles.py)
        hint = f"Give the files, not the folder: `{name.rstrip('/')}/*.yml` (or *.yaml)."
    return FileError(f"{name} is {_kind(mode)}, not a regular file: it was not read.", hint=hint)


def _open_fd(path: str | os.PathLike[str], what: str, allow_stdin: bool) -> tuple[int, os.stat_result]:
    """A read-only descriptor on a regular file. O_NONBLOCK makes opening a FIFO return at once (no writer
    needed), and the check is on the descriptor itself (fstat), so nothing can swap the file in between."""
    name = os.fsdecode(path)
    if not name:
        raise FileError(f"No {what} file name was given.", hint="Give the path of a file.")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(os.path.expanduser(name), flags)
    except OSError as exc:
        raise _os_error("read", name, what, exc) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(name, info.st_mode, allow_stdin=allow_stdin)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def _os_error(verb: str, name: str, what: str, exc: OSError) -> FileError:
    if exc.errno == errno.ENOENT:
        return FileError(f"Cannot {verb} {name}: there is no such {what} file.", hint="Check the path.")
    if exc.errno == errno.EISDIR:
        return FileError(f"Cannot {verb} {name}: it is a folder.", hint="Give the path of a file.")
    return FileError(f"Cannot {verb} {name}: {exc.strerror or exc}.")


def _too_large(name: str, what: str, size: int | None, limit: int) -> FileError:
    actual = f" is {size_text(size)}," if size is not None else " is"
    return FileError(
        f"{name}{actual} over the {size_text(limit)} limit for a {what} file: it was not read.",
        hint=f"Check that this is the {what} you meant.",
    )


def _read_limited(read: Callable[[int], bytes], name: str, what: str, limit: int | None) -> bytes:
    blocks: list[bytes] = []
    total = 0
    while True:
        block = read(_BLOCK)
        if not block:
            return b"".join(blocks)
        total += len(block)
        if limit is not None and total > limit:
            raise _too_large(name, what, None, limit)
        blocks.append(block)


def read_bytes(
    path: str | os.PathLike[str], *, limit: int | None, what: str = "input", allow_stdin: bool = False
) -> bytes:
    """The bytes of a regular file (or of stdin for `-` when `allow_stdin`), at most `limit` of them."""
    name = os.fsdecode(path)
    if allow_stdin and name == "-":
        if sys.stdin is None:
            raise FileError("There is no standard input to read (-).", hint="Give the path of a file.")
        stream = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else None
        if stream is None:  # a text stream put in place of stdin (tests, embedding)
            text = sys.stdin.read(limit + 1 if limit is not None else -1)
            data = text.encode("utf-8", "surrogateescape")
            if limit is not None and len(data) > limit:
                raise _too_large("standard input", what, None, limit)
            return data
        return _read_limited(stream.read, "standard input", what, limit)
    fd, info = _open_fd(path, what, allow_stdin)
    with os.fdopen(fd, "rb") as handle:
        if limit is not None and info.st_size > limit:
            raise _too_large(name, what, info.st_size, limit)
        try:
            return _read_limited(handle.read, name, what, limit)
        except OSError as exc:
            raise _os_error("read", name, what, exc) from exc


def decode_utf8(data: bytes, name: str, *, binary_check: bool = True) -> str:
    """Strict UTF-8; a bad byte (or, for text, a NUL) is an error naming the file, offset, line and column."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FileError(
            f"{name} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"(line {line}, column {column}).",
            hint="Save the file as UTF-8, or check that it is the text file you meant.",
        ) from exc
    if binary_check and (nul := text.find("\0")) >= 0:
        raise FileError(
            f"{name} looks binary (a NUL byte at offset {len(text[:nul].encode('utf-8'))}): it was not read.",
            hint="Give a text file.",
        )
    return text


def read_text(
    path: str | os.PathLike[str], *, limit: int | None, what: str = "input", allow_stdin: bool = False
) -> str:
    """A regular file's (or stdin's) UTF-8 text, at most `limit` bytes; FileError otherwise."""
    data = read_bytes(path, limit=limit, what=what, allow_stdin=allow_stdin)
    name = "standard input" if allow_stdin and os.fsdecode(path) == "-" else os.fsdecode(path)
    return decode_utf8(data, name)


def open_regular(path: str | os.PathLike[str], *, what: str = "input") -> BinaryIO:
    """A regular file opened for reading in binary, for streaming (an upload): no size limit."""
    fd, _ = _open_fd(path, what, allow_stdin=False)
    return os.fdopen(fd, "rb")


# --- writing --------------------------------------------------------------------------------------------
def check_writable(path: str | os.PathLike[str], *, what: str = "output", make_parents: bool = False) -> Path:
    """Where writing `path` will land (a symlink's target), or FileError if it cannot be written there:
    no name, a folder, a device or FIFO, a missing folder. Cheap: call it before long work."""
    name = os.fsdecode(path)
    if not name.strip():
        raise FileError(f"No {what} file name was given.", hint="Give the path of the file to write.")
    target = Path(os.path.realpath(os.path.expanduser(name)))  # through symlinks, to the file they name
    try:
        info = target.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _os_error("write", name, what, exc) from exc
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = _kind(info.st_mode)
        hint = "Give a file name inside it." if stat.S_ISDIR(info.st_mode) else "Give the path of a regular file."
        raise FileError(f"{name} is {kind}, not a regular file: nothing was written to it.", hint=hint)
    parent = target.parent
    if not parent.is_dir():
        if make_parents and not parent.exists():
            return target
        if parent.exists():
            raise FileError(f"Cannot write {name}: {parent} is not a folder.", hint="Give another path.")
        raise FileError(
            f"Cannot write {name}: the folder {parent} does not exist.",
            hint="Create the folder first, or give another path.",
        )
    return target


def write_text(
    path: str | os.PathLike[str],
    text: str,
    *,
    what: str = "output",
    make_parents: bool = False,
    check: Callable[[Path], object] | None = None,
) -> Path:
    """Write `text` (UTF-8) to `path` atomically and return where it landed. An existing file keeps its
    permissions (and owner, where allowed); a new one gets the usual ones (0666 less the umask). `check`
    sees the complete temporary file before it replaces the target, and may raise to keep the old one."""
    name = os.fsdecode(path)
    target = check_writable(path, what=what, make_parents=make_parents)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FileError(f"Cannot write {name}: the text holds characters that are not valid Unicode.") from exc
    if make_parents:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error("write", name, what, exc) from exc
    try:
        old: os.stat_result | None = target.stat()
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise _os_error("write", name, what, exc) from exc
    temp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(temp, flags, 0o600 if old is not None else 0o666)
        try:
            if old is not None:
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
                if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(PermissionError):  # only root may give a file away
                        os.fchown(fd, old.st_uid, old.st_gid)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if check is not None:
            check(temp)
        os.replace(temp, target)
        _sync_folder(target.parent)
    except OSError as exc:
        raise _os_error("write", name, what, exc) from exc
    finally:
        with contextlib.suppress(OSError):  # renamed already (FileNotFoundError), or the folder went away
            os.unlink(temp)
    return target


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every system can fsync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
