"""The chat's keys: each action's default key, and the user's `[keys]` laid over them — one key, one action.

    plan = plan_keys(settings.keys)
    plan.keys["undo"]   # "ctrl+z", or the user's key, or "" when the action was left without one
    plan.notes          # what the user's [keys] moved or could not do, said at start-up and by `chat --keys`

The rules, so that no key is ever silently shadowed:
- a key the input or the app keeps for itself (typing a character, Enter, Ctrl+U, Ctrl+K, Tab, Ctrl+P, Ctrl+Q …)
  is refused, with its use named: the action keeps its own key;
- a key given to two actions in [keys] goes to neither: each keeps its own key;
- a key that is another action's default moves to the user's action: that action is left without a key (the
  command palette, Ctrl+P, still runs it) unless [keys] gives it another — a swap needs no note;
- an unknown action id or key name is named.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.app import App
from textual.binding import BindingsMap, BindingType
from textual.keys import Keys, key_to_character
from textual.screen import Screen

from .widgets import PromptInput

__all__ = ["ACTIONS", "QUIT", "KeyPlan", "label", "plan_keys"]

# Every action: binding id (the `[keys]` config name) → (default key, action, title, its short word in the
# footer — "" for an action the footer leaves to the help and the command palette).
ACTIONS: dict[str, tuple[str, str, str, str]] = {
    "cancel": ("escape", "cancel", "Stop reply", "Stop reply"),
    "undo": ("ctrl+z", "undo", "Undo", "Undo"),
    "redo": ("ctrl+y", "redo", "Redo", "Redo"),
    "revisions": ("ctrl+g", "revisions", "Revisions", "Revisions"),
    "save": ("ctrl+s", "save", "Save flow", "Save"),
    "load": ("ctrl+l", "load", "Load a flow file", ""),
    "new": ("ctrl+n", "new", "New flow", ""),
    "copy": ("ctrl+o", "copy", "Copy flow", "Copy"),
    "blocks": ("ctrl+b", "blocks", "Copy a code block", ""),
    "sessions": ("ctrl+r", "sessions", "Sessions", "Sessions"),
    "resume": ("f2", "resume", "Resume the last session", ""),
    "edit": ("ctrl+f", "edit", "Edit the flow yourself", ""),
    "diff": ("f4", "diff_server", "Diff against the server", ""),
    "deploy": ("f6", "deploy", "Deploy", "Deploy"),
    "run": ("f5", "run", "Test-run", "Test-run"),
    "repair": ("f7", "repair", "Repair from failure", ""),
    "model": ("f8", "model", "Switch model", ""),
    "recipe": ("f9", "recipe", "Switch recipe", ""),
    "sources": ("f3", "show_tab('tab-sources')", "Sources", ""),
    "capture": ("f12", "capture", "Save the turn as an eval case", ""),
    "help": ("f1", "help", "Help", ""),
}

QUIT = "ctrl+q"  # Textual's own: not an action of [keys], but shown with them (the footer, the help)

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
NAMED = frozenset(value.rpartition("+")[2] for value in Keys)  # escape, f10, pageup, space …
SENT_AS = {"ctrl+i": "Tab", "ctrl+m": "Enter", "ctrl+h": "Backspace"}  # what a terminal sends


def _uses(bindings: Iterable[BindingType]) -> dict[str, str]:
    """Each key of `bindings` → what it does (its description, or its action), the last binding of a key winning."""
    found = BindingsMap(bindings).key_to_bindings
    return {key: (last.description or last.action).replace("_", " ").lower() for key, (*_, last) in found.items()}


def _input_keys() -> dict[str, str]:
    """The keys the chat's input binds itself (Textual's Input, then ours) → what each does."""
    return _uses(binding for cls in reversed(PromptInput.__mro__) for binding in getattr(cls, "BINDINGS", []))


def _app_keys() -> dict[str, str]:
    """The keys Textual's app and screen keep (quit, focus, the command palette) → what each does."""
    return {**_uses([*App.BINDINGS, *Screen.BINDINGS]), App.COMMAND_PALETTE_BINDING: "the command palette"}


