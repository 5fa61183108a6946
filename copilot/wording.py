"""Counts in words, for every front end: `1 problem`, `2 problems`, never `problem(s)`."""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, word: str, plural: str = "") -> str:
    """`1 problem`, `2 problems` (`plural` when the word does not just take an s)."""
    return f"{count} {word if count == 1 else plural or word + 's'}"
