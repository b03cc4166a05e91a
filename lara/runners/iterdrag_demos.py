"""IterDRAG demonstrations in the paper's format: each one an interleaved Self-Ask chain.

A demonstration shows its documents, its question, ``Follow up:`` / ``Intermediate answer:`` pairs
and ``So the final answer is: <reference answer>`` (Yue et al., ICLR 2025). Its documents are built
the way inference builds the test's: the question's top-k, then each sub-query's top-k (new chunks
only), all from the demonstration's own corpus, shown in reverse rank order.

Where the chain comes from (recorded per demonstration as ``chain_source``):

- ``file``: the demo file's ``chain`` field (sub-question, answer, optional documents);
- ``task``: the task's ``decomposition(sample)`` hook — real sub-question → answer chains from the
  data (the synthetic task's reasoning and comparison questions);
- ``generated``: otherwise (LaRA, GSM8K), generated once per run by the evaluated model with the
  same loop as inference (lara.runners.selfask): the first step is always a follow-up, every step
  is constrained (guided regex when the backend supports it, else stop sequences and parsing),
  temperature 0 and a fixed retrieval depth ``chain_k`` / at most ``chain_n`` follow-ups, so the
  chains do not depend on the configuration's k, m or n and a rerun hits the response cache.
  The final line is the reference answer, not the model's (the paper keeps gold answers).

Cost accounting (decision): the paper's effective context length counts the input tokens of the
calls that answer *one* example. A generated chain is built once and reused by every example, like
the paper's in-context examples built offline, so its calls are not added to any example's
``effective_context_tokens`` — that would charge a one-time cost to whichever sample happened to
run first. They are never hidden either: every record lists, per demonstration, the calls and
input/output tokens its generation took (``extra.demo_chains[*].generation``) and their sum
(``extra.demo_chain_generation``); the demonstrations' text itself is in every call's prompt and
so in every example's effective length. Without a backend (pricing a sweep grid) a chain that
would be generated is ``pending`` and priced as ``PENDING_STEPS`` steps.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from lara.protocols import HasDecomposition, RunContext, supports
from lara.runners import budget as B
from lara.runners import selfask
from lara.runners.drag import DemoSource, doc_line
from lara.runners.selfask import ChainStep
from lara.types import Chunk, ScoredChunk

CHAIN_SOURCES = ("file", "task", "generated", "pending")
PENDING_STEPS = 2  # pricing assumption for a chain not generated yet (two-hop questions)


@dataclass(frozen=True)
class ChainDemo:
    """A demonstration with its chain; ``ranked[0]`` are its question's documents, ``ranked[i]``
    those of sub-query i (best first, up to the k they were retrieved with)."""

    id: str
    question: str
    answer: str
    chain: tuple[ChainStep, ...]
    ranked: tuple[tuple[Chunk, ...], ...]
    chain_source: str
    generation: Mapping[str, Any] = field(default_factory=dict)

    def docs(self, k: int) -> list[Chunk]:
        """Documents shown with k per query: question's top-k, then each sub-query's new ones."""
        out, seen = [], set()
        for lst in self.ranked:
            for c in lst[:k]:
                if c.id not in seen:
                    seen.add(c.id)
                    out.append(c)
        return out

    def block(self, k: int) -> str:
        return selfask.example(self.docs(k), self.question, self.chain, self.answer)

    def record(self, k: int) -> dict[str, Any]:
        """How this demonstration was built, for the sample's record."""
        steps = [{"sub_query": s.sub_query,
                  "retrieved": [c.id for c in (self.ranked[i + 1] if i + 1 < len(self.ranked) else ())[:k]],
                  "intermediate": s.answer} for i, s in enumerate(self.chain)]
        out: dict[str, Any] = {"id": self.id, "chain_source": self.chain_source, "steps": steps}
        if self.generation:
            out["generation"] = dict(self.generation)
        return out

    def doc_tokens(self, count: Any, max_k: int) -> tuple[int, ...]:
        """Tokens of the document lines shown for every k in 0..max_k (index = k)."""
        out, seen, total = [0], set(), 0
        for kk in range(max_k):
            for lst in self.ranked:
                if kk < len(lst) and lst[kk].id not in seen:
                    seen.add(lst[kk].id)
                    total += count(doc_line(1, lst[kk]))
            out.append(total)
        if self.chain_source == "pending":  # each sub-query adds about as much as the question's docs
            base = [0, *(sum(count(doc_line(1, c)) for c in self.ranked[0][:kk]) for kk in range(1, max_k + 1))]
            out = [t + PENDING_STEPS * b for t, b in zip(out, base)]
        return tuple(out)


