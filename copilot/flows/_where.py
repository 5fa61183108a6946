"""Naming places in a flow the way a user thinks of them: "task 'extract'", "`sql` of task 'load'"."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable

from ._parse import Path, format_path
from ._types import YamlValue, child

__all__ = [
    "describe_location",
    "did_you_mean",
    "did_you_mean_type",
    "element_kind",
    "sentence",
    "subject",
]

# The key a list sits under tells what its items are.
_CONTAINER_KINDS = {
    "triggers": "trigger",
    "inputs": "input",
    "outputs": "output",
    "sla": "SLA",
    "conditions": "condition",
    "pluginDefaults": "plugin default",
    "taskDefaults": "plugin default",
    "labels": "label",
    "checks": "check",
}


def element_kind(path: Path) -> str:
    """What the list item at `path` is, judged by the key of its list ("task" by default)."""
    for part in reversed(path[:-1]):
        if isinstance(part, str):
            if part in ("tasks", "then", "else", "errors", "finally", "afterExecution", "defaults", "task"):
                return "task"
            return _CONTAINER_KINDS.get(part, "task")
    return "task"


def subject(data: YamlValue, path: Path) -> tuple[str, Path]:
    """The innermost task/trigger/input… that contains `path`, and the rest of the path below it."""
    best: tuple[str, Path] = ("the flow", tuple(path))
    node = data
    for depth, part in enumerate(path):
        node = child(node, part)
        here = tuple(path[: depth + 1])
        if isinstance(part, int) and isinstance(node, dict):
            kind = element_kind(here)
            ident = node.get("id", node.get("key"))
            if isinstance(ident, (str, int)):
                best = (f"{kind} '{ident}'", tuple(path[depth + 1 :]))
            elif kind != "task" or "type" in node:
                best = (f"{kind} {format_path(here)}", tuple(path[depth + 1 :]))
        elif isinstance(part, str) and isinstance(node, dict) and part == "task" and "id" in node:
            best = (f"task '{node['id']}'", tuple(path[depth + 1 :]))
    return best


def describe_location(data: YamlValue, path: Path) -> str:
    """`sql` of task 'load'  /  task 'load'  /  `namespace` of the flow."""
    name, rest = subject(data, path)
    if not rest:
        return name
    return f"`{format_path(rest)}` of {name}"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate, matching case-insensitively and on the last dotted segment too."""
    pool = [c for c in candidates if isinstance(c, str)]
    if not pool:
        return None
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.75)
    if close:
        return close[0]
    if "." in word:
        tail = word.rsplit(".", 1)[-1].lower()
        same_tail = [c for c in pool if c.rsplit(".", 1)[-1].lower() == tail]
        if same_tail:
            return min(same_tail, key=lambda c: -difflib.SequenceMatcher(None, word, c).ratio())
        close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
        if close:
            return close[0]
    else:
        close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
        if close:
            return close[0]
    return None


def did_you_mean_type(type_name: str, known: Iterable[str]) -> str | None:
    """The closest known plugin type of the same plugin family (`io.kestra.plugin.jdbc…`) or the same kind
    (`…Queries`): a JDBC task is never offered an HTTP one because their names happen to be alike."""
    family, kind = _plugin_family(type_name), type_name.rsplit(".", 1)[-1].lower()
    pool = [t for t in known if _plugin_family(t) == family or t.rsplit(".", 1)[-1].lower() == kind]
    return did_you_mean(type_name, pool)


@functools.lru_cache(maxsize=4096)  # asked for every known type, for each unknown one
def _plugin_family(type_name: str) -> str:
    """`io.kestra.plugin.jdbc` for `io.kestra.plugin.jdbc.postgresql.Queries`; else the type's package."""
    parts = type_name.split(".")
    if parts[:3] == ["io", "kestra", "plugin"] and len(parts) > 4:
        return ".".join(parts[:4])
    return ".".join(parts[:-1])


def sentence(text: str) -> str:
    """Upper-case the first letter only (`str.capitalize` would lower-case `maxAttempts`)."""
    return text[:1].upper() + text[1:]
