"""Deterministic scorers for tasks with exact references (the synthetic task, short-answer QA).

``synthetic_exact``: the normalised reference must appear as a whole phrase in the normalised
answer; for comparison, when both candidates are named the right one must come first with no
negation ("X is taller than Y"); for
hallucination questions the answer must be a refusal and must not invent a code or number.
"""

from __future__ import annotations

import re
import string

from lara.registry import scorers
from lara.types import RunOutput, Sample, Score
from lara.vocabulary import category

REFUSAL_RE = re.compile(
    r"\b(not (mentioned|stated|specified|given|provided|found|included|available|present|listed|contain)"
    r"|no (information|mention|data|details|answer)|does(n't| not) (say|mention|contain|provide|specify|state)"
    r"|(cannot|can't|can not|unable to) (be )?(find|determine|answer|found|determined|answered|tell)"
    r"|unknown|unanswerable|not possible to (determine|answer)|doesn't appear|does not appear)\b",
    re.I,
)
_PUNCT = str.maketrans({c: " " for c in string.punctuation})


def normalize(text: str) -> str:
    text = text.lower().translate(_PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_phrase(answer: str, phrase: str) -> bool:
    a, p = f" {normalize(answer)} ", f" {normalize(phrase)} "
    return p.strip() != "" and p in a


def is_refusal(answer: str) -> bool:
    return bool(REFUSAL_RE.search(answer))


@scorers.register("synthetic_exact")
class SyntheticExactScorer:
    """Normalised phrase match; refusal detection for hallucination questions."""

    name = "synthetic_exact"

    async def score(self, sample: Sample, output: RunOutput) -> Score:
        answer = output.answer
        if answer is None:
            return Score(self.name, None, "error", "no answer was produced", self.name)
        if category(sample.metadata.get("category")) == "hallucination":
            refused = is_refusal(answer)
            invented = bool(re.search(r"\b\d{4}\b", answer)) and not refused
            ok = refused and not invented
            why = "refusal detected" if ok else "expected a refusal"
            return Score(self.name, float(ok), "ok", why, self.name, {"refusal": refused})
        hit = any(contains_phrase(answer, ref) for ref in sample.references)
        distractor = sample.metadata.get("distractor")
        if hit and distractor and contains_phrase(answer, distractor):
            # "X is taller than Y" names both: the claimed winner is the one named first, and a
            # negation ("X is not taller") flips nothing we can trust, so it counts as wrong.
            norm = f" {normalize(answer)} "
            first_ref = min(norm.find(f" {normalize(r)} ") for r in sample.references if contains_phrase(answer, r))
            ok = first_ref < norm.find(f" {normalize(distractor)} ") and " not " not in norm
            why = "names the right candidate first" if ok else "names the distractor first or negates"
            return Score(self.name, float(ok), "ok", why, self.name)
        return Score(self.name, float(hit), "ok", "reference found" if hit else "reference not found", self.name)
