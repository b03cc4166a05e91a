"""DRAG (demonstration-based RAG, Yue et al. ICLR 2025): m demonstrations, each with its own top-k
retrieved documents, question and answer; then the test's top-k documents and question; one call.

Documents are shown in reverse rank order, so the best one sits next to the question. The prompt
is built here rather than by ``task.messages``: a task's ContextBlock carries one list of chunks
and bare (question, answer) pairs, so it cannot say which documents belong to which demonstration
— the interleaving (documents, question, answer per demonstration) *is* the method. The layout
follows the paper (documents, question, answer blocks); its exact instruction text is not
published in our facts, so ours is stated in :data:`INSTRUCTION`.

Demonstration sources (``demos``): ``train`` — a task that exposes a solved train corpus
(``task.corpus()``, e.g. GSM8K): demos are train problems, their documents are retrieved from the
same corpus (the demo itself excluded); ``file`` — a JSONL of ``{question, answer, documents?,
chain?}`` (documents ranked as given, else retrieved from the test sample's corpus; ``chain`` is
IterDRAG's decomposition, see lara.tasks.demos.parse_chain); ``task`` — LaRA-like:
other samples of the same task with the same ``context_type`` but different documents, their
documents retrieved from their own document set. ``auto`` picks train, then file, then task.
Demonstrations are a fixed seeded selection, so prompts of all samples share a prefix.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Sequence, cast

from lara.protocols import HasCorpus, HasRetrievalQuery, RunContext, supports
from lara.registry import runners
from lara.runners import budget as B
from lara.runners._steps import generate_step
from lara.runners.rag import RagRunner
from lara.types import Chunk, Message, RetrievedRef, RunOutput, Sample, ScoredChunk, Step

DEMO_SOURCES = ("auto", "train", "file", "task", "none")
INSTRUCTION = (
    "You are an expert in question answering. You are given example sets of documents, a question "
    "and its answer; the documents may or may not be relevant to the question. Then you are given "
    "documents and a question to answer. Answer concisely, in the style of the examples."
)
ANSWER_PREFIX = "Answer:"


@dataclass(frozen=True)
class Demo:
    """A demonstration with its own ranked documents (best first)."""

    id: str
    question: str
    answer: str
    docs: tuple[Chunk, ...]


@dataclass(frozen=True)
class DemoSource:
    """A selected demonstration before retrieval: what it is and where its documents come from."""

    id: str
    question: str
    answer: str
    corpus: Sample  # its retrieval searches corpus.documents
    query: str  # its retrieval query
    fixed_docs: tuple[Chunk, ...] | None = None  # a demo file's own documents, shown as given
    exclude_text: str | None = None  # a train demo is never retrieved as its own document
    origin: Any = None  # the task Sample, train Demo or demo-file chain it was built from


def doc_line(i: int, chunk: Chunk) -> str:
    return f"Document [{i}]: {chunk.text.strip()}"


def render_docs(ranked: Sequence[Chunk], start: int = 1) -> list[str]:
    """Reverse rank order (best last, next to the question), numbered in display order."""
    return [doc_line(start + i, c) for i, c in enumerate(reversed(list(ranked)))]


def qa_block(question: str, answer: str | None, answer_prefix: str = ANSWER_PREFIX) -> str:
    tail = answer_prefix if answer is None else f"{answer_prefix} {answer}"
    return f"Question: {question}\n{tail}"


def render_example(docs: Sequence[Chunk], question: str, answer: str | None,
                   answer_prefix: str = ANSWER_PREFIX) -> str:
    return "\n".join([*render_docs(docs), qa_block(question, answer, answer_prefix)])


def to_refs(hits: Sequence[ScoredChunk]) -> tuple[RetrievedRef, ...]:
    return tuple(RetrievedRef(h.chunk.id, round(float(h.score), 6), h.rank) for h in hits)


def _shuffled(n: int, seed: int) -> list[int]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


class DragBase:
    """Retrieval, demonstrations and prompt pieces shared by DRAG and IterDRAG."""

    instruction = INSTRUCTION
    answer_prefix = ANSWER_PREFIX

    def __init__(self, k: int = 5, m: int = 0, retriever: str = "bm25",
                 retriever_params: dict[str, Any] | None = None, chunk_size: int = 600,
                 chunk_overlap: int = 100, tokenizer: str = "cl100k", demos: str = "auto",
                 demo_file: str | None = None, seed: int = 0, budget: int | str | None = None,
                 over_budget: str = "skip") -> None:
        if k < 0 or m < 0:
            raise ValueError(f"k and m must be >= 0, got k={k}, m={m}")
        if demos not in DEMO_SOURCES:
            raise ValueError(f"unknown demos source {demos!r}; valid: {', '.join(DEMO_SOURCES)}")
        if demos == "file" and not demo_file:
            raise ValueError("demos='file' needs demo_file=<path to JSONL>")
        self.k, self.m, self.seed = int(k), int(m), int(seed)
        self.demo_source, self.demo_file = demos, demo_file
        self.budget = B.parse_budget(budget)
        self.over_budget = B.check_policy(over_budget)
        self.tokenizer_name = tokenizer
        self.rag = RagRunner(retriever, retriever_params, chunk_size, chunk_overlap, k=1,
                             order="reverse", tokenizer=tokenizer)

    # -- plumbing ---------------------------------------------------------------------------
    def tokenizer(self) -> Any:
        from lara.tokens import get_tokenizer

        return get_tokenizer(self.tokenizer_name)

    async def search(self, ctx: RunContext, sample: Sample, query: str, k: int) -> list[ScoredChunk]:
        """Top-k chunks of ``sample``'s documents (index built once per document set per run)."""
        if k <= 0 or not sample.documents:
            return []
        retriever, _, _ = await self.rag._index(self.rag._state(ctx), ctx, sample)
        return list(retriever.search(query, k))

    def query(self, ctx: RunContext, sample: Sample) -> str:
        return ctx.task.retrieval_query(sample) if supports(ctx.task, HasRetrievalQuery) else sample.question

    def source(self, task: Any) -> str:
        if self.demo_source != "auto":
            return self.demo_source
        if supports(task, HasCorpus):
            return "train"
        return "file" if self.demo_file else "task"

    # -- demonstrations ---------------------------------------------------------------------
    def _pool(self, ctx: RunContext, kind: str) -> list[Any]:
        """The seeded demonstration pool of a run, built once and kept in ctx.services."""
        key = f"drag-demos:{kind}:{self.seed}:{self.demo_file}"
        if key not in ctx.services:
            if kind == "train":
                demos = cast(HasCorpus, ctx.task).corpus().demos
                pool: list[Any] = [demos[i] for i in _shuffled(len(demos), self.seed)]
            elif kind == "file":
                from lara.tasks.demos import parse_chain, read_jsonl, require

                pool = []
                for lineno, obj in read_jsonl(self.demo_file):  # type: ignore[arg-type]
                    where = f"{self.demo_file}:{lineno}"
                    docs = obj.get("documents") or []
                    if not isinstance(docs, list):
                        raise ValueError(f"{where}: 'documents' must be a list of strings")
                    pool.append((f"file-{lineno}", str(require(obj, "question", where)),
                                 str(require(obj, "answer", where)), [str(d) for d in docs], parse_chain(obj, where)))
            else:
                items = [s for s in ctx.task.samples() if s.references]
                pool = [items[i] for i in _shuffled(len(items), self.seed)]
            ctx.services[key] = pool
        return ctx.services[key]

    def demo_sources(self, ctx: RunContext, sample: Sample, m: int) -> list[DemoSource]:
        """The m demonstrations of ``sample`` (a fixed seeded selection), before any retrieval."""
        if m <= 0:
            return []
        kind = self.source(ctx.task)
        if kind == "none":
            raise ValueError("m > 0 but demos='none'")
        out: list[DemoSource] = []
        if kind == "train":
            for d in self._pool(ctx, kind):
                if len(out) >= m:
                    break
                if d.question.strip() == sample.question.strip():
                    continue
                out.append(DemoSource(d.id, d.question, d.answer, sample, d.question, exclude_text=d.text, origin=d))
        elif kind == "file":
            for did, q, a, docs, chain in self._pool(ctx, kind)[:m]:
                fixed = tuple(Chunk(f"{did}:{i}", did, i, t, 0, len(t)) for i, t in enumerate(docs)) if docs else None
                out.append(DemoSource(did, q, a, sample, q, fixed_docs=fixed, origin=chain))
        else:
            ctype = sample.metadata.get("context_type")
            mine = tuple(d.id for d in sample.documents)
            for s in self._pool(ctx, kind):
                if len(out) >= m:
                    break
                if s.metadata.get("context_type") != ctype or tuple(d.id for d in s.documents) == mine:
                    continue
                out.append(DemoSource(s.id, s.question, s.references[0], s, self.query(ctx, s), origin=s))
        return out

    async def demo_hits(self, ctx: RunContext, src: DemoSource, query: str, k: int) -> tuple[Chunk, ...]:
        """Top-k chunks for a demonstration's ``query`` from its own corpus (the demonstration
        itself excluded); the same demonstrations serve every test sample, so this is kept."""
        if src.fixed_docs is not None:
            return src.fixed_docs[:k] if query == src.query else ()
        key = ("drag-demo-docs", tuple(d.id for d in src.corpus.documents), src.id, query, k)
        if key not in ctx.services:
            extra = 1 if src.exclude_text is not None else 0
            hits = await self.search(ctx, src.corpus, query, k + extra)
            ctx.services[key] = tuple([h.chunk for h in hits if h.chunk.text != src.exclude_text][:k])
        return ctx.services[key]

    async def demonstrations(self, ctx: RunContext, sample: Sample, m: int, k: int) -> list[Demo]:
        """m demonstrations for ``sample``, each with its top-k documents."""
        return [Demo(s.id, s.question, s.answer, await self.demo_hits(ctx, s, s.query, k))
                for s in self.demo_sources(ctx, sample, m)]

    # -- prompt -----------------------------------------------------------------------------
    def head(self, demos: Sequence[Demo], k: int) -> list[str]:
        return [self.instruction, *(render_example(d.docs[:k], d.question, d.answer, self.answer_prefix)
                                    for d in demos)]

    def pieces(self, tok: Any, demos: Sequence[Demo], test_docs: Sequence[Chunk], question: str) -> B.PromptPieces:
        """Additive token counts (see lara.runners.budget) of this sample's prompt pieces."""
        def docs(chunks: Sequence[Chunk]) -> tuple[int, ...]:
            return tuple(B.prefix_sums([tok.count(doc_line(1, c)) for c in chunks]))

        return B.PromptPieces(
            instruction=tok.count(self.instruction),
            question=tok.count(qa_block(question, None, self.answer_prefix)),
            test_docs=docs(test_docs),
            demo_docs=tuple(docs(d.docs) for d in demos),
            demo_qa=tuple(tok.count(qa_block(d.question, d.answer, self.answer_prefix)) for d in demos),
        )

    async def plan(self, ctx: RunContext, sample: Sample, k: int, m: int) -> tuple[list[ScoredChunk], list[Any], B.PromptPieces]:
        """Hits, demonstrations (a subclass's own kind) and the prompt pieces that price them."""
        hits = await self.search(ctx, sample, self.query(ctx, sample), k)
        demos = await self.demonstrations(ctx, sample, m, k)
        return hits, demos, self.pieces(self.tokenizer(), demos, [h.chunk for h in hits], sample.question)

    async def estimate_pieces(self, ctx: RunContext, sample: Sample, max_k: int, max_m: int) -> B.PromptPieces:
        """Prompt pieces for the largest k and m of a grid: smaller ones are prefixes of these."""
        return (await self.plan(ctx, sample, max_k, max_m))[2]

    def fit_k(self, pieces: B.PromptPieces, k: int, m: int) -> tuple[int, int]:
        """(k to use, estimated tokens) under the budget policy; raises SkipSample when it cannot fit."""
        est = pieces.single_call(k, m)
        if self.budget is None or est <= self.budget:
            return k, est
        if self.over_budget == "shrink_k":
            kk = B.largest_k_within(pieces, k, m, self.budget)
            if kk is not None:
                return kk, pieces.single_call(kk, m)
        raise B.over_budget(est, self.budget, self.over_budget)


