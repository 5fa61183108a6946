import pytest

from copilot.llm.base import Usage
from copilot.llm.prices import estimate_cost


def test_cost_counts_thinking_as_output_and_cached_input_cheaply() -> None:
    usage = [Usage(prompt_tokens=1_000_000, output_tokens=100_000, thought_tokens=100_000, cached_tokens=500_000)]
    # 0.5M fresh × 0.30 + 0.5M cached × 0.03 + 0.2M output × 2.50
    assert estimate_cost("gemini-2.5-flash", usage) == pytest.approx(0.15 + 0.015 + 0.5)
    assert estimate_cost("qwen2.5-coder:7b", usage) is None
    assert estimate_cost("gemini-2.5-flash", []) == 0.0


def test_dated_prices_and_config_overrides() -> None:
    from datetime import date

    from copilot.llm.prices import Price

    usage = [Usage(prompt_tokens=1_000_000, output_tokens=1_000_000)]
    assert estimate_cost("gemini-3.8-flash", usage, today=date(2026, 12, 31)) == pytest.approx(0.75 + 3.75)
    assert estimate_cost("gemini-3.8-flash", usage, today=date(2027, 1, 1)) == pytest.approx(1.50 + 7.50)
    mine = {"qwen2.5-coder:7b": Price(0.0, 0.0), "gemini-3.8-flash": Price(1.0, 2.0)}
    assert estimate_cost("qwen2.5-coder:7b", usage, mine) == 0.0
    assert estimate_cost("models/gemini-3.8-flash", usage, mine) == pytest.approx(3.0)
