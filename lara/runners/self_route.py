"""Self-Route: answer from retrieved chunks with the option to decline; only declined questions
go to long context (Li et al. 2024, "Retrieval Augmented Generation or Long-Context LLMs?",
arXiv 2407.16833).

The RAG step is the registered ``rag`` runner on a task view whose user message ends with the
paper's instruction sentence; the LC step is the registered ``long_context`` runner on the
unchanged task. The record's ``extra.path`` says which step answered; both steps' calls are kept
and ``effective_context_tokens`` sums them (both are inputs before the final answer).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from lara.protocols import ContextBlock, RunContext
from lara.registry import runners
from lara.types import Message, RunOutput, Sample

# Self-Route paper's wording (arXiv 2407.16833), appended to the RAG user message.
UNANSWERABLE_INSTRUCTION = "Write 'unanswerable' if the query can not be answered based on the provided text."


def declined(answer: str | None) -> bool:
    """The RAG step declined when its answer says 'unanswerable' (case-insensitive substring, as a
    model often wraps the word in a sentence)."""
    return answer is None or "unanswerable" in answer.lower()


class _DeclinableTask:
    """The task with the Self-Route instruction appended to the last user message; every other
    attribute (chunk, retrieval_query, fit_context, name...) is the wrapped task's."""

    def __init__(self, task: Any, instruction: str) -> None:
        self._task = task
        self._instruction = instruction

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)

    def messages(self, sample: Sample, context: ContextBlock) -> list[Message]:
        msgs = list(self._task.messages(sample, context))
        for i in range(len(msgs) - 1, -1, -1):
            if msgs[i].role == "user":
                msgs[i] = Message("user", f"{msgs[i].content.rstrip()}\n\n{self._instruction}")
                break
        return msgs


@runners.register("self_route", aliases=("self-route",))
class SelfRouteRunner:
    """Self-Route: RAG allowed to answer 'unanswerable', declined questions re-asked with long context."""

    name = "self_route"
    strategy = "self_route"
    whole_documents = True  # declined questions go to LC: warm the documents' prefixes
    cost_params = ("k",)
    RAG_KEYS = ("retriever", "retriever_params", "k", "chunk_size", "chunk_overlap", "order", "tokenizer")
    LC_KEYS = ("truncation", "max_context_tokens", "tokenizer")
    EXTRA_PARAMS = {"retriever": str, "retriever_params": dict, "k": int, "chunk_size": int, "chunk_overlap": int,
                    "order": str, "tokenizer": str, "truncation": str, "max_context_tokens": int}

    def __init__(self, instruction: str = UNANSWERABLE_INSTRUCTION, **params: Any) -> None:
        unknown = set(params) - set(self.RAG_KEYS) - set(self.LC_KEYS)
        if unknown:
            valid = ", ".join(sorted({"instruction", *self.RAG_KEYS, *self.LC_KEYS}))
            raise TypeError(f"self_route: unknown params {sorted(unknown)}; valid: {valid}")
        if not instruction.strip():
            raise ValueError("self_route: instruction must not be empty")
        self.instruction = instruction
        self.rag = self._make_runner("rag", {k: v for k, v in params.items() if k in self.RAG_KEYS})
        self.lc = self._make_runner("long_context", {k: v for k, v in params.items() if k in self.LC_KEYS})

    def _make_runner(self, name: str, params: Mapping[str, Any]) -> Any:
        return runners.get(name)(**params)

    async def run(self, sample: Sample, ctx: RunContext) -> RunOutput:
        rag_ctx = dataclasses.replace(ctx, task=_DeclinableTask(ctx.task, self.instruction))
        rag = await self.rag.run(sample, rag_ctx)
        rag_tokens = rag.effective_context_tokens
        extra: dict[str, Any] = {"rag_answer": rag.answer, "rag_tokens": rag_tokens, "rag_extra": dict(rag.extra)}
        if rag.skipped is None and not declined(rag.answer):
            return RunOutput(answer=rag.answer, steps=rag.steps, effective_context_tokens=rag_tokens,
                             extra={**extra, "path": "rag", "lc_tokens": 0})
        lc = await self.lc.run(sample, ctx)
        return RunOutput(
            answer=lc.answer,
            steps=tuple(rag.steps) + tuple(lc.steps),
            effective_context_tokens=rag_tokens + lc.effective_context_tokens,
            truncation=lc.truncation,
            skipped=lc.skipped,
            extra={**extra, "path": "long_context", "lc_tokens": lc.effective_context_tokens},
        )
