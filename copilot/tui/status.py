"""The status bar's text, fitted to the terminal's width.

Each part has forms from the fullest to the most compact (an empty form drops the part). `fit` shortens
the parts in the order of `SHORTEN` — least useful detail first — until the line fits, so at 80 columns
the model, the session's cost, the index size, the plugin catalog in force and the Kestra server all stay
visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..catalog_in_force import CatalogInForce

__all__ = ["SEPARATOR", "StatusPart", "catalog_forms", "compact_count", "fit"]

SEPARATOR = " · "


@dataclass(frozen=True)
class StatusPart:
    name: str  # flow, model, recipe, turn, session, index, catalog, kestra
    forms: tuple[str, ...]  # fullest first; "" drops the part


# Which part loses detail next, step by step (a name appears once per shorter form it has). The catalog in
# force (a fallback to the bundled one above all) outranks the recipe's name and the server's wording: they
# shorten first, and the default recipe goes before the catalog does.
SHORTEN = (
    "catalog",  # "plugin types" → "types"
    "flow",  # which flow and revision goes first: the Flow tab says it too
    "flow",
    "flow",
    "kestra",  # the server's URL
    "index",
    "turn",
    "session",
    "catalog",  # `bundled 378 types` (`fallback: bundled 378 types`)
    "recipe",  # its name alone
    "turn",
    "session",
    "kestra",  # `no Kestra`
    "turn",  # dropped
    "recipe",  # dropped (the default one only)
    "catalog",  # `bundled 378 types`, no longer saying it is a fallback
    "index",
    "catalog",  # dropped
    "model",
)


def compact_count(count: int) -> str:
    """`987`, `1.2k`, `12k`, `1.2M`."""
    if count < 1000:
        return str(count)
    for divisor, suffix in ((1_000, "k"), (1_000_000, "M"), (1_000_000_000, "G")):
        value = count / divisor
        text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        if float(text) < 1000 or suffix == "G":
            break
    return text + suffix


def catalog_forms(catalog: CatalogInForce, *, fallback: bool = False) -> tuple[str, ...]:
    """`Kestra's live schema (fetched 2026-12-05), 1,071 plugin types` … `live 1,071 types`, then dropped.
    `fallback`: the bundled catalog is in force where a schema was wanted (Kestra's live one could not be had),
    said as long as there is room: `fallback: bundled 378 types`."""
    count = catalog.plugin_types
    short = {"live": "live schema", "server": "server schema", "bundled": "bundled catalog"}.get(catalog.kind, "schema")
    exact, rounded = f"{short.split()[0]} {count:,} types", f"{short.split()[0]} {compact_count(count)} types"
    compact = exact if len(exact) <= len(rounded) + 1 else rounded  # 1,054 says more than 1.1k, in one more
    if fallback:
        return (
            f"{catalog.label} (fallback), {count:,} plugin types",
            f"{short} (fallback), {count:,} types",
            f"fallback: {compact}",
            compact,
            "",
        )
    return (f"{catalog.label}, {count:,} plugin types", f"{short}, {count:,} types", compact, compact, "")


def _line(parts: Sequence[StatusPart], levels: dict[str, int]) -> str:
    texts = (part.forms[min(levels.get(part.name, 0), len(part.forms) - 1)] for part in parts)
    return SEPARATOR.join(text for text in texts if text)


def fit(parts: Sequence[StatusPart], width: int) -> str:
    """The fullest line of `parts` no wider than `width` (cut with an ellipsis as a last resort)."""
    levels: dict[str, int] = {}
    line = _line(parts, levels)
    steps = iter(SHORTEN)
    while len(line) > width:
        name = next(steps, None)
        if name is None:
            return line[: max(0, width - 1)] + "…"
        levels[name] = levels.get(name, 0) + 1
        line = _line(parts, levels)
    return line