@runners.register("drag")
class DragRunner(DragBase):
    """DRAG: m demonstrations with their own top-k documents, then the test's top-k; one call."""

    name = "drag"
    strategy = "iterative_rag"  # DRAG: the one-call end of inference-scaled RAG (Yue et al.)
    whole_documents = False
    cost_params = ("k", "m")

    async def run(self, sample: Sample, ctx: RunContext) -> RunOutput:
        t0 = time.perf_counter()
        hits, demos, pieces = await self.plan(ctx, sample, self.k, self.m)
        retrieve_s = time.perf_counter() - t0
        k, _ = self.fit_k(pieces, self.k, self.m)
        tok = self.tokenizer()
        while True:  # the estimate is additive; the exact count of the joined prompt decides
            test = render_example([h.chunk for h in hits[:k]], sample.question, None, self.answer_prefix)
            messages = [Message("user", "\n\n".join([*self.head(demos, k), test]))]
            exact = B.message_tokens(tok, messages)
            if self.budget is None or exact <= self.budget:
                break
            if self.over_budget != "shrink_k" or k == 0:
                raise B.over_budget(exact, self.budget, self.over_budget)
            k -= 1
        step = await generate_step(ctx, messages)
        extra: dict[str, Any] = {
            "k": min(k, len(hits)), "m": len(demos), "n": 1, "estimated_tokens": exact,
            "budget": self.budget, "demo_source": self.source(ctx.task) if self.m else None,
            "demo_ids": [d.id for d in demos],
        }
        if k < self.k and k < len(hits):
            extra["k_requested"] = self.k  # shrunk by the shrink_k budget policy
        elif len(hits) < self.k:
            extra["k_available"] = len(hits)
        retrieve = Step(kind="retrieve", query=self.query(ctx, sample), retrieved=to_refs(hits[:k]),
                        latency_s=round(retrieve_s, 4))
        return RunOutput(answer=step.output, steps=(retrieve, step),
                         effective_context_tokens=step.input_tokens, extra=extra)
