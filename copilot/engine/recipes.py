"""Recipes: named context settings (which templates, how much retrieval, how many repairs), read from
`prompts/recipes/*.yaml`. `default` is the tuned one; the others are experiments an eval compares.

Templates are text files in `prompts/` with `$name` placeholders (`string.Template`: Pebble's `{{ }}`
in a template stays as it is; a literal dollar is `$$`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import CopilotError
from ..retrieval.chunks import KINDS

__all__ = ["TEMPLATE_ROLES", "Recipe", "RecipeError", "list_recipes", "load_recipe", "prompts_dir"]

TEMPLATE_ROLES = ("system", "edit", "repair_validation", "repair_run_logs", "question")
DEFAULT_TEMPLATES = {"question": "question.md"}  # roles added since: a recipe written before them gets these


class RecipeError(CopilotError):
    pass


def prompts_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "prompts"


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    templates: dict[str, str]  # role → template text
    k: int = 8
    kinds: tuple[str, ...] = KINDS
    budget_tokens: int = 6000
    include_current_flow: bool = True
    include_diagnostics: bool = True
    repair_attempts: int = 2
    temperature: float = 0.2
    history_turns: int = 4  # earlier exchanges of the conversation sent along (their flows elided)
    plugin_facts: bool = True  # the title and properties of the plugin types that matter, from the schema in force
    folder: Path = field(default_factory=prompts_dir, compare=False)

    def render(self, role: str, **values: object) -> str:
        try:
            return string.Template(self.templates[role]).substitute(values).strip()
        except KeyError as exc:
            raise RecipeError(f"Template {role!r} of recipe {self.name!r} needs ${exc.args[0]}.") from exc

    def version_rules(self, kestra_version: int) -> str:
        path = self.folder / f"kestra-{kestra_version}.md"
        return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def _read(path: Path, what: str) -> str:
    """A recipe or template: a regular UTF-8 file of bounded size (fileio), or a RecipeError."""
    from ..fileio import MAX_PROMPT_BYTES, FileError, read_text

    try:
        return read_text(path, limit=MAX_PROMPT_BYTES, what=what)
    except FileError as exc:
        raise RecipeError(str(exc), hint=exc.hint) from exc


def _flag(value: object, name: str, path: Path) -> bool:
    """A yes/no setting: YAML's true or false (a quoted "false" would read as true with bool())."""
    if not isinstance(value, bool):
        raise RecipeError(f"The recipe {path} has `{name}: {value!r}`: it takes true or false.")
    return value


def list_recipes(folder: Path | None = None) -> list[str]:
    return sorted(p.stem for p in ((folder or prompts_dir()) / "recipes").glob("*.yaml"))


def load_recipe(name_or_path: str = "default", folder: Path | None = None) -> Recipe:
    """A recipe by name (`prompts/recipes/NAME.yaml`) or by path to its YAML file."""
    folder = folder or prompts_dir()
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = folder / "recipes" / f"{name_or_path}.yaml"
    if not path.exists():
        raise RecipeError(
            f"No recipe {name_or_path!r} ({path}).", hint=f"Known recipes: {', '.join(list_recipes(folder)) or 'none'}."
        )
    try:
        data = yaml.safe_load(_read(path, "recipe")) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(f"The recipe {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"The recipe {path} must be a mapping.")
    templates = {**DEFAULT_TEMPLATES, **(data.get("templates") or {})}
    missing = [role for role in TEMPLATE_ROLES if role not in templates]
    if missing:
        raise RecipeError(f"The recipe {path} names no template for: {', '.join(missing)}.")
    texts = {}
    for role in TEMPLATE_ROLES:
        template = folder / str(templates[role])
        if not template.exists():
            raise RecipeError(f"The recipe {path} names {template}, which does not exist.")
        texts[role] = _read(template, "prompt template")
    retrieval = data.get("retrieval") or {}
    kinds = tuple(retrieval.get("kinds") or KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise RecipeError(f"The recipe {path} has unknown retrieval kinds: {', '.join(unknown)}.")
    try:
        return Recipe(
            name=str(data.get("name") or path.stem),
            description=str(data.get("description") or ""),
            templates=texts,
            k=int(retrieval.get("k", 8)),
            kinds=kinds,
            budget_tokens=int(retrieval.get("budget_tokens", 6000)),
            include_current_flow=bool(data.get("include_current_flow", True)),
            include_diagnostics=bool(data.get("include_diagnostics", True)),
            repair_attempts=int(data.get("repair_attempts", 2)),
            temperature=float(data.get("temperature", 0.2)),
            history_turns=int(data.get("history_turns", 4)),
            plugin_facts=_flag(data.get("plugin_facts", True), "plugin_facts", path),
            folder=folder,
        )
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"The recipe {path} has a value of the wrong type: {exc}") from exc
