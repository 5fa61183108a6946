"""Fixtures of the TUI tests: the loopback Gemini, and a real retrieval index built once per session."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from copilot.retrieval.chunks import Chunk
from tests.fakes.gemini import FakeGemini

CORPUS = [
    Chunk(
        "Log a message at a level with io.kestra.plugin.core.log.Log: `message` and `level`.",
        "plugin-doc",
        "plugins",
        "Log task",
        "plugins/core/log.md",
        ("io.kestra.plugin.core.log.Log",),
    ),
    Chunk(
        "Sleep pauses the flow for a `duration` such as PT1S with io.kestra.plugin.core.flow.Sleep.",
        "plugin-doc",
        "plugins",
        "Sleep task",
        "plugins/core/sleep.md",
        ("io.kestra.plugin.core.flow.Sleep",),
    ),
    Chunk(
        "Retry a failing task: a `retry` block with type constant, an interval and maxAttempts.",
        "doc",
        "docs",
        "Retries",
        "docs/retries.md",
    ),
    Chunk(
        "Run a flow on a cron schedule with the Schedule trigger and its `cron` expression.",
        "doc",
        "docs",
        "Schedule trigger",
        "docs/schedule.md",
    ),
    Chunk(
        "Return a rendered value with io.kestra.plugin.core.debug.Return and its `format` property.",
        "plugin-doc",
        "plugins",
        "Return task",
        "plugins/core/return.md",
        ("io.kestra.plugin.core.debug.Return",),
    ),
]


@pytest.fixture(autouse=True)
def no_loading_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow start's "Still loading…" line waits for an hour: on a loaded machine the engine may well take a
    second, and a chat or a snapshot must not depend on it (tests/tui/test_loading.py turns it on)."""
    import copilot.tui.app

    monkeypatch.setattr(copilot.tui.app, "LOADING_NOTICE_SECONDS", 3600.0)


@pytest.fixture
def gemini(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        yield fake


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline embedding model's files, written once per session (a few seconds)."""
    return tmp_path_factory.mktemp("tui-model-cache")


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Path:
    """A real index (MiniLM vectors in embedded Chroma, BM25 over the chunk list) of CORPUS."""
    from copilot.retrieval.index import Index

    folder = tmp_path_factory.mktemp("tui-index") / "index"
    Index(folder, cache_dir=model_cache).build(CORPUS, sources={"tui-tests": "memory"})
    return folder
