"""Strict parsers for judge outputs: a verdict or ``None`` (the caller records ``unparsed``).

Why strict: LaRA's original parser tests ``"true" in text.lower()``, so "not true" and
"True or False" count as correct. Here anything that is not one clear verdict is unparsed and
counted, never folded into a value. Pairwise labels use PandaLM's coding: 1 = first response
better, 2 = second better, 0 = tie.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STRIP = " \t\r\n.,;:!?\"'`*_()[]{}<>"
# Verdict word, optionally after ONE leading label word with a colon/dash ("Judgement: True").
_BINARY = re.compile(r"^(?:[A-Za-z]+\s*[:\-]\s*)?(true|false)\b(.*)$", re.I | re.S)
_RATING = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
_AB = re.compile(r"\[\[([ABC])\]\]")
_PANDA_FIRST = re.compile(r"^(?:response\s*)?(1|2|tie)[.:]?$", re.I)


@dataclass(frozen=True)
class PandaLMOutput:
    label: int | None  # 0 tie, 1, 2; None when unparsed
    reason: str = ""
    reference: str = ""


def parse_binary(text: str | None) -> bool | None:
    """True/False verdict; None for empty, negated ("not true"), both words, or anything else."""
    if not text:
        return None
    cleaned = text.strip().strip(_STRIP)
    m = _BINARY.match(cleaned)
    if not m:
        return None
    verdict = m.group(1).lower() == "true"
    rest_words = set(re.findall(r"[a-z]+", m.group(2).lower()))
    opposite = "false" if verdict else "true"
    if opposite in rest_words:
        return None
    return verdict


def parse_rating(text: str | None, low: float = 1.0, high: float = 10.0) -> float | None:
    """MT-Bench ``[[rating]]``; None when absent, out of range, or several different ratings."""
    if not text:
        return None
    found = {float(x) for x in _RATING.findall(text)}
    if len(found) != 1:
        return None
    value = found.pop()
    return value if low <= value <= high else None


def parse_ab(text: str | None) -> int | None:
    """MT-Bench pairwise ``[[A]]``/``[[B]]``/``[[C]]`` → 1/2/0; None when absent or contradictory."""
    if not text:
        return None
    found = set(_AB.findall(text))
    if len(found) != 1:
        return None
    return {"A": 1, "B": 2, "C": 0}[found.pop()]


def parse_pandalm(text: str | None) -> PandaLMOutput:
    """PandaLM output: first line ``1``/``2``/``Tie``, then ``### Reason:`` and ``### Reference:``.

    Upstream maps an unreadable first line to Tie; here it is unparsed (label None).
    """
    if not text or not text.strip():
        return PandaLMOutput(None)
    body = text.strip()
    if "### Evaluation:" in body:  # a completion that echoes the prompt
        body = body.split("### Evaluation:", 1)[1].strip()
    first = body.split("\n", 1)[0].strip()
    m = _PANDA_FIRST.match(first)
    label = None
    if m:
        tok = m.group(1).lower()
        label = 0 if tok == "tie" else int(tok)
    reason = _section(body, "### Reason:")
    reference = _section(body, "### Reference:")
    return PandaLMOutput(label, reason, reference)


def _section(body: str, header: str) -> str:
    if header not in body:
        return ""
    rest = body.split(header, 1)[1]
    return rest.split("\n### ", 1)[0].strip()