def label(key: str) -> str:
    """How the chat names a key: `Ctrl+T`, `F10`, `Escape`; "no key" for none."""
    if not key:
        return "no key"
    return "+".join(part.capitalize() if len(part) > 1 else part.upper() for part in key.split("+"))


def normalize(key: str) -> str:
    """A key as Textual names it: `Ctrl+U` → `ctrl+u`, `F2` → `f2`; a single character stays as written."""
    key = key.strip()
    return key if len(key) == 1 else key.lower()


def refusal(key: str) -> str | None:
    """Why the chat cannot give `key` to an action, or None when it can."""
    *modifiers, base = key.split("+")
    # Textual reads any Unicode character name (`banana` is 🍌), which no keyboard sends: ASCII keys only.
    character = None if base in NAMED else key_to_character(base)
    if not base or not set(modifiers) <= MODIFIERS or (base not in NAMED and not (character or "é").isascii()):
        return f"{key!r} is not a key name (examples: ctrl+t, f10, alt+x, escape)"
    character = key_to_character(key)
    if character is not None and character.isprintable():
        return f"{label(key)} types a character in the input"
    if key in SENT_AS:
        return f"a terminal sends {label(key)} as {SENT_AS[key]}"
    if key in (kept := _input_keys()):
        return f"{label(key)} is the input's own key ({kept[key]})"
    if key in (kept := _app_keys()):
        return f"{label(key)} is the app's own key ({kept[key]})"
    return None


@dataclass(frozen=True)
class KeyPlan:
    keys: dict[str, str]  # every action id → its key, "" when it has none
    notes: tuple[str, ...]  # what the user's [keys] moved or could not do

    @property
    def keymap(self) -> dict[str, str]:
        """Textual's keymap: the keys that differ from the defaults. An action left without a key is not in it:
        Textual drops a default binding whose key the keymap gives to another action."""
        return {action: key for action, key in self.keys.items() if key and key != ACTIONS[action][0]}


def plan_keys(user: Mapping[str, str]) -> KeyPlan:
    """The chat's key for every action, with the user's `[keys]` (action id → key) applied by the module's rules."""
    notes: list[str] = []
    unknown = sorted(set(user) - set(ACTIONS))
    if unknown:
        actions = "action" if len(unknown) == 1 else "actions"
        notes.append(f"Unknown {actions} in [keys]: {', '.join(unknown)}. Known: {', '.join(ACTIONS)}.")
    refused: dict[str, str] = {}  # action → why its [keys] entry is not used
    wanted: dict[str, str] = {}  # action → the user's key it gets
    for action, value in user.items():
        if action in ACTIONS:
            key = normalize(value)
            reason = refusal(key)
            if reason:
                refused[action] = reason
            else:
                wanted[action] = key
    for key in {key for key in wanted.values()}:
        rivals = sorted(action for action, other in wanted.items() if other == key)
        if len(rivals) > 1:
            for action in rivals:
                del wanted[action]
                refused[action] = f"{' and '.join(rivals)} both ask for {label(key)}, and a key runs one action"
    taken = {key: action for action, key in wanted.items()}
    keys: dict[str, str] = {}
    for action, (default, _, title, _) in ACTIONS.items():
        if action in wanted:
            keys[action] = wanted[action]
        elif default in taken:
            keys[action] = ""
            notes.append(
                f"{label(default)} is {taken[default]} now ([keys]), so {action} ({title.lower()}) has no key: "
                f"the command palette (Ctrl+P) still runs it, or give it another key in [keys]."
            )
        else:
            keys[action] = default
    for action, reason in refused.items():
        where = f"stays on {label(keys[action])}" if keys[action] else "has no key"
        notes.append(f'[keys] {action} = "{user[action]}" is not used: {reason}. {action.capitalize()} {where}.')
    return KeyPlan(keys, tuple(notes))
