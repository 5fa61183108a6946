"""Context assembly: a recipe's templates + retrieved chunks (with ids to cite) + the current flow +
diagnostics → the exact system instruction and messages sent to the model, with their hashes.

Every turn records the recipe name and `Prompt.hash` (and a hash per part), so an eval can tell which
prompt produced which flow, and two runs with the same hash sent the same text.

Text from outside — retrieved pages, the flow being edited, Kestra's logs — is data, never instructions:
`as_data` redacts it, cuts it to a budget and fences it between markers derived from its own content (so
the text cannot forge the closing marker), and the system prompt tells the model to read what is inside
as material only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..flows import redact_secrets
from ..llm.base import Message
from ..retrieval.hybrid import Hit
from .recipes import Recipe

__all__ = [
    "Exchange",
    "Prompt",
    "as_data",
    "build_prompt",
    "history_messages",
    "render_plugins",
    "render_sources",
    "repair_prompt",
]

# An earlier turn of the conversation: what the user asked and what the model answered.
Exchange = tuple[str, str]
FENCED_YAML = re.compile(r"```ya?ml[^\n]*\n.*?(?:```|\Z)", re.DOTALL | re.IGNORECASE)
FLOW_ELIDED = "[the flow of this answer is left out; the current flow is given below]"
MAX_HISTORY_REPLY = 2000  # characters of each earlier answer's prose
MAX_CHUNK_CHARS = 6000  # one retrieved chunk, at most (the recipe's token budget picks how many)
_CUT = "[… {n:,} characters cut …]"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Prompt:
    recipe: str
    system: str
    messages: tuple[Message, ...]
    sources: tuple[Hit, ...] = ()
    parts: dict[str, str] = field(default_factory=dict)  # part name → its hash

    @property
    def hash(self) -> str:
        return _digest("\0".join([self.system, *(f"{m.role}:{m.text}" for m in self.messages)]))


def as_data(
    text: str,
    source: str,
    *,
    budget: int,
    keep: Literal["head", "tail"] = "head",
    redact: Callable[[str], tuple[str, int]] = redact_secrets,
) -> str:
    """`text` fenced and labelled as untrusted data from `source`: credentials redacted (by the
    conversation's vault when given, so its placeholders keep one numbering), cut to `budget` characters
    (its `head` or its `tail`), between `<<<DATA x` and `DATA x>>>` where x is derived from the content —
    the same text always gives the same prompt (its hash), and the text cannot contain its own closing
    marker."""
    text = redact(text)[0].strip("\n")
    if len(text) > budget:
        cut = _CUT.format(n=len(text) - budget)
        text = f"{cut}\n{text[-budget:]}" if keep == "tail" else f"{text[:budget]}\n{cut}"
    marker = _digest(f"{source}\0{text}")[:10]
    return f"<<<DATA {marker} ({source})\n{text}\nDATA {marker}>>>"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def render_sources(hits: Sequence[Hit]) -> str:
    """`[S1] (plugin-doc) Title — location` then the chunk text as data, for each hit, in order."""
    blocks = []
    for number, hit in enumerate(hits, 1):
        chunk = hit.chunk
        title, location = _one_line(chunk.title or "untitled"), _one_line(chunk.location)
        body = as_data(chunk.text.strip(), f"source S{number}", budget=MAX_CHUNK_CHARS)
        blocks.append(f"[S{number}] ({chunk.kind}) {title} — {location}\n{body}")
    return "\n\n".join(blocks)


def history_messages(exchanges: Sequence[Exchange], turns: int) -> tuple[Message, ...]:
    """The last `turns` exchanges as messages. Their flows are elided: the current flow (the only one that
    matters) goes with the request, and old revisions would cost tokens and blur which flow is current."""
    if turns <= 0:
        return ()
    messages: list[Message] = []
    for request, reply in exchanges[-turns:]:
        prose = FENCED_YAML.sub(FLOW_ELIDED, reply).strip()
        if len(prose) > MAX_HISTORY_REPLY:
            prose = prose[:MAX_HISTORY_REPLY] + " …"
        messages += [Message("user", request.strip()), Message("model", prose or FLOW_ELIDED)]
    return tuple(messages)


def build_prompt(
    recipe: Recipe,
    request: str,
    *,
    hits: Sequence[Hit] = (),
    current_flow: str | None = None,
    revision: int = 0,
    kestra_version: int = 1,
    history: Sequence[Exchange] = (),
    question: bool = False,
    plugins: str = "",
) -> Prompt:
    """The prompt of a turn: a request (the model writes the flow, or answers when it is asked a question),
    or with `question` a question to answer in prose, never with a flow (`/ask`). `plugins`: the facts of the
    plugin types that matter to the turn (plugin_facts.py), fenced as data after the sources."""
    system = recipe.render(
        "system", kestra_version=f"{kestra_version}.x", version_rules=recipe.version_rules(kestra_version)
    )
    parts = {"system": _digest(system)}
    if hits:
        sources = render_sources(hits)
        system += "\n\nSources (cite them as [S1], [S2] …):\n\n" + sources
        parts["sources"] = _digest(sources)
    if plugins:
        facts = render_plugins(plugins)
        system += "\n\n" + facts
        parts["plugins"] = _digest(facts)
    user = request.strip()
    flow = None
    if current_flow and recipe.include_current_flow:
        flow = as_data(f"```yaml\n{current_flow.rstrip()}\n```", "the current flow", budget=len(current_flow) + 20)
    if question:
        missing = "(The current flow is left out.)" if current_flow else "(There is no flow yet.)"
        asked = recipe.render("question", flow=flow or missing)
        parts["question"] = _digest(asked)
        user = f"{asked}\n\nQuestion: {user}"
    elif flow is not None:
        edit = recipe.render("edit", flow=flow, revision=revision)
        parts["flow"] = _digest(edit)
        user = f"{edit}\n\nRequest: {user}"
    parts["request"] = _digest(request)
    earlier = history_messages(history, recipe.history_turns)
    if earlier:
        parts["history"] = _digest("\0".join(f"{m.role}:{m.text}" for m in earlier))
    return Prompt(recipe.name, system, (*earlier, Message("user", user)), tuple(hits), parts)


def render_plugins(facts: str) -> str:
    """The plugin facts under their heading, fenced as data (a hosted schema's titles are text from outside)."""
    return "Plugin types (title, required properties, other properties):\n\n" + as_data(
        facts, "plugin types", budget=len(facts) + 1
    )


def repair_prompt(recipe: Recipe, prompt: Prompt, reply: str, diagnostics: str, plugins: str = "") -> Prompt:
    """The conversation so far, the model's invalid reply, and the validator's findings to fix; `plugins`:
    the facts of the types the reply and the findings name that the prompt has not given yet."""
    repair = recipe.render("repair_validation", diagnostics=diagnostics.strip() or "(none)")
    parts = {**prompt.parts, "repair": _digest(repair)}
    if plugins:
        facts = render_plugins(plugins)
        repair += "\n\n" + facts
        parts["repair_plugins"] = _digest(facts)
    messages = (*prompt.messages, Message("model", reply), Message("user", repair))
    return Prompt(prompt.recipe, prompt.system, messages, prompt.sources, parts)
