"""The exit codes of `kestra-copilot`, one meaning each, for every command (README: each command's exit code).

0 success; 1 the thing checked did not pass (a flow invalid or refused by policy, a deploy refused or not
confirmed, an execution that ended badly, a significant regression, eval samples not produced); 2 usage,
I/O, configuration or server error (argparse uses 2 for usage errors too); 130 interrupted (Ctrl+C);
141 the reader of the output went away (`… | head`), as for a process that SIGPIPE ended.
"""

from __future__ import annotations

__all__ = ["EXIT_ERROR", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PIPE_CLOSED"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 128 + 2  # SIGINT, what a shell reports for a command Ctrl+C ended
EXIT_PIPE_CLOSED = 128 + 13  # SIGPIPE, what a shell reports for `yes | head`
