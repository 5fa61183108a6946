"""Helpers for driving the app with Textual's pilot: settings, waiting on conditions, reading the panes."""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from copilot.config import Settings
from copilot.llm.prices import Price
from copilot.tui.app import CopilotApp
from copilot.tui.widgets import FlowView

# A fixed price: the default model's promotional price ends on a date, the tests' figures must not.
PRICES = {"gemini-3.8-flash": Price(1.0, 4.0)}


def settings(tmp_path: Path, key: str | None = "test-key", **changes: Any) -> Settings:
    base = Settings(gemini_api_key=key, data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", prices=PRICES)
    return replace(base, **changes)


def with_kestra(config: Settings, kestra: Any) -> Settings:
    return replace(config, kestra_url=kestra.url, kestra_username=kestra.username, kestra_password=kestra.password)


def with_index(config: Settings, index: Path, model_cache: Path) -> Settings:
    """The settings of a user whose index is `index` (linked into the data dir) and its model's cache."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / "index").symlink_to(index, target_is_directory=True)
    return replace(config, cache_dir=model_cache)


def messages(app: CopilotApp) -> list[str]:
    return [message.source for message in app.query("ChatMessage")]


def shown(message: Any) -> str:
    """What a chat message shows: its Markdown rendered, block by block (markup gone, escapes resolved)."""
    from textual.widgets._markdown import MarkdownBlock

    return "\n".join(str(block.content) for block in message.query(MarkdownBlock) if str(block.content))


def flow_code(app: CopilotApp) -> str:
    return app.query_one("#flow", FlowView).code


def status(app: CopilotApp) -> str:
    return str(app.query_one("#status").content)


async def until(pilot: Any, condition: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    """Wait, letting the app run, until `condition()` holds (a loaded machine gets a generous timeout)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def ready(app: CopilotApp, pilot: Any) -> None:
    await until(pilot, lambda: app.conversation is not None, "the engine to load")
    await pilot.pause()


@asynccontextmanager
async def running(config: Settings, size: tuple[int, int] = (120, 40)) -> AsyncIterator[tuple[CopilotApp, Any]]:
    """The app on `config`, its engine loaded: `async with running(settings(tmp_path)) as (app, pilot):`."""
    app = CopilotApp(config)
    async with app.run_test(size=size) as pilot:
        await ready(app, pilot)
        yield app, pilot


async def ask(app: CopilotApp, pilot: Any, gemini: Any, reply: str, text: str, **options: Any) -> None:
    """One chat turn to its end: the fake model is scripted with `reply` and `text` is sent."""
    from tests.fakes.gemini import Reply

    gemini.script(Reply(reply, **options))
    await send(pilot, text)
    await settle(app, pilot)


async def send(pilot: Any, text: str) -> None:
    await pilot.click("#prompt")
    pilot.app.query_one("#prompt").value = text
    await pilot.press("enter")


async def settle(app: CopilotApp, pilot: Any) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


async def approve(app: CopilotApp, pilot: Any, answer: str = "yes") -> tuple[str, str]:
    """Answer the consent dialog (what the flow can do, the diff) once it is up, as a person does: `yes` is
    Tab to the button and Enter; anything else is pressed as keys (`escape`, `n`). Returns what it showed:
    its title and what the flow can do."""
    dialog = await screen(app, pilot, "ConfirmDeploy")
    title = str(dialog.query_one("#dialog-title").content)
    found = dialog.query("#dialog-capabilities-text")
    capabilities = str(found.first().content) if found else ""
    if answer == "yes":
        await until(pilot, lambda: not dialog.query_one("#yes").disabled, "the yes button to be armed")
        await pilot.press("tab")
        assert dialog.focused is not None and dialog.focused.id == "yes"
        await pilot.press("enter")
    else:
        await pilot.press(answer)
    return title, capabilities


async def screen(app: CopilotApp, pilot: Any, name: str) -> Any:
    """Wait for the screen class `name` to be on top, and return it."""
    await until(pilot, lambda: type(app.screen).__name__ == name, f"the {name} screen")
    await pilot.pause()
    return app.screen


async def resumed(config: Settings, session: str | None) -> tuple[list[str], list[str]]:
    """Session `session` resumed in a new app (another day): the chat's messages, and its folds' titles."""
    async with running(config) as (app, pilot):
        await send(pilot, f"/resume {session}")
        await settle(app, pilot)
        return messages(app), [str(fold.title) for fold in app.query("Collapsible")]
