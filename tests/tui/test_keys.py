"""The chat's keys: a user's [keys] never silently shadows a key — moved, refused or taken, the chat says so at
start-up and `chat --keys` prints it; the keys the README's example config sets do what it says."""

import asyncio
import re
import tomllib
from pathlib import Path

import pytest

from copilot.cli import main
from copilot.tui.keys import ACTIONS, plan_keys
from tests.engine.test_turn import EDITED, VALID
from tests.fakes.gemini import FakeGemini
from tests.tui.pilot import ask, messages, running, screen, send, settings, settle

README = Path(__file__).parents[2] / "README.md"


def readme_keys() -> dict[str, str]:
    """The [keys] table of the README's example config.toml."""
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", README.read_text(), re.S) if "[keys]" in b]
    return tomllib.loads(block)["keys"]


def notes(app: object) -> list[str]:
    return [m for m in messages(app) if m.startswith("Keys: ")]  # type: ignore[arg-type]


def test_the_defaults_give_every_action_its_own_key_and_none_the_input_keeps() -> None:
    plan = plan_keys({})
    assert plan.notes == () and plan.keymap == {}
    assert plan.keys == {action: default for action, (default, *_) in ACTIONS.items()}


@pytest.mark.parametrize(
    ("keys", "note"),
    [
        ({"undo": "ctrl+u"}, "Ctrl+U is the input's own key (delete all to the left). Undo stays on Ctrl+Z."),
        ({"undo": "Ctrl+K"}, "Ctrl+K is the input's own key (delete all to the right)"),
        ({"help": "x"}, "X types a character in the input. Help stays on F1."),
        ({"help": "space"}, "Space types a character in the input"),
        ({"new": "enter"}, "Enter is the input's own key (submit)"),
        ({"new": "up"}, "Up is the input's own key (earlier input)"),
        ({"new": "ctrl+q"}, "Ctrl+Q is the app's own key (quit)"),
        ({"new": "ctrl+p"}, "Ctrl+P is the app's own key (the command palette)"),
        ({"new": "tab"}, "Tab is the app's own key (focus next)"),
        ({"save": "ctrl+i"}, "a terminal sends Ctrl+I as Tab. Save stays on Ctrl+S."),
        ({"run": "ctrl+foo"}, "'ctrl+foo' is not a key name"),
        ({"run": "crtl+t"}, "'crtl+t' is not a key name"),
        ({"copy": "ctrl+shift+banana"}, "'ctrl+shift+banana' is not a key name"),  # a Unicode name, not a key
    ],
)
def test_a_key_the_input_or_the_app_keeps_or_no_key_at_all_is_refused_with_the_reason(
    keys: dict[str, str], note: str
) -> None:
    plan = plan_keys(keys)
    (said,) = plan.notes
    assert said.startswith(f'[keys] {next(iter(keys))} = "{next(iter(keys.values()))}" is not used: ')
    assert note in said and plan.keymap == {}


def test_a_moved_default_a_swap_and_a_key_two_actions_ask_for() -> None:
    moved = plan_keys({"sessions": "f2"})
    assert moved.keys["sessions"] == "f2" and moved.keys["resume"] == ""
    assert moved.notes == (
        "F2 is sessions now ([keys]), so resume (resume the last session) has no key: the command palette "
        "(Ctrl+P) still runs it, or give it another key in [keys].",
    )
    swapped = plan_keys({"sessions": "F2", "resume": "ctrl+r"})
    assert swapped.notes == () and swapped.keymap == {"sessions": "f2", "resume": "ctrl+r"}
    both = plan_keys({"copy": "f10", "recipe": "f10", "deploy": "ctrl+o"})
    assert both.keys["copy"] == "" and both.keys["recipe"] == "f9" and both.keys["deploy"] == "ctrl+o"
    assert "copy and recipe both ask for F10, and a key runs one action. Recipe stays on F9." in both.notes[-1]
    assert "Copy has no key." in both.notes[-2] and both.notes[0].startswith("Ctrl+O is deploy now")
    assert "Unknown action in [keys]: nope." in plan_keys({"nope": "f10"}).notes[0]


