"""An engine from the settings: the configured model, the recipe, and retrieval over the index when
there is one. What is missing (no API key, no index) comes back as notes, never as a crash, so a front end
can open and say how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..errors import CopilotError
from ..llm.base import ChatModel, ModelError
from .recipes import load_recipe
from .turn import Engine

__all__ = ["EngineSetup", "Grounding", "build_engine", "open_grounding"]


@dataclass
class EngineSetup:
    engine: Engine
    notes: list[str] = field(default_factory=list)  # what is missing and how to fix it
    index_chunks: int = 0


@dataclass
class Grounding:
    retrieve: Any  # (text, recipe) -> hits, or None without an index
    chunks: int = 0
    fingerprint: dict[str, Any] = field(default_factory=dict)  # the index manifest: sources, model, chunker
    notes: list[str] = field(default_factory=list)  # e.g. the index was embedded with another model


def open_grounding(settings: Settings) -> Grounding:
    """Hybrid search over the user's index, or nothing when there is no index yet, or a damaged one (a note
    says what is wrong and how to rebuild it: the turn goes on without sources)."""
    from ..retrieval.hybrid import search
    from ..retrieval.index import Index
    from ..workspace import Workspace

    embedder = Workspace(settings).embedder()
    index = Index(settings.index_dir, cache_dir=settings.cache_dir, chroma_url=settings.chroma_url, embedder=embedder)
    try:
        count = len(index.chunks())
        if not count:
            return Grounding(None)
        notes = [mismatch] if (mismatch := index.embeddings_mismatch()) else []
        manifest = index.manifest()
    except CopilotError as exc:
        return Grounding(None, notes=[f"{exc} Answers come without sources. {exc.hint or ''}".strip()])
    return Grounding(lambda text, recipe: search(index, text, k=recipe.k, kinds=recipe.kinds), count, manifest, notes)


def build_engine(
    settings: Settings,
    *,
    recipe: str = "default",
    model: str | None = None,
    kestra_version: int | None = None,
    chat: ChatModel | None = None,
) -> EngineSetup:
    """The engine for `recipe`, with the model named `model` (or the settings' one), or `chat` when the front
    end has made it already; what is missing comes back as notes."""
    from ..workspace import Workspace

    notes: list[str] = []
    no_model: ModelError | None = None
    try:
        chat_model = chat or Workspace(settings).model(model)
    except ModelError as exc:
        chat_model, no_model = None, exc
        notes.append(f"{exc} {exc.hint or ''}".strip())
    chosen = load_recipe(recipe)
    grounding = open_grounding(settings) if chosen.k else Grounding(None)
    retrieve, chunks = grounding.retrieve, grounding.chunks
    notes += grounding.notes
    if chosen.k and not chunks and not grounding.notes:  # none yet (a damaged one has its own note)
        notes.append("No retrieval index yet: answers come without sources. Build it: `kestra-copilot index build`.")
    engine = Engine(
        chat_model,
        recipe=chosen,
        retrieve=retrieve,
        kestra_version=kestra_version or settings.kestra_version,
        no_model=no_model,
    )
    return EngineSetup(engine, notes, chunks)
