"""Chunked RAG: chunk the sample's documents, retrieve top-k, answer from the chunks in one call.

One index per document set per run lives in ``ctx.services`` (many LaRA questions share a document),
built once in a worker thread under a per-set lock so concurrent samples neither duplicate the work
nor block the event loop. ``order``: ``score`` (LaRA, best first), ``doc`` (OP-RAG: document order),
``reverse`` (best last, next to the question). Diagnostics in ``extra``: answer recall@k — whether a
reference answer found verbatim in the documents is inside the shown chunks (None when no reference
occurs verbatim) — and any reduction of k made to fit the model's context window.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Sequence

from lara.config import short_hash
from lara.protocols import ChunksDocuments, ContextBlock, HasRetrievalQuery, RunContext, supports
from lara.registry import runners
from lara.runners._steps import generate_step
from lara.types import Chunk, Message, RetrievedRef, RunOutput, Sample, ScoredChunk, Step

ORDERS = ("score", "doc", "reverse")
_WS = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _WS.sub(" ", text).strip().lower()


def order_hits(hits: Sequence[ScoredChunk], order: str, doc_pos: dict[str, int]) -> list[Chunk]:
    if order == "doc":
        return [h.chunk for h in sorted(hits, key=lambda h: (doc_pos.get(h.chunk.doc_id, 0), h.chunk.start))]
    if order == "reverse":
        return [h.chunk for h in reversed(hits)]
    return [h.chunk for h in hits]


def answer_recall(references: Sequence[str], doc_texts_norm: Sequence[str], chunks: Sequence[Chunk]) -> bool | None:
    """True/False when some reference occurs verbatim in the documents, else None."""
    present = [r for r in (normalize(x) for x in references) if r and any(r in d for d in doc_texts_norm)]
    if not present:
        return None
    shown = [normalize(c.text) for c in chunks]
    return any(r in s for r in present for s in shown)


def prompt_tokens(backend: Any, messages: Sequence[Message]) -> int:
    return sum(backend.count_tokens(m.content) + 4 for m in messages)


class _State:
    """Per-run shared state: the prototype retriever and the indexes by document set."""

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        self.indexes: dict[tuple[str, ...], tuple[Any, list[Chunk], list[str]]] = {}
        self.locks: dict[tuple[str, ...], asyncio.Lock] = {}


@runners.register("rag")
class RagRunner:
    """Chunked RAG: top-k chunks (BM25, dense or hybrid) of the sample's documents, one call."""

    name = "rag"
    strategy = "rag"
    whole_documents = False
    cost_params = ("k", "chunk_size")

    def __init__(self, retriever: str = "bm25", retriever_params: dict[str, Any] | None = None,
                 chunk_size: int = 600, chunk_overlap: int = 100, k: int = 5, order: str = "score",
                 tokenizer: str = "cl100k") -> None:
        if order not in ORDERS:
            raise ValueError(f"unknown order {order!r}; valid: {', '.join(ORDERS)}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        from lara.retrievers.chunking import SentenceChunker
        from lara.retrievers.factory import resolve_retriever

        self.retriever_name = retriever
        self.registered, self.retriever_params = resolve_retriever(retriever, retriever_params)
        self.k, self.order = k, order
        self.chunker = SentenceChunker(chunk_size, chunk_overlap, tokenizer)
        self._key = "rag:" + short_hash(
            {"r": self.registered, "p": self.retriever_params, "c": [chunk_size, chunk_overlap, tokenizer]}
        )

    def _state(self, ctx: RunContext) -> _State:
        state = ctx.services.get(self._key)
        if state is None:
            from lara.retrievers.factory import build_retriever

            state = ctx.services[self._key] = _State(build_retriever(self.registered, self.retriever_params))
        return state

    def _build(self, state: _State, task: Any, sample: Sample) -> tuple[Any, list[Chunk], list[str]]:
        from lara.retrievers.factory import fresh

        chunker = task if supports(task, ChunksDocuments) else self.chunker
        chunks: list[Chunk] = []
        texts: list[str] = []
        for doc in sample.documents:
            chunks.extend(chunker.chunk(doc))
            texts.append(normalize(doc.load_text()))
        retriever = fresh(state.proto, self.registered, self.retriever_params)
        retriever.index(chunks)
        return retriever, chunks, texts

    async def _index(self, state: _State, ctx: RunContext, sample: Sample) -> tuple[Any, list[Chunk], list[str]]:
        key = tuple(d.id for d in sample.documents)
        if key in state.indexes:
            return state.indexes[key]
        lock = state.locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in state.indexes:
                state.indexes[key] = await asyncio.to_thread(self._build, state, ctx.task, sample)
        return state.indexes[key]

    async def run(self, sample: Sample, ctx: RunContext) -> RunOutput:
        state = self._state(ctx)
        retriever, _, doc_norm = await self._index(state, ctx, sample)
        query = ctx.task.retrieval_query(sample) if supports(ctx.task, HasRetrievalQuery) else sample.question
        t0 = time.perf_counter()
        hits = retriever.search(query, self.k)
        retrieve_s = time.perf_counter() - t0
        doc_pos = {d.id: i for i, d in enumerate(sample.documents)}

        window = ctx.backend.info.context_window
        while True:
            chunks = order_hits(hits, self.order, doc_pos)
            messages = list(ctx.task.messages(sample, ContextBlock(mode="rag", chunks=tuple(chunks))))
            if not window or len(hits) <= 1:
                break
            if prompt_tokens(ctx.backend, messages) + ctx.generate_config.max_tokens <= window:
                break
            hits = hits[:-1]  # drop the lowest-ranked chunk and try again

        generated = await generate_step(ctx, messages)
        retrieved = tuple(RetrievedRef(h.chunk.id, h.score, h.rank) for h in hits)
        steps = (
            Step(kind="retrieve", query=query, retrieved=retrieved, latency_s=retrieve_s),
            generated,
        )
        extra: dict[str, Any] = {
            "order": self.order,
            "k": len(hits),
            "answer_recall": answer_recall(sample.references, doc_norm, chunks),
        }
        if len(hits) < self.k:
            extra["k_requested"] = self.k
        return RunOutput(answer=generated.output, steps=steps, effective_context_tokens=generated.input_tokens,
                         extra=extra)
