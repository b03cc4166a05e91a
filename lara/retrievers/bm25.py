"""BM25 over chunks with bm25s scoring (sparse-matrix BM25, English stopwords).

Tokenisation is done here rather than by ``bm25s.tokenize``: the same rule (lower-cased runs of two
or more word characters, stopwords dropped) but a simpler regex. For the Lucene and Robertson
variants the score matrix is built here too (:mod:`lara.retrievers.bm25_index`, vectorised numpy,
bit-identical to ``bm25s.BM25.index``: on LaRA's 16k chunks the matrix takes ~0.15 s CPU instead of
~1.3 s, ``index()`` as a whole ~2.0 s instead of ~3.2 s) and handed to a ``bm25s.BM25`` object, so
queries are still scored and ranked by bm25s. Other methods index through bm25s.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Sequence

from lara.registry import retrievers
from lara.types import Chunk, ScoredChunk


_WORD = re.compile(r"\w\w+")  # same tokens as bm25s' (?u)\b\w\w+\b, about 35% faster
STOPWORD_SETS = ("en", "en_plus", "none")


def stopword_set(name: str | None) -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_EN_PLUS

    if name in (None, "none"):
        return frozenset()
    if name in ("en", "english"):
        return frozenset(STOPWORDS_EN)
    if name == "en_plus":
        return frozenset(STOPWORDS_EN_PLUS)
    raise ValueError(f"unknown stopwords {name!r}; valid: {', '.join(STOPWORD_SETS)}")


class BM25Retriever:
    """Lexical retrieval (bm25s, Lucene BM25, English stopwords); scores are BM25 scores."""

    name = "bm25"

    def __init__(
        self, k1: float = 1.5, b: float = 0.75, method: str = "lucene", stopwords: str | None = "en"
    ) -> None:
        self.k1, self.b, self.method, self.stopwords = k1, b, method, stopwords
        self._stop = stopword_set(stopwords)
        self._chunks: list[Chunk] = []
        self._bm25: Any = None

    def params(self) -> dict[str, Any]:
        return {"k1": self.k1, "b": self.b, "method": self.method, "stopwords": self.stopwords}

    def fresh(self) -> "BM25Retriever":
        """An empty retriever with the same parameters (one per document set)."""
        return BM25Retriever(**self.params())

    def _words(self, text: str) -> list[str]:
        stop = self._stop
        return [w for w in _WORD.findall(text.lower()) if w not in stop]

    def index(self, chunks: Sequence[Chunk]) -> None:
        import bm25s

        self._chunks = list(chunks)
        self._bm25 = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        if not self._chunks:
            return
        from lara.retrievers.bm25_index import FAST_METHODS, build_scores, word_ids

        ids, lengths, vocab = word_ids([c.text for c in self._chunks], self._stop)
        if self.method in FAST_METHODS:
            self._bm25.scores = build_scores(ids, lengths, len(vocab), self.k1, self.b, self.method)
            self._bm25.vocab_dict = vocab
            self._bm25.unique_token_ids_set = set(range(len(vocab)))  # ids are 0..len-1
            self._bm25.nonoccurrence_array = None
        else:
            from bm25s.tokenization import Tokenized

            bounds = list(itertools.accumulate(lengths, initial=0))
            per_chunk = [ids[a:b].tolist() for a, b in zip(bounds, bounds[1:])]
            self._bm25.index(Tokenized(ids=per_chunk, vocab=vocab), show_progress=False)

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        if self._bm25 is None:
            raise RuntimeError("BM25Retriever.search called before index()")
        k = min(k, len(self._chunks))
        if k <= 0:
            return []
        # String tokens are mapped onto the index vocabulary; unknown words are ignored.
        q = [self._words(query)]
        docs, scores = self._bm25.retrieve(q, k=k, show_progress=False, n_threads=1)
        return [
            ScoredChunk(self._chunks[int(i)], float(s), rank)
            for rank, (i, s) in enumerate(zip(docs[0], scores[0]))
        ]


@retrievers.register("bm25")
def make_bm25(**params: Any) -> BM25Retriever:
    """BM25 (bm25s) with English stopwords."""
    return BM25Retriever(**params)
