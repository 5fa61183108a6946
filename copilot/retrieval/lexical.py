"""BM25 over chunks, with Kestra plugin type names kept as exact tokens.

A generic tokenizer splits `io.kestra.plugin.gcp.bigquery.Load` into common words; here the whole name
is one token (plus its class name, `load`, and its words), so a query naming a type finds its docs and
the flows that use it first.

An index is saved as bm25s saves it (`save`, `load`): tokenizing and scoring 8,000 chunks takes ~0.4 s,
loading them ~20 ms. A saved index is named by FORMAT (the tokenizer's version, bm25s's) and its texts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

__all__ = ["FORMAT", "LexicalIndex", "tokenize"]

# What a saved index depends on besides the texts: change the version whenever `tokenize` changes.
TOKENIZER_VERSION = 1
FORMAT = f"tokenizer {TOKENIZER_VERSION}, bm25s {bm25s.__version__}"

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

    def save(self, folder: Path) -> None:
        """Write the index into `folder` (bm25s's files: its parameters, vocabulary and score matrix)."""
        self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """An index `save` wrote (OSError, ValueError or KeyError when the folder does not hold one)."""
        index = cls.__new__(cls)
        index._retriever = bm25s.BM25.load(str(folder))
        index.size = int(index._retriever.scores["num_docs"])
        index._vocab = set(index._retriever.vocab_dict)
        return index

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(position in `texts`, score), best first; only positive scores."""
        tokens = [t for t in tokenize(query) if t in self._vocab]
        if not tokens or not self.size:
            return []
        # What `retrieve` does for one query, without the progress bar it makes even when hidden: tqdm's first
        # bar starts a monitor thread and a multiprocessing lock (~15 ms of a search process).
        scores, positions = bm25s.selection.topk(self._retriever.get_scores(tokens), k=min(k, self.size), sorted=True)
        return [(int(p), float(s)) for p, s in zip(positions, scores, strict=True) if s > 0 and np.isfinite(s)]
