"""Naming places in a flow the way a user thinks of them: "task 'extract'", "`sql` of task 'load'"."""

from __future__ import annotations

import difflib
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

_SEGMENT_TYPO = 0.8  # how alike a misspelt segment of a type name is to the real one (as _structure._is_typo)

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
    """The closest known plugin type of the same package (`io.kestra.plugin.core.log.Lgo` → `…log.Log`), else one
    whose whole name is a near miss (one segment a letter or two off: `…plugin.mongdb.Load` → `…mongodb.Load`). A
    type in a package no known type shares is not a misspelling of another package's type: `mongodb.Load` is a
    real plugin, not `gcp.bigquery.Load`, and `aws.sqs.Trigger` not `aws.s3.Trigger`."""
    package = type_name.rpartition(".")[0]
    pool = list(known)
    same_package = [t for t in pool if t.rpartition(".")[0] == package]
    if same_package:
        return did_you_mean(type_name, same_package)
    near = [t for t in pool if _near_miss(type_name, t) or _segment_left_out(type_name, t)]
    return did_you_mean(type_name, near)


def _segment_left_out(name: str, other: str) -> bool:
    """The same plugin and class, a package segment left out or added: `io.kestra.plugin.core.Log` for
    `io.kestra.plugin.core.log.Log` (`aws.sqs.Trigger` and `aws.s3.Trigger` have as many: other packages)."""
    parts, others = name.split("."), other.split(".")
    return abs(len(parts) - len(others)) == 1 and parts[:4] == others[:4] and parts[-1] == others[-1]


def _near_miss(name: str, other: str) -> bool:
    """The same dotted name but for its case, or for one segment, and that one a close spelling."""
    parts, others = name.lower().split("."), other.lower().split(".")
    if len(parts) != len(others):
        return False
    differ = [(a, b) for a, b in zip(parts, others, strict=True) if a != b]
    return not differ or (len(differ) == 1 and difflib.SequenceMatcher(None, *differ[0]).ratio() >= _SEGMENT_TYPO)


def sentence(text: str) -> str:
    """Upper-case the first letter only (`str.capitalize` would lower-case `maxAttempts`)."""
    return text[:1].upper() + text[1:]
