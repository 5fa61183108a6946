"""BM25 over chunks, with Kestra plugin type names kept as exact tokens.

A generic tokenizer splits `io.kestra.plugin.gcp.bigquery.Load` into common words; here the whole name
is one token (plus its class name, `load`, and its words), so a query naming a type finds its docs and
the flows that use it first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import bm25s
import numpy as np

__all__ = ["LexicalIndex", "tokenize"]

_TYPE = re.compile(r"io\.kestra\.[a-z0-9_.]+\.[A-Za-z0-9_]+")
_WORD = re.compile(r"[a-z0-9]+")
_STOP_WORDS = (
    "a an and are as at be by for from has have in into is it its of on or that the this to was were will with "
    "you your can use used using"
)
_STOP = frozenset(_STOP_WORDS.split())


def tokenize(text: str) -> list[str]:
    tokens = [t.lower() for t in _TYPE.findall(text)]
    tokens += [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]
    return tokens


class LexicalIndex:
    def __init__(self, texts: Sequence[str]) -> None:
        self.size = len(texts)
        self._retriever = bm25s.BM25()
        if texts:
            self._retriever.index([tokenize(t) or ["\0"] for t in texts], show_progress=False)
        self._vocab = set(getattr(self._retriever, "vocab_dict", {}) or {})

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(position in `texts`, score), best first; only positive scores."""
        tokens = [t for t in tokenize(query) if t in self._vocab]
        if not tokens or not self.size:
            return []
        positions, scores = self._retriever.retrieve([tokens], k=min(k, self.size), show_progress=False)
        return [(int(p), float(s)) for p, s in zip(positions[0], scores[0], strict=True) if s > 0 and np.isfinite(s)]
