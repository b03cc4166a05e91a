"""GSM8K answer scoring: strict and flexible extraction, both recorded.

strict: ``The answer is N`` (the CoT prompt's ending) or ``#### N`` (the dataset's format), last
occurrence. flexible: the last number in the answer (lm-evaluation-harness style). ``mode`` picks
which one gives the value; references are the official ``#### N`` extraction done by the task.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from lara.registry import scorers
from lara.types import RunOutput, Sample, Score

STRICT_RE = re.compile(r"(?:[Tt]he (?:final )?answer is|####)\s*:?\s*\$?\s*(\-?[0-9][0-9\.\,]*)")
FLEXIBLE_RE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
MODES = ("strict", "flexible")


def clean_number(text: str) -> str | None:
    t = text.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        Decimal(t)
    except InvalidOperation:
        return None
    return t


def extract_strict(answer: str) -> str | None:
    found = STRICT_RE.findall(answer)
    return clean_number(found[-1]) if found else None


def extract_flexible(answer: str) -> str | None:
    for m in reversed(FLEXIBLE_RE.findall(answer)):
        n = clean_number(m[0] or m[1])
        if n is not None:
            return n
    return None


def same_number(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return a == b


@scorers.register("gsm8k")
class GSM8KScorer:
    """Exact numeric match after strict or flexible answer extraction (both in details)."""

    name = "gsm8k"

    def __init__(self, mode: str = "flexible") -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
        self.mode = mode

    async def score(self, sample: Sample, output: RunOutput) -> Score:
        if output.answer is None:
            return Score(self.name, None, "error", "no answer was produced", self.name)
        gold = clean_number(sample.references[0]) if sample.references else None
        if gold is None:
            return Score(self.name, None, "error", "sample has no numeric reference", self.name)
        strict, flexible = extract_strict(output.answer), extract_flexible(output.answer)
        strict_ok, flexible_ok = same_number(strict, gold), same_number(flexible, gold)
        picked, ok = (strict, strict_ok) if self.mode == "strict" else (flexible, flexible_ok)
        why = f"{self.mode} extraction found no number" if picked is None else f"{self.mode} answer {picked} vs gold {gold}"
        details = {"gold": gold, "strict": strict, "flexible": flexible,
                   "strict_correct": strict_ok, "flexible_correct": flexible_ok, "mode": self.mode}
        return Score(self.name, float(ok), "ok", why, self.name, details)
