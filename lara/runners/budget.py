"""Effective context length (Yue et al., ICLR 2025) and the per-example budget policy.

Effective context length = the input tokens of every model call up to and including the final
answer (outputs and retrieval excluded). A configuration must satisfy the budget for *every*
sample; what happens to a sample that does not fit is an explicit policy, never silent truncation:
``skip`` (the sample is recorded as skipped and counted) or ``shrink_k`` (fewer retrieved documents
until it fits, recorded in ``extra``).

The estimators here are additive over prompt pieces (instruction, one line per document, one
question/answer block per demonstration) so a sweep can price a whole (k, m, n) grid per sample from
one retrieval of the largest k, before any model is called. With the ``words`` tokenizer the sums
are exact; with a BPE tokenizer they differ from the count of the joined prompt only at the joins.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Sequence

from lara.tokens import SkipSample
from lara.types import Message, TruncationReport

OVER_BUDGET_POLICIES = ("skip", "shrink_k")


def parse_budget(value: int | str | None) -> int | None:
    """'32k' -> 32000; None/0/'none' -> no budget."""
    if value in (None, 0, "", "none", "None"):
        return None
    from lara.config import parse_tokens

    n = parse_tokens(value if isinstance(value, (int, str)) else str(value))
    if n <= 0:
        raise ValueError(f"budget must be positive, got {value!r}")
    return n


def check_policy(policy: str) -> str:
    if policy not in OVER_BUDGET_POLICIES:
        raise ValueError(f"unknown over_budget policy {policy!r}; valid: {', '.join(OVER_BUDGET_POLICIES)}")
    return policy


def message_tokens(tokenizer: Any, messages: Sequence[Message]) -> int:
    """Content tokens of a prompt (no chat-template overhead: that is what the budget is about)."""
    return sum(tokenizer.count(m.content) for m in messages)


def over_budget(tokens: int, budget: int, policy: str) -> SkipSample:
    """The exception the engine records as a skipped sample (counted, out of denominators)."""
    return SkipSample(TruncationReport(f"budget_{policy}", tokens, budget, tokens - budget))


def prefix_sums(counts: Sequence[int]) -> list[int]:
    """[0, c0, c0+c1, ...]: tokens of the top-k documents for every k at once."""
    return [0, *accumulate(counts)]


def at(prefix: Sequence[int], k: int) -> int:
    """Tokens of the top-k documents; k beyond the available documents saturates."""
    return prefix[min(k, len(prefix) - 1)]


@dataclass(frozen=True)
class PromptPieces:
    """Token counts of the pieces of one sample's DRAG/IterDRAG prompt.

    ``test_docs``/``demo_docs[j]`` are prefix sums over the ranked document lines (best first);
    ``demo_qa[j]`` the question/answer block of demonstration j; ``question`` the test question
    block; ``instruction`` the fixed head.
    """

    instruction: int
    question: int
    test_docs: tuple[int, ...]
    demo_docs: tuple[tuple[int, ...], ...] = ()
    demo_qa: tuple[int, ...] = ()

    def single_call(self, k: int, m: int) -> int:
        """One DRAG call: instruction + m demos (each with its own top-k) + test top-k + question."""
        m = min(m, len(self.demo_qa))
        demos = sum(at(self.demo_docs[j], k) + self.demo_qa[j] for j in range(m))
        return self.instruction + demos + at(self.test_docs, k) + self.question

    def available(self) -> tuple[int, int]:
        """(documents available to the test, demonstrations available)."""
        return len(self.test_docs) - 1, len(self.demo_qa)


def iterdrag_tokens(first_call: int, new_docs: int, n: int, output_tokens: int, step_tokens: int) -> int:
    """Worst-case effective length of IterDRAG with at most n iterations.

    Iteration i (1..n) makes a follow-up call and an intermediate-answer call; each re-reads the
    prompt so far, which grows by the k new documents of the sub-query (``new_docs``, no dedup
    assumed) and by each call's output (``output_tokens``) plus its instruction (``step_tokens``).
    Then one final call. Fewer iterations (an early final answer) cost less.
    """
    total, prompt = 0, first_call
    for _ in range(n):
        total += prompt  # follow-up call
        prompt += new_docs + output_tokens
        total += prompt + step_tokens  # intermediate-answer call
        prompt += output_tokens
    return total + prompt + step_tokens  # final answer


def estimate(runner: str, pieces: PromptPieces, k: int, m: int, n: int = 1, *,
             output_tokens: int = 32, step_tokens: int = 24) -> int:
    """Estimated effective context length of one sample for a (runner, k, m, n) configuration: the
    registered runner class's own ``estimate_effective`` (so a new sweepable runner needs no edit
    here)."""
    from lara import registry

    cls = registry.runners.get(runner)
    est = getattr(cls, "estimate_effective", None)
    if not callable(est):
        raise ValueError(f"runner {runner!r} cannot price a (k, m, n) configuration (no estimate_effective)")
    return int(est(pieces, k, m, n, output_tokens=output_tokens, step_tokens=step_tokens))


def largest_k_within(pieces: PromptPieces, k: int, m: int, budget: int) -> int | None:
    """The largest k' <= k whose single call fits ``budget`` (shrink_k); None if not even k'=0."""
    for kk in range(min(k, pieces.available()[0]), -1, -1):
        if pieces.single_call(kk, m) <= budget:
            return kk
    return None
