"""Numbers in LaRA answers: values as written, matching within precision, relations, directions.

Financial and paper questions are answered by figures, so the judge compares figures: "$2.7
million" states 2,735,307, "decreased by $427,143" states the pair it is the difference of, and
"increased from $884,369 to $457,226" where the reference says "decreased" is a wrong answer
whatever words it shares with the reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lara.scoring.lexical_match import NUMBER_WORDS, fold

SCALES = {"thousand": 1e3, "thousands": 1e3, "k": 1e3, "million": 1e6, "millions": 1e6, "m": 1e6,
          "mn": 1e6, "billion": 1e9, "billions": 1e9, "bn": 1e9, "b": 1e9, "trillion": 1e12}

NUM_RE = re.compile(
    r"(?<![\w.])[-−]?\$?\s?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*"
    r"(%|percent\b|per cent\b|thousands?\b|millions?\b|billions?\b|trillion\b|bn\b|mn\b|[kmb]\b)?",
    re.I,
)

@dataclass(frozen=True)
class Quantity:
    """A number as written: ``raw`` digits, ``scale`` word factor, ``tol`` = half a unit of its last
    written digit (so "$2.7 million" stands for anything that rounds to it)."""

    raw: float
    scale: float
    tol: float
    percent: bool

    def value(self) -> tuple[float, float]:
        """(value, tolerance) with the scale applied: "$1,090 thousand" is 1,090,000 ± 500."""
        return self.raw * self.scale, self.tol * self.scale


# "(in thousands)", "in millions of dollars": the unit of the text's figures that carry no scale word
UNIT_NOTE_RE = re.compile(r"\bin (thousands|millions|billions)\b", re.I)


def quantities(text: str) -> list[Quantity]:
    """The text's figures as written; a figure without a scale word takes the text's stated unit
    ("$1,580,487 (in thousands)")."""
    t = fold(text)
    note = UNIT_NOTE_RE.search(t)
    default_scale = SCALES[note.group(1)] if note else 1.0
    t = re.sub(r"\b(" + "|".join(k for k in NUMBER_WORDS if k != "zero") + r")\b",
               lambda m: NUMBER_WORDS[m.group(1)], t)
    out = []
    for m in NUM_RE.finditer(t):
        digits = m.group(1).replace(",", "")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        unit = (m.group(2) or "").lower()
        pct = unit in ("%", "percent", "per cent")
        scale = SCALES.get(unit, 1.0) if unit else (1.0 if pct else default_scale)
        out.append(Quantity(float(digits), scale, 0.5 * 10.0**-decimals, pct))
    return out


def _close(ref: float, ans: float, ans_tol: float) -> bool:
    return abs(ref - ans) <= max(ans_tol, 0.005 * abs(ref))


def number_match(ref_q: Quantity, answer_qs: list[Quantity]) -> bool:
    """Whether an answer number states the reference number at the coarser of the two written
    precisions: "$63.6 million" is 63,566,000 and "$2,499,766,000" is "$2.50 billion", but the
    year 2043 is not 2039 (a relative tolerance would call them equal)."""
    r, rtol = ref_q.value()
    return any(abs(r - a) <= max(atol, rtol) for a, atol in (q.value() for q in answer_qs))


def derived_matches(ref_qs: list[Quantity], answer_qs: list[Quantity]) -> set[int]:
    """Indices of reference numbers the answer states as a relation: the difference of two of them
    or the percentage change from one to the other ("decreased by $427,143", "up 16.7%")."""
    hit: set[int] = set()
    for i, a in enumerate(ref_qs):
        for j, b in enumerate(ref_qs):
            if j <= i or a.percent != b.percent:
                continue
            (x, _), (y, _) = a.value(), b.value()
            rel = [abs(x - y)]
            if x:
                rel.append(abs(y - x) / abs(x) * 100)
            if y:
                rel.append(abs(x - y) / abs(y) * 100)
            if any(_close(v, abs(av), tol) for v in rel if v for av, tol in (q.value() for q in answer_qs)):
                hit.update((i, j))
    return hit


# A change stated with its two ends: "increased from $62,362 to $286,522", "fell from 89% to 4%".
CHANGE_RE = re.compile(
    r"\b(?P<verb>increas|ris|rose|grew|grow|climb|jump|surg|expand|decreas|declin|fell|fall|drop|reduc|"
    r"shrank|shrunk|contract)\w*\s+(?:\w+\s+){0,3}?from\s+(?P<a>\(?-?\$?\s?[\d.,]+\)?(?:\s*(?:%|thousand|million|billion))?)"
    r"(?P<mid>[^.;]{0,80}?)\s+to\s+(?P<b>\(?-?\$?\s?[\d.,]+\)?(?:\s*(?:%|thousand|million|billion))?)",
    re.I,
)
UP = ("increas", "ris", "rose", "grew", "grow", "climb", "jump", "surg", "expand")


def changes(text: str) -> list[tuple[bool, Quantity, Quantity]]:
    """(upward?, from, to) for every change the text states with both ends (years are dates, not
    ends: "from 2022 to 2023")."""
    out = []
    for m in CHANGE_RE.finditer(fold(text)):
        a, b = quantities(m.group("a")), quantities(m.group("b"))
        if not a or not b or any(_year(q) for q in (a[0], b[0])):
            continue
        out.append((m.group("verb").startswith(UP), a[0], b[0]))
    return out


def _year(q: Quantity) -> bool:
    return q.scale == 1.0 and not q.percent and q.raw.is_integer() and 1900 <= q.raw <= 2100


def contradicts(reference: str, answer: str) -> bool:
    """Whether the answer states a change between the reference's two figures in the direction
    opposite to the reference's ("increased from $884,369 to $457,226" where the reference says it
    decreased): the judge compares the answer with the groundtruth, so a reversed direction is a
    wrong answer even when the reference's own arithmetic is off."""
    ref = changes(reference)
    for up, a, b in changes(answer):
        for r_up, ra, rb in ref:
            if number_match(ra, [a]) and number_match(rb, [b]) and up != r_up:
                return True
    return False
