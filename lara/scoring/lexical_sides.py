"""Which side of a comparison an answer says what about: "paper 1 does X, while paper 3 does Y".

Why: LaRA's comparison questions over several papers name them ("paper 0", "paper 3"), and a
model that attributes paper 1's method to paper 3 and the other way round uses the reference's
words, so coverage alone credits it. The judge, asked whether the answer is correct based on the
groundtruth, reads a swapped attribution as a wrong comparison. This module splits an answer into
the parts about each named paper and tells whether the reference's sides are found crossed.
"""

from __future__ import annotations

import re

from lara.scoring.lexical_match import Pool

ANCHOR_RE = re.compile(r"\bpapers?\s+(\d+)\b", re.I)
# Clause boundaries inside a sentence where an answer moves from one side to the other.
CLAUSE_RE = re.compile(
    r"(?<=[.!?;:])\s+|\n+|,?\s+\b(?:while|whereas|but|however|in contrast|on the other hand|unlike)\b",
    re.I,
)


def anchor(text: str) -> str | None:
    """The one paper a text names ("paper 3" -> "3"); None when it names none or several."""
    found = {m.group(1) for m in ANCHOR_RE.finditer(text)}
    return found.pop() if len(found) == 1 else None


def parts_by_anchor(answer: str, labels: set[str]) -> dict[str, str]:
    """The answer's clauses grouped by the paper they are about: a clause naming one of ``labels``
    is about it, a clause naming none continues the last one named, a clause naming several is
    about none in particular."""
    parts: dict[str, list[str]] = {label: [] for label in labels}
    current: str | None = None
    for clause in CLAUSE_RE.split(answer):
        if not clause or not clause.strip():
            continue
        named = {m.group(1) for m in ANCHOR_RE.finditer(clause)} & labels
        if named:
            current = named.pop() if len(named) == 1 else None
        if current is not None:
            parts[current].append(clause)
    return {label: " ".join(clauses) for label, clauses in parts.items()}


def crossed(sides: list[tuple[str, list[str]]], answer: str, forms: dict[str, frozenset[str]]) -> bool:
    """Whether the answer states each side's distinctive words about the other side's paper more
    than about its own. ``sides``: (reference side text, its distinctive word keys), two of them."""
    if len(sides) != 2:
        return False
    labels = [anchor(text) for text, _ in sides]
    if None in labels or labels[0] == labels[1]:
        return False
    parts = parts_by_anchor(answer, set(labels))  # type: ignore[arg-type]
    if not all(parts.values()):
        return False
    pools = {label: Pool.of(text) for label, text in parts.items()}

    def hits(words: list[str], label: str) -> int:
        return sum(1 for w in words if pools[label].has(w, forms.get(w, frozenset())))

    (_, w0), (_, w1) = sides
    a, b = labels
    straight = hits(w0, a) + hits(w1, b)  # type: ignore[arg-type]
    swapped = hits(w0, b) + hits(w1, a)  # type: ignore[arg-type]
    return swapped > straight
