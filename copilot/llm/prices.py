"""What a turn costs: USD per million tokens by model (Gemini's paid tier, standard; output includes
thinking). Prices change, so the table is a default: `[prices."MODEL"]` in the config file overrides or
adds a model, and unknown models cost nothing rather than a guess."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from .base import Usage

__all__ = ["PRICES", "Price", "estimate_cost", "price_for"]


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens; `until` is the last day a promotional price applies."""

    input: float
    output: float
    cached: float = 0.0
    until: date | None = None


# Published prices as of 2026-11; a model may have a dated price followed by the regular one.
PRICES: dict[str, tuple[Price, ...]] = {
    "gemini-2.5-flash": (Price(0.30, 2.50, 0.03),),
    "gemini-2.5-flash-lite": (Price(0.10, 0.40, 0.01),),
    "gemini-3-flash-preview": (Price(0.50, 3.00, 0.05),),
    "gemini-3.5-flash": (Price(1.50, 9.00, 0.15),),
    "gemini-3.5-flash-lite": (Price(0.30, 2.50),),
    "gemini-3.8-flash": (Price(0.75, 3.75, until=date(2026, 12, 31)), Price(1.50, 7.50)),
}


def price_for(model: str, overrides: Mapping[str, Price] | None = None, today: date | None = None) -> Price | None:
    """The price that applies today: the config file's first, then the table above."""
    name = model.removeprefix("models/")
    if overrides and name in overrides:
        return overrides[name]
    today = today or date.today()
    return next((p for p in PRICES.get(name, ()) if p.until is None or today <= p.until), None)


def estimate_cost(
    model: str,
    usage: Iterable[Usage],
    overrides: Mapping[str, Price] | None = None,
    today: date | None = None,
) -> float | None:
    """USD for these calls, or None when the model's price is unknown (a local model, a new one)."""
    price = price_for(model, overrides, today)
    if price is None:
        return None
    total = 0.0
    for call in usage:
        fresh = max(0, call.prompt_tokens - call.cached_tokens)
        total += fresh * price.input + call.cached_tokens * price.cached
        total += (call.output_tokens + call.thought_tokens) * price.output
    return total / 1_000_000
