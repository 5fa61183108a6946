"""The cold-start benches' table: each figure's median and fastest run, as ratios of the baseline measured in
the same run, and the goal's verdict. Imported by bench/startup.py and bench/search_cold.py (run as scripts:
this folder is on their path); `make bench` runs the scripts, not this module."""

from __future__ import annotations

import statistics


def print_ratios(times: dict[str, list[float]], baseline: str, goal: tuple[str, float]) -> None:
    """`times`: seconds of each run by figure; `goal`: (the figure, the ratio of `baseline` it must stay within)."""
    medians = {name: statistics.median(values) for name, values in times.items()}
    base, fastest_base = medians[baseline], min(times[baseline])
    width = max(len(name) for name in times) + 2
    print(f"{'':<{width}} {'median':>10} {'':<{len(baseline) + 9}} {'fastest':>10}")
    for name, seconds in medians.items():
        fastest = min(times[name])
        print(
            f"{name:<{width}} {seconds * 1000:7.0f} ms   ×{seconds / base:.2f} of {baseline}"
            f"   {fastest * 1000:7.0f} ms   ×{fastest / fastest_base:.2f}"
        )
    figure, limit = goal
    ratio = medians[figure] / base
    verdict = "met" if ratio <= limit else "NOT met"
    print(f"goal ({figure} within ×{limit} of {baseline}): {verdict} (×{ratio:.2f})")
