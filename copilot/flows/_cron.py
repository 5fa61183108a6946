"""Cron expressions as Kestra's Schedule reads them (cron-utils, Unix definition).

Five fields (minute hour day-of-month month day-of-week), or six with seconds first when the trigger sets
`withSeconds: true`; day-of-week 0–7 (0 and 7 are Sunday) or SUN–SAT; months 1–12 or JAN–DEC; `*`, `?`,
ranges, steps, lists, and Quartz-style `L`, `W`, `#`. Nicknames: @yearly @annually @monthly @weekly
@daily @midnight @hourly.
"""

from __future__ import annotations

import re

__all__ = ["cron_error"]

NICKNAMES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_MONTHS = {
    m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_FIELDS = [  # name, low, high, names
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
]
_NUMBER = re.compile(r"^\d+$")


def cron_error(expression: str, *, with_seconds: bool = False) -> str | None:
    """Why `expression` is not a valid cron expression, or None when it is."""
    text = expression.strip()
    if text.lower() in NICKNAMES:
        return None
    parts = text.split()
    fields = _FIELDS if with_seconds else _FIELDS[1:]
    if len(parts) != len(fields):
        return f"expected {len(fields)} fields ({', '.join(f[0] for f in fields)}), found {len(parts)}"
    for part, (name, low, high, names) in zip(parts, fields, strict=True):
        problem = _field_error(part.upper(), low, high, names, name)
        if problem:
            return f"{name} field '{part}': {problem}"
    return None


def _value(token: str, low: int, high: int, names: dict[str, int]) -> int | str:
    if token in names:
        return names[token]
    if not _NUMBER.match(token):
        return f"'{token}' is not a number"
    number = int(token)
    if not low <= number <= high:
        return f"{number} is out of range {low}-{high}"
    return number


def _field_error(part: str, low: int, high: int, names: dict[str, int], name: str) -> str | None:
    for item in part.split(","):
        if not item:
            return "empty list item"
        if item in ("*", "?"):
            continue
        if name == "day of month" and (item in ("L", "LW") or re.fullmatch(r"L-\d+|\d+W", item)):
            continue
        if name == "day of week" and re.fullmatch(r"[0-7A-Z]{1,3}(L|#[1-5])", item):
            continue
        base, _, step = item.partition("/")
        if step and (not _NUMBER.match(step) or int(step) == 0):
            return f"step '{step}' must be a positive number"
        if base in ("*", "?"):
            continue
        start, dash, end = base.partition("-")
        first = _value(start, low, high, names)
        if isinstance(first, str):
            return first
        if dash:
            last = _value(end, low, high, names)
            if isinstance(last, str):
                return last
            if last < first:
                return f"range {start}-{end} goes backwards"
    return None