def chain_usage(demos: Sequence[ChainDemo]) -> dict[str, int]:
    """Calls and tokens spent generating the chains of ``demos`` (one-time, see module doc)."""
    total = {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cached": 0}
    for d in demos:
        for key in total:
            total[key] += int(d.generation.get(key, 0))
    return total


async def build(runner: Any, ctx: RunContext, src: DemoSource, k: int) -> ChainDemo:
    """The demonstration ``src`` as a chain with its documents for depth k."""
    kind = runner.source(ctx.task)
    file_docs: list[tuple[str, ...]] = []
    generation: dict[str, Any] = {}
    hook = ctx.task.decomposition if supports(ctx.task, HasDecomposition) else None
    if kind == "file" and src.origin is not None:
        chain = tuple(ChainStep(q, a) for q, a, _ in src.origin)
        file_docs = [d for _, _, d in src.origin]
        source = "file"
    elif kind == "task" and hook is not None and (pairs := hook(src.origin)):
        chain, source = tuple(ChainStep(str(q), str(a)) for q, a in pairs), "task"
    elif ctx.backend is None:
        chain, source = (), "pending"
    else:
        chain, generation = await generated_chain(runner, ctx, src)
        source = "generated"
    ranked = [await runner.demo_hits(ctx, src, src.query, k)]
    for i, step in enumerate(chain):
        if i < len(file_docs) and file_docs[i]:
            ranked.append(tuple(Chunk(f"{src.id}:f{i}:{j}", src.id, j, t, 0, len(t))
                                for j, t in enumerate(file_docs[i][:k])))
        else:
            ranked.append(await runner.demo_hits(ctx, src, step.sub_query, k))
    return ChainDemo(src.id, src.question, src.answer, chain, tuple(ranked), source, generation)


async def generated_chain(runner: Any, ctx: RunContext, src: DemoSource) -> tuple[tuple[ChainStep, ...], dict[str, Any]]:
    """Generate (once per run and demonstration; concurrent samples share the work) the chain."""
    memo = ctx.services.setdefault("iterdrag-chains", {})
    key = (src.id, tuple(d.id for d in src.corpus.documents), runner.chain_k, runner.chain_n)
    task = memo.get(key)
    if task is None:
        task = memo[key] = asyncio.ensure_future(_generate(runner, ctx, src))
    try:
        return await asyncio.shield(task)
    except Exception:
        if memo.get(key) is task:
            memo.pop(key, None)  # a failed generation is retried by the next sample
        raise


async def _generate(runner: Any, ctx: RunContext, src: DemoSource) -> tuple[tuple[ChainStep, ...], dict[str, Any]]:
    tok = runner.tokenizer()
    p = selfask.prompts()

    async def search(query: str) -> list[ScoredChunk]:
        return [ScoredChunk(c, 0.0, i) for i, c in enumerate(await runner.demo_hits(ctx, src, query, runner.chain_k))]

    docs = await runner.demo_hits(ctx, src, src.query, runner.chain_k)
    loop = await selfask.run_loop(
        ctx, head=[p.instruction], docs=docs, question=src.question, n=runner.chain_n, search=search,
        tokens=lambda msgs: B.message_tokens(tok, msgs),
        config=replace(ctx.generate_config, temperature=0.0), first_follow_up=True)
    calls = [s for s in loop.steps if s.kind != "retrieve"]
    usage = {"calls": len(calls), "input_tokens": sum(s.input_tokens for s in calls),
             "output_tokens": sum(s.output_tokens for s in calls), "cached": sum(1 for s in calls if s.cached),
             "malformed": loop.malformed, "model_final": loop.answer}
    return tuple(loop.chain), usage