def test_the_readme_example_keys_do_what_it_says(gemini: FakeGemini, tmp_path: Path) -> None:
    keys = readme_keys()
    assert plan_keys(keys).notes == ()  # nothing moved or refused: an example that works as written

    async def scenario() -> None:
        async with running(settings(tmp_path, keys=keys)) as (app, pilot):
            assert notes(app) == []
            await pilot.press("ctrl+r")  # resume, swapped onto Ctrl+R: nothing yet to resume
            await settle(app, pilot)
            assert messages(app)[-1] == "No earlier session to resume."
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            await pilot.press("ctrl+t")  # help
            await settle(app, pilot)
            assert messages(app)[-1].startswith("**Keys and commands**") and "- Ctrl+T help" in messages(app)[-1]
            await pilot.press("f2")  # the sessions list
            sessions = await screen(app, pilot, "SessionsScreen")
            assert sessions.query_one("OptionList").option_count == 1
            await pilot.press("escape")
            await settle(app, pilot)
            assert type(app.screen).__name__ != "SessionsScreen"

    asyncio.run(scenario())


def test_the_old_readme_example_is_reported_at_start_up_and_every_key_does_one_thing(
    gemini: FakeGemini, tmp_path: Path
) -> None:
    keys = {"undo": "ctrl+u", "sessions": "f2", "copy": "f10", "recipe": "f10"}

    async def scenario() -> None:
        async with running(settings(tmp_path, keys=keys)) as (app, pilot):
            said = notes(app)
            assert any(
                "Ctrl+U is the input's own key (delete all to the left). Undo stays on Ctrl+Z." in n for n in said
            )
            assert any(n.startswith("Keys: F2 is sessions now ([keys]), so resume") for n in said)
            assert any("copy and recipe both ask for F10" in n and "Copy stays on Ctrl+O." in n for n in said)
            assert "resume the last session (no key: Ctrl+P)" in app.help_text()
            await ask(app, pilot, gemini, VALID, "log hi then wait")
            await ask(app, pilot, gemini, EDITED, "add a retry")
            prompt = app.query_one("#prompt")
            prompt.value = "half a sentence"
            prompt.cursor_position = len(prompt.value)
            await pilot.press("ctrl+u")  # the input's: the line is cleared, the flow untouched
            await pilot.pause()
            assert prompt.value == "" and app.conversation.engine.current.number == 2
            await pilot.press("ctrl+z")  # undo kept its own key
            await pilot.pause()
            assert app.conversation.engine.current.number == 1
            await pilot.press("f2")  # sessions, not resume
            await screen(app, pilot, "SessionsScreen")
            await pilot.press("escape")
            await settle(app, pilot)
            await pilot.press("f10")  # asked for by two actions: neither
            await settle(app, pilot)
            assert app.clipboard == "" and type(app.screen).__name__ == "Screen"
            await pilot.press("ctrl+o")  # copy kept its own
            await pilot.pause()
            assert app.clipboard == app.conversation.engine.current.yaml
            await pilot.press("f9")  # recipe kept its own
            await screen(app, pilot, "Picker")
            await pilot.press("escape")
            await send(pilot, "/resume")  # resume has no key, but its command and the palette still work
            await settle(app, pilot)
            assert messages(app)[-1] == "No earlier session to resume."

    asyncio.run(scenario())


def test_chat_keys_prints_every_actions_key_and_warns_of_what_was_moved_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[keys]\nundo = "ctrl+u"\nsessions = "f2"\n')
    monkeypatch.setenv("KESTRA_COPILOT_CONFIG", str(config))
    assert main(["chat", "--keys"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert "undo       ctrl+z     Undo" in lines
    assert "sessions   f2         Sessions (default ctrl+r)" in lines
    assert "resume     (none)     Resume the last session (default f2)" in lines
    warnings = err.splitlines()
    assert len(warnings) == 2 and all(w.startswith("warning: ") for w in warnings)
    assert "Ctrl+U is the input's own key" in err and "F2 is sessions now ([keys]), so resume" in err


def test_the_readme_key_table_names_every_actions_default_key() -> None:
    from copilot.tui.keys import label, plan_keys
    from tests.conftest import REPO

    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("| key | action | slash command |", 1)[1].split("\n\n", 1)[0]
    shown = {key.strip() for row in table.splitlines()[2:] for key in row.split("|")[1].split("/")}
    missing = {
        action: label(key)
        for action, key in plan_keys({}).keys.items()
        if key and label(key).replace("Escape", "Esc") not in shown
    }
    assert not missing, f"README's key table lacks {missing}"
