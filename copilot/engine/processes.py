"""Which process is recording a turn, and whether it is still running: how several processes share the session
store without one marking another's live turn as interrupted.

    owner = this_process()      # '{"host": …, "boot": …, "pid": 4242, "start": "81234"}', recorded with the turn
    is_gone(owner)              # later, from any process: True once that process has ended

A pid alone is not enough: pids are reused. The process's start time (from /proc on Linux, `ps` elsewhere)
and the boot id tell a reused pid and a reboot apart. A turn recorded on another host cannot be judged
from here, so it is never taken for gone.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from functools import cache
from pathlib import Path

__all__ = ["is_gone", "this_process"]


def this_process() -> str:
    return _owner(os.getpid())  # keyed by pid: a forked child is another owner


@cache
def _owner(pid: int) -> str:
    return json.dumps({"host": socket.gethostname(), "boot": _boot_id(), "pid": pid, "start": _started(pid) or ""})


def is_gone(owner: str | None) -> bool:
    """Whether the process `owner` describes has ended. A turn without an owner was recorded by an older
    version, which had no way to tell: it is taken for gone, as it always was."""
    try:
        recorded = json.loads(owner or "")
        host, boot, pid, start = recorded["host"], recorded["boot"], int(recorded["pid"]), recorded["start"]
    except (ValueError, TypeError, KeyError):
        return True
    if host != socket.gethostname():
        return False
    if boot and boot != _boot_id():
        return True  # the machine restarted since
    if pid == os.getpid():
        return False
    started = _started(pid)
    if started is None:
        return True
    return bool(start and started and started != start)  # the pid was reused by another process


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _started(pid: int) -> str | None:
    """When process `pid` started (an opaque string), '' when it runs but that cannot be read, None when there is
    no such process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[19]  # field 22, starttime: clock ticks after boot
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None  # Linux: no such process
    except (OSError, IndexError):
        return ""
    return _started_by_ps(pid)


def _started_by_ps(pid: int) -> str | None:
    if os.name != "posix":
        return None  # no way to ask here: taken for gone, as before owners were recorded
    try:
        done = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout.strip() or None) if done.returncode in (0, 1) else ""
