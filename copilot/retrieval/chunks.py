"""What the index stores: chunks of docs and flows, with where they came from."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

__all__ = ["KINDS", "SEARCH_MODES", "Chunk", "estimate_tokens", "plugin_types_in"]

KINDS = ("doc", "plugin-doc", "flow", "blueprint")
# here, not in search.py, so a CLI can list them without numpy. `fusion`: hybrid's fused ranking by relevance
# alone; `hybrid` then picks the hits that together cover the plugin types (what a turn sends the model).
SEARCH_MODES = ("hybrid", "fusion", "dense", "bm25")

# A Kestra plugin class: a dotted package under io.kestra, then a capitalised class name.
_PLUGIN_TYPE = re.compile(r"\bio\.kestra\.(?:plugin|core)(?:\.[a-z0-9_]+)+\.[A-Z][A-Za-z0-9_]*(?:\$[A-Za-z0-9_]+)?")


def plugin_types_in(text: str) -> tuple[str, ...]:
    """The Kestra plugin types a text names, in order of first mention."""
    return tuple(dict.fromkeys(_PLUGIN_TYPE.findall(text)))


def estimate_tokens(text: str) -> int:
    """A cheap token count for budgeting (~4 characters per token for English and YAML); the embedder's
    tokenizer gives the exact figure when it matters."""
    return (len(text) + 3) // 4


@dataclass(frozen=True)
class Chunk:
    text: str  # the body, as shown to the model
    kind: str  # doc | plugin-doc | flow | blueprint
    source: str  # the source's name, e.g. "kestra-docs"
    title: str  # breadcrumb ("Triggers > Schedule > Backfills") or flow title
    location: str  # path or URL, with #anchor when there is one
    plugin_types: tuple[str, ...] = ()
    content_hash: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown chunk kind {self.kind!r}")
        if not self.content_hash:
            object.__setattr__(self, "content_hash", hashlib.sha256(self.embedded_text.encode()).hexdigest())

    @property
    def id(self) -> str:
        """Stable across runs: the same source, place and content give the same id."""
        key = f"{self.source}\0{self.location}\0{self.content_hash}"
        return hashlib.sha1(key.encode()).hexdigest()[:20]

    @property
    def embedded_text(self) -> str:
        """What is embedded and searched: the breadcrumb gives a section its context."""
        return f"{self.title}\n\n{self.text}" if self.title else self.text

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.embedded_text)

    def metadata(self) -> dict[str, str | int]:
        """Flat metadata, as Chroma stores it."""
        return {
            "kind": self.kind,
            "source": self.source,
            "title": self.title,
            "location": self.location,
            "plugin_types": " ".join(self.plugin_types),
            "content_hash": self.content_hash,
            "tokens": self.tokens,
        }

    @classmethod
    def from_metadata(cls, text: str, metadata: dict[str, object]) -> Chunk:
        types = str(metadata.get("plugin_types") or "")
        return cls(
            text=text,
            kind=str(metadata["kind"]),
            source=str(metadata.get("source", "")),
            title=str(metadata.get("title", "")),
            location=str(metadata.get("location", "")),
            plugin_types=tuple(types.split()) if types else (),
            content_hash=str(metadata.get("content_hash", "")),
        )
