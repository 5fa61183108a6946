"""What a turn costs: USD per million tokens by model (Gemini's paid tier, standard; output includes
thinking). Prices change: these are the published ones as of 2026-10, and unknown models cost nothing
rather than a guess."""

from __future__ import annotations

from collections.abc import Iterable

from .base import Usage

__all__ = ["PRICES", "estimate_cost"]

# model → (input, output, cached input) USD per 1M tokens
PRICES: dict[str, tuple[float, float, float]] = {
    "gemini-2.5-flash": (0.30, 2.50, 0.03),
    "gemini-2.5-flash-lite": (0.10, 0.40, 0.01),
    "gemini-3-flash-preview": (0.50, 3.00, 0.05),
    "gemini-3.5-flash": (1.50, 9.00, 0.15),
    "gemini-3.5-flash-lite": (0.30, 2.50, 0.0),
}


def estimate_cost(model: str, usage: Iterable[Usage]) -> float | None:
    """USD for these calls, or None when the model's price is unknown (a local model, a new one)."""
    price = PRICES.get(model.removeprefix("models/"))
    if price is None:
        return None
    per_input, per_output, per_cached = price
    total = 0.0
    for call in usage:
        fresh = max(0, call.prompt_tokens - call.cached_tokens)
        total += fresh * per_input + call.cached_tokens * per_cached
        total += (call.output_tokens + call.thought_tokens) * per_output
    return total / 1_000_000
