"""Pairwise judging that always asks both orders.

Why both orders: LLM judges prefer a position (PandaLM, MT-Bench). The second call shows the
responses swapped; its label is mapped back (1↔2, tie stays). If the two orders disagree the pair
is a Tie and counts as a conflict. If either call is unparsed or failed, the pair carries that
status (error wins over unparsed) and no label: a half-verdict is never reported as a verdict.
Labels: 1 = first response better, 2 = second better, 0 = tie.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from lara.scoring.judge import Judge, JudgeReply
from lara.scoring.judge_parse import parse_ab, parse_pandalm
from lara.scoring.judge_prompts import MTBENCH_PAIR, MTBENCH_PAIR_REF, pandalm_messages

FORMATS = ("pandalm", "mtbench")


@dataclass(frozen=True)
class OrderResult:
    status: str  # ok | unparsed | error
    label: int | None  # in the ORIGINAL order (already mapped back for the swapped call)
    raw: str | None
    prompt_id: str
    error: str | None = None


@dataclass(frozen=True)
class PairVerdict:
    status: str
    label: int | None
    conflict: bool
    forward: OrderResult
    backward: OrderResult

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "label": self.label, "conflict": self.conflict,
                "forward": vars(self.forward), "backward": vars(self.backward)}


def swap_label(label: int | None) -> int | None:
    """Map a verdict on the swapped pair back to the original order."""
    return {1: 2, 2: 1, 0: 0}.get(label) if label is not None else None


def combine(forward: OrderResult, backward: OrderResult) -> PairVerdict:
    """Both labels are in original order. Disagreement → Tie (0) with ``conflict=True``."""
    for bad in ("error", "unparsed"):
        if bad in (forward.status, backward.status):
            return PairVerdict(bad, None, False, forward, backward)
    if forward.label == backward.label:
        return PairVerdict("ok", forward.label, False, forward, backward)
    return PairVerdict("ok", 0, True, forward, backward)


def conflict_rate(verdicts: Sequence[PairVerdict]) -> float | None:
    """Share of pairs judged in both orders (status ok) whose two orders disagreed."""
    ok = [v for v in verdicts if v.status == "ok"]
    return sum(v.conflict for v in ok) / len(ok) if ok else None


def _order_result(reply: JudgeReply, fmt: str, swapped: bool) -> OrderResult:
    if reply.text is None:
        return OrderResult("error", None, None, reply.prompt.id, reply.error)
    label = parse_pandalm(reply.text).label if fmt == "pandalm" else parse_ab(reply.text)
    if label is None:
        return OrderResult("unparsed", None, reply.text, reply.prompt.id)
    return OrderResult("ok", swap_label(label) if swapped else label, reply.text, reply.prompt.id)


async def _ask(judge: Judge, fmt: str, instruction: str, input: str | None, a: str, b: str,
               reference: str | None, max_tokens: int) -> JudgeReply:
    if fmt == "pandalm":
        prompt, msgs = pandalm_messages(instruction, input, a, b)
        return await judge.ask(prompt, msgs, max_tokens=max_tokens)
    question = f"{instruction}\n\n{input}" if input else instruction
    if reference:
        return await judge.ask(MTBENCH_PAIR_REF, max_tokens=max_tokens, question=question,
                               ref_answer_1=reference, answer_a=a, answer_b=b)
    return await judge.ask(MTBENCH_PAIR, max_tokens=max_tokens, question=question, answer_a=a, answer_b=b)


async def judge_pair(judge: Judge, instruction: str, response1: str, response2: str, *,
                     input: str | None = None, reference: str | None = None,
                     fmt: str = "pandalm", max_tokens: int = 512) -> PairVerdict:
    """Judge (response1, response2) and (response2, response1); return the combined verdict."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown pairwise format {fmt!r}; valid: {', '.join(FORMATS)}")
    import asyncio

    fwd, bwd = await asyncio.gather(
        _ask(judge, fmt, instruction, input, response1, response2, reference, max_tokens),
        _ask(judge, fmt, instruction, input, response2, response1, reference, max_tokens),
    )
    return combine(_order_result(fwd, fmt, False), _order_result(bwd, fmt, True))
