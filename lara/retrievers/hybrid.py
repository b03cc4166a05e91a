"""Hybrid retrieval as in LaRA's code: BM25 hits first, then dense hits, deduplicated by chunk id.

``search(query, k)`` splits k in LaRA's proportion (k=5 -> 3 BM25 + 2 dense); after dedup fewer than
k chunks may remain, as upstream. ``fusion="rrf"`` instead fuses both rankings by reciprocal rank
(1 / (rrf_k + rank + 1)) over a deeper pool and keeps the top k. With ``reranker_path`` a
cross-encoder orders the final chunks by its score (LaRA's reranking step).
"""

from __future__ import annotations

from typing import Any, Sequence

from lara.registry import retrievers
from lara.types import Chunk, ScoredChunk

FUSIONS = ("lara", "rrf")


def split_k(k: int, n_dense: int, n_bm25: int) -> tuple[int, int]:
    """(dense, bm25) counts for k, in the n_dense:n_bm25 proportion."""
    if k == n_dense + n_bm25:
        return n_dense, n_bm25
    b = round(k * n_bm25 / (n_dense + n_bm25))
    return k - b, b


def concat_dedup(first: Sequence[ScoredChunk], second: Sequence[ScoredChunk]) -> list[ScoredChunk]:
    seen: set[str] = set()
    out: list[ScoredChunk] = []
    for h in [*first, *second]:
        if h.chunk.id not in seen:
            seen.add(h.chunk.id)
            out.append(ScoredChunk(h.chunk, h.score, len(out)))
    return out


def rrf(rankings: Sequence[Sequence[ScoredChunk]], k: int, rrf_k: int = 60) -> list[ScoredChunk]:
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for ranking in rankings:
        for h in ranking:
            scores[h.chunk.id] = scores.get(h.chunk.id, 0.0) + 1.0 / (rrf_k + h.rank + 1)
            chunks[h.chunk.id] = h.chunk
    top = sorted(scores, key=lambda cid: -scores[cid])[:k]
    return [ScoredChunk(chunks[cid], scores[cid], r) for r, cid in enumerate(top)]


class HybridRetriever:
    """LaRA hybrid: 2 dense + 3 BM25, BM25 first, dedup; optional RRF and cross-encoder rerank."""

    name = "hybrid"

    def __init__(self, n_dense: int = 2, n_bm25: int = 3, fusion: str = "lara", rrf_k: int = 60,
                 rrf_pool: int = 20, dense: dict[str, Any] | None = None,
                 bm25: dict[str, Any] | None = None, reranker_path: str | None = None,
                 reranker: Any = None, _parts: tuple[Any, Any] | None = None) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
        if n_dense < 0 or n_bm25 < 0 or n_dense + n_bm25 == 0:
            raise ValueError("n_dense and n_bm25 must be >= 0 and not both 0")
        from lara.retrievers.bm25 import BM25Retriever
        from lara.retrievers.dense import DenseRetriever

        self.n_dense, self.n_bm25, self.fusion = n_dense, n_bm25, fusion
        self.rrf_k, self.rrf_pool = rrf_k, rrf_pool
        if _parts is not None:
            self.dense, self.bm25 = _parts
        else:
            self.dense = DenseRetriever(**(dense or {}))
            self.bm25 = BM25Retriever(**(bm25 or {}))
        if reranker is None and reranker_path:
            from lara.retrievers.rerank import CrossEncoderReranker

            reranker = CrossEncoderReranker(reranker_path)
        self.reranker = reranker

    def fresh(self) -> "HybridRetriever":
        return HybridRetriever(self.n_dense, self.n_bm25, self.fusion, self.rrf_k, self.rrf_pool,
                               reranker=self.reranker,
                               _parts=(self.dense.fresh(), self.bm25.fresh()))

    def index(self, chunks: Sequence[Chunk]) -> None:
        self.bm25.index(chunks)
        self.dense.index(chunks)

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        if k <= 0:
            return []
        if self.fusion == "rrf":
            pool = max(k, self.rrf_pool)
            hits = rrf([self.bm25.search(query, pool), self.dense.search(query, pool)], k, self.rrf_k)
        else:
            n_d, n_b = split_k(k, self.n_dense, self.n_bm25)
            hits = concat_dedup(self.bm25.search(query, n_b), self.dense.search(query, n_d))
        if self.reranker is not None:
            from lara.retrievers.rerank import rerank

            hits = rerank(self.reranker, query, hits)
        return hits


@retrievers.register("hybrid")
def make_hybrid(**params: Any) -> HybridRetriever:
    """LaRA hybrid recall (BM25 hits first, then dense, dedup); optional RRF / reranker."""
    if "_parts" in params:
        raise TypeError("unknown hybrid parameter '_parts'")
    return HybridRetriever(**params)
