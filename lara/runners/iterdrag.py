"""IterDRAG (Yue et al., ICLR 2025): DRAG's prompt plus a Self-Ask loop.

The model writes ``Follow up: <sub-query>`` or ``So the final answer is: <answer>``. On a
follow-up, documents are retrieved for the sub-query and the new ones (dedup by chunk id) are
appended to the test documents; the model then writes ``Intermediate answer: <answer>``. After at
most n follow-ups the final answer is forced. Every call re-reads the whole prompt, so the
effective context length is the sum of all calls' input tokens.

Format: with a backend that declares ``supports_guided`` each call carries a guided regex (vLLM's
guided decoding); otherwise stop sequences cut the output after one action and a tolerant parser
reads it. A step without the expected prefix is recorded with kind ``malformed`` and is not fatal:
a malformed action forces the final answer, a malformed intermediate answer is kept as text.

Budget: the first call must fit (else the ``over_budget`` policy applies); before each further
iteration the runner checks that the iteration plus a forced final answer still fit, and otherwise
answers now (``extra.budget_stop``), so a run never exceeds its per-example budget by design.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any

from lara.protocols import RunContext
from lara.registry import runners
from lara.runners import budget as B
from lara.runners._steps import generate_step
from lara.runners.drag import DragBase, render_docs, render_example, to_refs
from lara.types import Chunk, Message, RunOutput, Sample, Step

INSTRUCTION = (
    "You are an expert in question answering. Answer the question using the documents. If more "
    "information is needed, ask one follow-up question per line as 'Follow up: <question>'; it is "
    "answered as 'Intermediate answer: <answer>'. When you know the answer, write "
    "'So the final answer is: <answer>'. Examples of documents, questions and answers come first."
)
DECIDE = ("Continue with 'Follow up: <sub-question>' if more information is needed, otherwise "
          "write 'So the final answer is: <answer>'.")
INTERMEDIATE = "Answer the last follow-up question in one line, starting with 'Intermediate answer:'."
FORCE = "Now write the final answer in one line, starting with 'So the final answer is:'."
FINAL_PREFIX = "So the final answer is:"

DECIDE_REGEX = r"(Follow up: [^\n]{1,300}|So the final answer is: [^\n]{1,300})"
INTERMEDIATE_REGEX = r"Intermediate answer: [^\n]{1,300}"
FINAL_REGEX = r"So the final answer is: [^\n]{1,300}"
DECIDE_STOPS = ("\nIntermediate answer:", "\nFollow up:")
INTERMEDIATE_STOPS = ("\nFollow up:", "\nSo the final answer is:")

_FOLLOW = re.compile(r"follow[ -]?up\s*:\s*(.*)", re.I)
_FINAL = re.compile(r"so the final answer is\s*:?\s*(.*)", re.I)
_INTER = re.compile(r"intermediate answer\s*:\s*(.*)", re.I)


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


def parse_action(text: str) -> tuple[str, str]:
    """('follow_up'|'final'|'malformed', payload): the earliest well-formed action wins."""
    found = [(m.start(), kind, _first_line(m.group(1)))
             for kind, rx in (("follow_up", _FOLLOW), ("final", _FINAL)) if (m := rx.search(text))]
    found = [f for f in found if f[2]]
    if not found:
        return "malformed", text.strip()
    _, kind, payload = min(found)
    return kind, payload


def parse_prefixed(text: str, rx: re.Pattern[str]) -> tuple[bool, str]:
    """(well_formed, answer): tolerant — without the prefix the first line is the answer."""
    m = rx.search(text)
    if m and _first_line(m.group(1)):
        return True, _first_line(m.group(1))
    return False, _first_line(text)


@runners.register("iterdrag")
class IterDragRunner(DragBase):
    """IterDRAG: DRAG demonstrations + Self-Ask follow-ups with retrieval, at most n iterations."""

    name = "iterdrag"
    strategy = "iterative_rag"
    whole_documents = False
    cost_params = ("k", "m", "n")
    instruction = INSTRUCTION
    answer_prefix = FINAL_PREFIX

    def __init__(self, n: int = 5, output_tokens_estimate: int = 32, **kwargs: Any) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        super().__init__(**kwargs)
        self.n = int(n)
        self.output_tokens_estimate = int(output_tokens_estimate)

    def _config(self, ctx: RunContext, regex: str, stops: tuple[str, ...]) -> Any:
        if getattr(ctx.backend, "supports_guided", False):
            return replace(ctx.generate_config, guided_regex=regex)
        return replace(ctx.generate_config, stop=tuple(dict.fromkeys((*ctx.generate_config.stop, *stops))))

    def _messages(self, head: list[str], docs: list[Chunk], question: str, transcript: list[str], action: str) -> list[Message]:
        test = "\n".join([*render_docs(docs), f"Question: {question}", *transcript, action])
        return [Message("user", "\n\n".join([*head, test]))]

    async def run(self, sample: Sample, ctx: RunContext) -> RunOutput:
        tok = self.tokenizer()
        hits, demos, pieces = await self.plan(ctx, sample, self.k, self.m)
        k, _ = self.fit_k(pieces, self.k, self.m)
        head = self.head(demos, k)
        docs = [h.chunk for h in hits[:k]]
        shown = {c.id for c in docs}
        steps: list[Step] = [Step(kind="retrieve", query=self.query(ctx, sample), retrieved=to_refs(hits[:k]))]
        transcript: list[str] = []
        iterations: list[dict[str, Any]] = []
        spent, malformed, budget_stop = 0, 0, False
        max_out = ctx.generate_config.max_tokens
        answer: str | None = None

        def tokens(msgs: list[Message]) -> int:
            return B.message_tokens(tok, msgs)

        first = self._messages(head, docs, sample.question, transcript, FORCE)
        if self.budget is not None and tokens(first) > self.budget:
            raise B.over_budget(tokens(first), self.budget, self.over_budget)
        for _ in range(self.n):
            msgs = self._messages(head, docs, sample.question, transcript, DECIDE)
            p = tokens(msgs)
            if self.budget is not None:
                # this call, the intermediate call (+k new docs, +output) and a forced final answer
                grow = max_out + max(sum(tok.count(c.text) + 4 for c in docs[-k:]) if k else 0, 0)
                need = p + (p + grow + max_out) + (p + grow + 2 * max_out)
                if spent + need > self.budget:
                    budget_stop = True
                    break
            step = await generate_step(ctx, msgs, "follow_up", self._config(ctx, DECIDE_REGEX, DECIDE_STOPS))
            spent += p
            kind, payload = parse_action(step.output or "")
            if kind == "final":
                steps.append(replace(step, kind="final"))
                answer = payload
                break
            if kind == "malformed":
                malformed += 1
                steps.append(replace(step, kind="malformed"))
                break
            steps.append(step)
            t0 = time.perf_counter()
            sub = await self.search(ctx, sample, payload, k)
            new = [h.chunk for h in sub if h.chunk.id not in shown]
            shown.update(c.id for c in new)
            docs.extend(new)
            steps.append(Step(kind="retrieve", query=payload, retrieved=to_refs(sub),
                              latency_s=round(time.perf_counter() - t0, 4)))
            transcript.append(f"Follow up: {payload}")
            msgs = self._messages(head, docs, sample.question, transcript, INTERMEDIATE)
            step = await generate_step(ctx, msgs, "intermediate", self._config(ctx, INTERMEDIATE_REGEX, INTERMEDIATE_STOPS))
            spent += tokens(msgs)
            ok, inter = parse_prefixed(step.output or "", _INTER)
            if not ok:
                malformed += 1
            steps.append(step if ok else replace(step, kind="malformed"))
            transcript.append(f"Intermediate answer: {inter}")
            iterations.append({"sub_query": payload, "retrieved": [h.chunk.id for h in sub],
                               "new": [c.id for c in new], "intermediate": inter, "well_formed": ok})
        forced = answer is None
        if forced:
            msgs = self._messages(head, docs, sample.question, transcript, FORCE)
            step = await generate_step(ctx, msgs, "final_forced", self._config(ctx, FINAL_REGEX, ()))
            spent += tokens(msgs)
            ok, answer = parse_prefixed(step.output or "", _FINAL)
            if not ok:
                malformed += 1
            steps.append(step)
        calls = [s for s in steps if s.kind != "retrieve"]
        extra = {
            "k": min(k, len(hits)), "m": len(demos), "n": self.n, "iterations": iterations,
            "n_iterations": len(iterations), "forced_final": forced, "malformed_steps": malformed,
            "budget": self.budget, "budget_stop": budget_stop, "estimated_tokens": spent,
            "documents_shown": len(docs), "demo_ids": [d.id for d in demos],
            "guided": bool(getattr(ctx.backend, "supports_guided", False)),
        }
        if k < self.k and k < len(hits):
            extra["k_requested"] = self.k
        return RunOutput(answer=answer, steps=tuple(steps),
                         effective_context_tokens=sum(s.input_tokens for s in calls), extra=extra)


__all__ = ["IterDragRunner", "parse_action", "parse_prefixed", "render_example"]
