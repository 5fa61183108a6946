"""Shared fixtures: a clean environment, the location of the real Kestra material in ../shared, and the
loopback Gemini and Kestra set in the environment as a user's shell would set them (`gemini`, `kestra`;
a test module that needs them otherwise defines its own)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.gemini import FakeGemini
from tests.fakes.hosted_schema import HostedSchema
from tests.fakes.kestra import FakeKestra

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KESTRA_COPILOT_SHARED", REPO.parent / "shared")).resolve()


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not there (set KESTRA_COPILOT_SHARED to the shared folder)")
    return path


def real_flows() -> Iterator[dict]:
    """Every flow of ../shared/kestra-flows (dev.jsonl, then unlabeled.jsonl)."""
    for name in ("dev.jsonl", "unlabeled.jsonl"):
        with shared_path("kestra-flows", name).open(encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's keys, servers or config file, nor reaches the network for a schema."""
    for variable in list(os.environ):
        if variable.startswith(("GEMINI_", "GOOGLE_", "KESTRA_")) and variable != "KESTRA_COPILOT_SHARED":
            monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KESTRA_COPILOT_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setattr("copilot.cli_confirm.TTY", os.devnull)  # questions go to stderr, not to a developer's tty
    monkeypatch.setenv("KESTRA_COPILOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KESTRA_COPILOT_CACHE_DIR", str(tmp_path / "cache"))
    # Kestra's hosted schema is never fetched: a test that wants it turns it on, at a loopback URL. Off in the
    # environment (and so for subprocesses), off for a Settings a test makes itself, refused if not loopback.
    monkeypatch.setenv("KESTRA_COPILOT_LIVE_SCHEMA", "false")
    _no_live_schema_by_default(monkeypatch)


def _no_live_schema_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from urllib.parse import urlsplit

    import copilot.schema_store
    from copilot.config import Settings

    made = Settings.__init__

    def settings(self: Settings, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("live_schema", False)
        made(self, *args, **kwargs)  # type: ignore[arg-type]

    fetch = copilot.schema_store._fetch

    def loopback_only(url: str, *args: object) -> object:
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            pytest.fail(f"a test fetched a live schema from {url}: tests use a loopback server")
        return fetch(url, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Settings, "__init__", settings)
    monkeypatch.setattr(copilot.schema_store, "_fetch", loopback_only)


@pytest.fixture
def gemini(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
    """A loopback Gemini, with GEMINI_API_KEY and the SDK's GOOGLE_GEMINI_BASE_URL pointing at it."""
    with FakeGemini() as fake:
        monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        yield fake


@pytest.fixture
def kestra(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKestra]:
    """A loopback Kestra, with KESTRA_URL, KESTRA_USERNAME and KESTRA_PASSWORD set for it."""
    with FakeKestra() as fake:
        monkeypatch.setenv("KESTRA_URL", fake.url)
        monkeypatch.setenv("KESTRA_USERNAME", fake.username)
        monkeypatch.setenv("KESTRA_PASSWORD", fake.password)
        yield fake


@pytest.fixture
def hosted() -> Iterator[HostedSchema]:
    """A loopback "api.kestra.io" serving the real Kestra sample (tests/fakes/hosted_schema.py)."""
    with HostedSchema(shared_path("kestra-api", "kestra-flow-schema-sample-libs-copilot.json").read_bytes()) as server:
        yield server


@pytest.fixture
def live_on(hosted: HostedSchema, monkeypatch: pytest.MonkeyPatch) -> HostedSchema:
    """The live schema turned on, at the loopback URL (as a user would set it)."""
    monkeypatch.setenv("KESTRA_COPILOT_LIVE_SCHEMA", "true")
    monkeypatch.setenv("KESTRA_COPILOT_LIVE_SCHEMA_URL", hosted.url)
    return hosted
