"""The status bar's line: the fullest forms that fit, shortened least useful detail first."""

from copilot.tui.status import StatusPart, compact_count, fit

PARTS = [
    StatusPart("model", ("gemini-3.8-flash",)),
    StatusPart("recipe", ("recipe default", "default")),
    StatusPart("turn", ("turn 1,234 tokens $0.0012", "turn 1.2k $0.0012", "turn 1.2k", "")),
    StatusPart("session", ("session 12,345 tokens $0.0123", "session 12k $0.0123", "Σ 12k $0.0123")),
    StatusPart("index", ("index 12,345 chunks", "index 12k", "idx 12k")),
    StatusPart("kestra", ("Kestra 1.3.2 at http://localhost:8080", "Kestra 1.3.2")),
]


def test_wide_enough_everything_is_in_full() -> None:
    line = fit(PARTS, 200)
    assert line == (
        "gemini-3.8-flash · recipe default · turn 1,234 tokens $0.0012 · session 12,345 tokens $0.0123"
        " · index 12,345 chunks · Kestra 1.3.2 at http://localhost:8080"
    )


def test_the_server_url_goes_first_then_the_counts_shorten() -> None:
    assert fit(PARTS, 140).endswith("index 12,345 chunks · Kestra 1.3.2")
    assert "index 12k" in fit(PARTS, 120)


def test_at_80_columns_model_cost_index_and_server_stay() -> None:
    assert fit(PARTS, 82) == "gemini-3.8-flash · default · turn 1.2k · Σ 12k $0.0123 · index 12k · Kestra 1.3.2"
    assert fit(PARTS, 78) == "gemini-3.8-flash · default · Σ 12k $0.0123 · index 12k · Kestra 1.3.2"  # no turn
    assert fit(PARTS, 60) == "gemini-3.8-flash · default · Σ 12k $0.0123 · idx 12k · Kestra 1.3.2"[:59] + "…"


def test_every_width_is_respected() -> None:
    for width in range(1, 200):
        assert len(fit(PARTS, width)) <= width


def test_compact_counts() -> None:
    counts = (0, 999, 1000, 1234, 9999, 12_345, 999_499, 999_999, 1_234_567, 5_000_000_000)
    assert [compact_count(n) for n in counts] == [
        "0",
        "999",
        "1.0k",
        "1.2k",
        "10k",
        "12k",
        "999k",
        "1.0M",
        "1.2M",
        "5.0G",
    ]
