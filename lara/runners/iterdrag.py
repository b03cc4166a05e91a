"""IterDRAG (Yue et al., ICLR 2025): interleaved Self-Ask demonstrations plus a follow-up loop.

Every demonstration is a chain in the paper's format — its documents, ``Question:``, ``Follow up:``
/ ``Intermediate answer:`` pairs, ``So the final answer is:`` (lara.runners.iterdrag_demos says
where chains come from and how their one-time cost is accounted). Inference continues the same
format (lara.runners.selfask): the model writes ``Follow up: <sub-query>`` or ``So the final answer
is: <answer>``; on a follow-up, documents are retrieved for the sub-query and the new ones (dedup
by chunk id) join the test documents; the model then writes ``Intermediate answer: <answer>``.
After at most n follow-ups the final answer is forced. Every call re-reads the whole prompt, so the
effective context length is the sum of all calls' input tokens.

Recorded per step: the follow-up and intermediate calls carry the sub-query in ``Step.query``; a
``retrieve`` step carries the sub-query and the retrieved chunk ids; ``extra.iterations`` lists
sub-query, retrieved and new chunk ids and the intermediate answer per iteration.

Budget: the first call must fit (else the ``over_budget`` policy applies); before each further
iteration the runner checks that the iteration plus a forced final answer still fit, and otherwise
answers now (``extra.budget_stop``), so a run never exceeds its per-example budget by design.
"""

from __future__ import annotations

from typing import Any, Sequence

from lara.protocols import RunContext
from lara.registry import runners
from lara.runners import budget as B
from lara.runners import selfask
from lara.runners.drag import DragBase, doc_line, to_refs
from lara.runners.iterdrag_demos import PENDING_STEPS, ChainDemo, build, chain_usage
from lara.runners.selfask import parse_action, parse_prefixed
from lara.types import Chunk, RunOutput, Sample, Step


@runners.register("iterdrag")
class IterDragRunner(DragBase):
    """IterDRAG: Self-Ask chain demonstrations + follow-ups with retrieval, at most n iterations."""

    name = "iterdrag"
    strategy = "iterative_rag"
    whole_documents = False
    cost_params = ("k", "m", "n")

    def __init__(self, n: int = 5, output_tokens_estimate: int = 32, chain_k: int = 5, chain_n: int = 5,
                 **kwargs: Any) -> None:
        if n < 0 or chain_k < 0 or chain_n < 1:
            raise ValueError(f"need n >= 0, chain_k >= 0, chain_n >= 1; got n={n}, chain_k={chain_k}, chain_n={chain_n}")
        super().__init__(**kwargs)
        self.n, self.chain_k, self.chain_n = int(n), int(chain_k), int(chain_n)
        self.output_tokens_estimate = int(output_tokens_estimate)

    @property
    def instruction(self) -> str:  # type: ignore[override]
        return selfask.prompts().instruction

    @property
    def answer_prefix(self) -> str:  # type: ignore[override]
        return selfask.prompts().final

    # -- demonstrations and prompt pieces (DragBase hooks) -----------------------------------
    async def demonstrations(self, ctx: RunContext, sample: Sample, m: int, k: int) -> list[ChainDemo]:  # type: ignore[override]
        return [await build(self, ctx, src, k) for src in self.demo_sources(ctx, sample, m)]

    def head(self, demos: Sequence[ChainDemo], k: int) -> list[str]:  # type: ignore[override]
        return [self.instruction, *(d.block(k) for d in demos)]

    def pieces(self, tok: Any, demos: Sequence[ChainDemo], test_docs: Sequence[Chunk], question: str) -> B.PromptPieces:  # type: ignore[override]
        """Additive token counts; with the words tokenizer ``single_call`` equals the exact count
        of the first call's prompt with the forced-answer action."""
        p = selfask.prompts()
        step_labels = tok.count(p.follow_up) + tok.count(p.intermediate)
        demo_docs, demo_qa = [], []
        for d in demos:
            demo_docs.append(d.doc_tokens(tok.count, max((len(x) for x in d.ranked), default=0)))
            qa = tok.count(selfask.chain_text(d.question, d.chain, d.answer))
            if d.chain_source == "pending":
                qa += PENDING_STEPS * (2 * self.output_tokens_estimate + step_labels)
            demo_qa.append(qa)
        return B.PromptPieces(
            instruction=tok.count(p.instruction),
            question=tok.count(f"{p.question} {question}") + tok.count(p.force),
            test_docs=tuple(B.prefix_sums([tok.count(doc_line(1, c)) for c in test_docs])),
            demo_docs=tuple(demo_docs), demo_qa=tuple(demo_qa))

    # -- inference ---------------------------------------------------------------------------
    async def run(self, sample: Sample, ctx: RunContext) -> RunOutput:
        tok = self.tokenizer()
        p = selfask.prompts()
        hits, demos, pieces = await self.plan(ctx, sample, self.k, self.m)
        k, _ = self.fit_k(pieces, self.k, self.m)
        head = self.head(demos, k)
        docs = [h.chunk for h in hits[:k]]
        retrieve = Step(kind="retrieve", query=self.query(ctx, sample), retrieved=to_refs(hits[:k]))
        max_out = ctx.generate_config.max_tokens

        def tokens(msgs: list[Any]) -> int:
            return B.message_tokens(tok, msgs)

        first = tokens(selfask.messages(head, docs, sample.question, [], p.force))
        if self.budget is not None and first > self.budget:
            raise B.over_budget(first, self.budget, self.over_budget)

        def fits(loop: selfask.Loop, prompt: int) -> bool:
            """This call, the intermediate call (+k new docs, +output) and a forced final answer."""
            if self.budget is None:
                return True
            grow = max_out + (sum(tok.count(c.text) + 4 for c in loop.docs[-k:]) if k else 0)
            return loop.spent + prompt + (prompt + grow + max_out) + (prompt + grow + 2 * max_out) <= self.budget

        async def search(query: str) -> list[Any]:
            return await self.search(ctx, sample, query, k)

        loop = await selfask.run_loop(ctx, head=head, docs=docs, question=sample.question, n=self.n,
                                      search=search, tokens=tokens, fits=fits)
        forced = loop.answer is None
        if forced:
            await selfask.force_final(ctx, loop, head, sample.question, tokens)
        steps = (retrieve, *loop.steps)
        extra: dict[str, Any] = {
            "k": min(k, len(hits)), "m": len(demos), "n": self.n, "iterations": loop.iterations,
            "n_iterations": len(loop.iterations), "forced_final": forced, "malformed_steps": loop.malformed,
            "budget": self.budget, "budget_stop": loop.budget_stop, "estimated_tokens": loop.spent,
            "documents_shown": len(loop.docs), "demo_ids": [d.id for d in demos],
            "demo_source": self.source(ctx.task) if demos else None,
            "demo_chains": [d.record(k) for d in demos],
            "demo_chain_generation": chain_usage(demos),  # one-time; not in effective_context_tokens
            "guided": bool(getattr(ctx.backend, "supports_guided", False)),
        }
        if k < self.k and k < len(hits):
            extra["k_requested"] = self.k
        return RunOutput(answer=loop.answer, steps=steps,
                         effective_context_tokens=sum(s.input_tokens for s in steps if s.kind != "retrieve"),
                         extra=extra)


__all__ = ["IterDragRunner", "parse_action", "parse_prefixed"]
