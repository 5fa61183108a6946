"""Type expressions of the catalog: `string`, `list[task]`, `map[string] | @HttpOptions` …"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["ListOf", "MapOf", "Named", "TypeExpr", "Union", "parse_type_expr", "referenced_names"]

PRIMITIVES = {"string", "integer", "number", "boolean", "any", "object", "duration", "uri", "datetime"}


@dataclass(frozen=True, slots=True)
class Named:
    name: str  # a primitive, a family (`task`), or an object reference (`@HttpOptions`)


@dataclass(frozen=True, slots=True)
class ListOf:
    item: TypeExpr


@dataclass(frozen=True, slots=True)
class MapOf:
    value: TypeExpr


@dataclass(frozen=True, slots=True)
class Union:
    options: tuple[TypeExpr, ...]


TypeExpr = Named | ListOf | MapOf | Union

_TOKEN = re.compile(r"\s*(list\[|map\[|\]|\||@?[A-Za-z][A-Za-z0-9_.-]*)")


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"cannot read type expression {text!r} at {text[pos:]!r}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def parse_type_expr(text: str) -> TypeExpr:
    tokens = _tokens(text)
    if text.strip() == "tasks":
        return ListOf(Named("task"))
    expr, rest = _union(tokens)
    if rest:
        raise ValueError(f"unexpected {rest[0]!r} in type expression {text!r}")
    return expr


def _union(tokens: list[str]) -> tuple[TypeExpr, list[str]]:
    options = []
    expr, tokens = _single(tokens)
    options.append(expr)
    while tokens and tokens[0] == "|":
        expr, tokens = _single(tokens[1:])
        options.append(expr)
    return (options[0] if len(options) == 1 else Union(tuple(options))), tokens


def _single(tokens: list[str]) -> tuple[TypeExpr, list[str]]:
    if not tokens:
        raise ValueError("type expression ends too early")
    head, rest = tokens[0], tokens[1:]
    if head in ("list[", "map["):
        inner, rest = _union(rest)
        if not rest or rest[0] != "]":
            raise ValueError("missing ']' in type expression")
        return (ListOf(inner) if head == "list[" else MapOf(inner)), rest[1:]
    if head in ("]", "|"):
        raise ValueError(f"unexpected {head!r} in type expression")
    if head == "tasks":
        return ListOf(Named("task")), rest
    return Named(head), rest


def referenced_names(expr: TypeExpr) -> Iterator[str]:
    """Families and `@objects` the expression refers to (primitives left out)."""
    match expr:
        case Named(name):
            if name not in PRIMITIVES:
                yield name
        case ListOf(item):
            yield from referenced_names(item)
        case MapOf(value):
            yield from referenced_names(value)
        case Union(options):
            for option in options:
                yield from referenced_names(option)
