"""BM25 over chunks with bm25s (sparse-matrix BM25, English stopwords, optional stemming-free)."""

from __future__ import annotations

from typing import Any, Sequence

from lara.registry import retrievers
from lara.types import Chunk, ScoredChunk


class BM25Retriever:
    """Lexical retrieval (bm25s, Lucene BM25, English stopwords); scores are BM25 scores."""

    name = "bm25"

    def __init__(
        self, k1: float = 1.5, b: float = 0.75, method: str = "lucene", stopwords: str | None = "en"
    ) -> None:
        self.k1, self.b, self.method, self.stopwords = k1, b, method, stopwords
        self._chunks: list[Chunk] = []
        self._bm25: Any = None

    def params(self) -> dict[str, Any]:
        return {"k1": self.k1, "b": self.b, "method": self.method, "stopwords": self.stopwords}

    def fresh(self) -> "BM25Retriever":
        """An empty retriever with the same parameters (one per document set)."""
        return BM25Retriever(**self.params())

    def _tokenize(self, texts: list[str], return_ids: bool) -> Any:
        import bm25s

        return bm25s.tokenize(
            texts, stopwords=self.stopwords, return_ids=return_ids, show_progress=False
        )

    def index(self, chunks: Sequence[Chunk]) -> None:
        import bm25s

        self._chunks = list(chunks)
        self._bm25 = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        if self._chunks:
            tokens = self._tokenize([c.text for c in self._chunks], return_ids=True)
            self._bm25.index(tokens, show_progress=False)

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        if self._bm25 is None:
            raise RuntimeError("BM25Retriever.search called before index()")
        k = min(k, len(self._chunks))
        if k <= 0:
            return []
        # String tokens are mapped onto the index vocabulary; unknown words are ignored.
        q = self._tokenize([query], return_ids=False)
        docs, scores = self._bm25.retrieve(q, k=k, show_progress=False, n_threads=1)
        return [
            ScoredChunk(self._chunks[int(i)], float(s), rank)
            for rank, (i, s) in enumerate(zip(docs[0], scores[0]))
        ]


@retrievers.register("bm25")
def make_bm25(**params: Any) -> BM25Retriever:
    """BM25 (bm25s) with English stopwords."""
    return BM25Retriever(**params)
