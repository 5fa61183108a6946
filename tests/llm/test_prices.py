import pytest

from copilot.llm.base import Usage
from copilot.llm.prices import estimate_cost


def test_cost_counts_thinking_as_output_and_cached_input_cheaply() -> None:
    usage = [Usage(prompt_tokens=1_000_000, output_tokens=100_000, thought_tokens=100_000, cached_tokens=500_000)]
    # 0.5M fresh × 0.30 + 0.5M cached × 0.03 + 0.2M output × 2.50
    assert estimate_cost("gemini-2.5-flash", usage) == pytest.approx(0.15 + 0.015 + 0.5)
    assert estimate_cost("qwen2.5-coder:7b", usage) is None
    assert estimate_cost("gemini-2.5-flash", []) == 0.0
