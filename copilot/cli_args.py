"""Argument types of the command line, and the shape every command module registers its commands with
(`Commands`, `Handler`). argparse reports a value they refuse as a usage error (exit 2, the
argument named), so a bad `-k` or an empty request stops the command before it reads a setting, opens a
store or an index, or calls a model or a server."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeAlias

from .errors import CopilotError

__all__ = [
    "Commands",
    "Handler",
    "fraction",
    "non_negative_int",
    "nonblank",
    "parse_pairs",
    "positive_int",
    "positive_seconds",
]

Handler = Callable[[argparse.Namespace], int]
"""What a command runs: its parsed arguments in, its exit code (copilot/exitcodes.py) out. Each command
registers its own with its parser: `parser.set_defaults(handler=…)`."""
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""The subcommands a module adds its parsers to (`commands.add_parser(…)`)."""


def _whole(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def positive_int(value: str) -> int:
    """A count of at least 1 (`-k`, `--limit`, `--repeat`, `--concurrency`, `--turn`)."""
    number = _whole(value)
    if number is None or number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


def non_negative_int(value: str) -> int:
    """A count that may be 0 (`--max-repairs 0`: no repair)."""
    number = _whole(value)
    if number is None or number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 0")
    return number


def positive_seconds(value: str) -> float:
    """A finite number of seconds above 0 (`run --timeout`)."""
    seconds = _number(value)
    if not 0 < seconds < math.inf:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds above 0")
    return seconds


def fraction(value: str) -> float:
    """A number strictly between 0 and 1 (`eval compare --alpha`)."""
    number = _number(value)
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number between 0 and 1 (such as 0.05)")
    return number


def nonblank(what: str) -> Callable[[str], str]:
    """Text that is not empty or only spaces: `what` says what to give instead (a request, a query, a name)."""

    def check(value: str) -> str:
        if not value.strip():
            raise argparse.ArgumentTypeError(f"it is empty: give {what}")
        return value

    check.__name__ = "nonblank"  # argparse names the type in some of its own messages
    return check


def parse_pairs(values: list[str], separator: str, what: str) -> dict[str, str]:
    """`["k=v", …]` as `{k: v}`; a value without the separator is refused, never dropped."""
    out = {}
    for value in values:
        key, found, rest = value.partition(separator)
        if not found or not key:
            raise CopilotError(f"{what} {value!r} must look like KEY{separator}VALUE.")
        out[key] = rest
    return out


def _number(value: str) -> float:
    """The number written, or NaN (which no range holds)."""
    try:
        return float(value)
    except ValueError:
        return math.nan


def add_policy_option(parser: argparse.ArgumentParser, fails: str) -> None:
    """`--policy fail|warn`: what a `policy` finding (a hard-coded credential, which Kestra accepts) does."""
    parser.add_argument(
        "--policy",
        choices=("fail", "warn"),
        default="fail",
        help=f"a `policy` finding (Kestra accepts the flow, this project refuses it: a hard-coded credential) "
        f"{fails} (default), or is only reported (warn)",
    )
