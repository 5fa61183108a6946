"""Asking the user at the terminal before anything reaches a server: a yes/no (`deploy`), and the consent of
every command that deploys and runs a model's flow (`ask --test-run`). The question goes to stderr (stdout
may be a flow piped to a file) and to the terminal itself when stderr goes to a file."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

from .terminal import printable

if TYPE_CHECKING:
    from .config import Settings
    from .engine.consent import Consent, ConsentRequest

__all__ = ["TTY", "ask_yes_no", "consent_for"]

TTY = "/dev/tty"  # the controlling terminal (tests point it elsewhere)


def ask_yes_no(question: str, shown: list[str]) -> bool:
    """A yes/no at the terminal, after what the user must see, on stderr (stdout may be a flow piped to a
    file) — and on the terminal itself when stderr goes to a file (`2>log`): a question nobody sees would
    leave the command waiting in silence. It blocks in the calling thread, so Ctrl+C interrupts it at once
    (from before the question is shown, so that no Ctrl+C falls between the two)."""
    text = printable("\n".join(shown)) + "\n" if shown else ""
    with _interruptible():
        _discard_typed_ahead()
        sys.stderr.write(text + question)
        sys.stderr.flush()
        if not sys.stderr.isatty():
            try:
                with open(TTY, "w", encoding="utf-8") as terminal:
                    terminal.write(text + question)
            except OSError:
                pass
        return sys.stdin.readline().strip().lower() in ("y", "yes")


def _discard_typed_ahead() -> None:
    """Keys typed before the question (a double-tapped `y` ↵, the next command) must not answer it."""
    try:
        import termios
    except ImportError:  # Windows
        return
    with contextlib.suppress(termios.error, OSError, ValueError, AttributeError):  # not a real terminal
        termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl+C (and SIGTERM, SIGHUP) end the command at once while the user is being asked: the handlers
    that cancel a task would only wait for the blocked read, that is for Enter."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ended(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.SIGTERM: signal.signal(signal.SIGTERM, ended),
        signal.SIGHUP: signal.signal(signal.SIGHUP, ended),
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def consent_for(settings: Settings, *, yes: bool, command: str) -> Consent:
    """How a command asks before it deploys and runs a model's flow (engine/consent.py): `--yes` approves the
    flow as written (and repairs that add nothing); the `sandbox_test_runs` setting approves everything —
    both print what they approved, for the log; otherwise the user is asked in the terminal, and without a
    terminal nothing is deployed."""
    from .engine import consent

    if settings.sandbox_test_runs or yes:
        decide = consent.sandbox() if settings.sandbox_test_runs else consent.unattended()
        by = "sandbox_test_runs" if settings.sandbox_test_runs else "--yes"

        async def logged(request: ConsentRequest) -> bool:
            approved = await decide(request)  # raises when --yes does not cover a repair
            print(printable("\n".join([f"approved by {by}:", *request.summary()])), file=sys.stderr)
            return approved

        return logged
    if not sys.stdin.isatty():
        return consent.refuse(
            "A test-run deploys and executes the model's flow, which needs your yes, and there is no terminal "
            "to ask: nothing was deployed or run.",
            hint=f"Run `{command}` in a terminal to review it, pass --yes to approve it unattended, or set "
            "sandbox_test_runs = true for a Kestra kept for trials (README: Safety).",
        )

    async def ask(request: ConsentRequest) -> bool:
        shown = request.summary()
        if request.diff is not None:
            shown.append(request.diff.unified)
        else:
            shown.append(f"--- the flow, as it will be deployed ---\n{request.flow_yaml}")
        return ask_yes_no("Deploy it and run it? [y/N] ", shown)

    return ask
