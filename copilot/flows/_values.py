"""A parsed flow's values as the shape a rule expects: a key Kestra reads as a list or a mapping is treated
as empty when the YAML holds something else (the schema check reports that)."""

from __future__ import annotations

from typing import Any

__all__ = ["as_dict", "as_list"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
