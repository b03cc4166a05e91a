"""Refusals in LaRA answers: "the text does not mention it" and its many phrasings.

Two questions, two detectors. :func:`is_refusal` (broad) decides LaRA's hallucination task, where
the correct answer *is* a refusal and any phrasing of "not stated / unknown / cannot tell" counts.
:func:`declines` (narrow) decides whether an answer to an answerable question declined to answer:
the judge is asked whether the answer is "correct based on the groundtruth answer", so it reads
"the Winged Monkeys cannot leave their country" or "contamination cannot be ruled out" as claims,
and a note after an answer that one detail is not given ("..., but the chunks do not specify the
cause") does not retract what was answered; only an answer that opens by saying the source lacks
the answer has declined.
"""

from __future__ import annotations

import re

from lara.scoring.lexical_match import fold

REFUSAL_RE = re.compile(
    r"\b(not|never|no longer)\s+(be\s+)?(\w+ly\s+)?"
    r"(mention|specif|provid|state|includ|contain|discuss|describ|address|detail|indicat|give|"
    r"disclos|found|find|present|available|cover|reveal|list|defin|clear|possible|name|say|said|"
    r"offer|refer|elaborat|explain|outlin|identif|note|document|report|tell|told|show|explor|"
    r"evaluat|examin|analy|investigat|focus|touch|talk|delv|appear|exist|known|determin|answer|"
    r"infer|deduc|confirm|verif|establish|possible)"
    r"|\bno (\w+ )?(information|mention|details?|data|indication|evidence|record|reference|"
    r"explicit|discussion|description|specific|clear|direct)"
    r"|\b(cannot|unable to|impossible to|not able to|not possible to)\b"
    r"|\b(insufficient|not enough|lack of|lacks?) (\w+ )?(information|context|data|details?|evidence)"
    r"|\b(is|are|was|were|remains?) (unknown|unclear|unspecified|unmentioned|undisclosed|unstated)"
    r"|\b(none|nothing) (is |are )?(mentioned|specified|given|stated|provided|described)",
    re.I,
)

# After a refusal, these mark a model that goes on to guess the answer anyway (hallucinating).
SPECULATION_RE = re.compile(
    r"\b(i|we) (can|could|will|would) (provide|offer|infer|speculate|suggest|give|try|make)"
    r"|\b(possible|potential|plausible|hypothetical|general) (answer|explanation|response|insight)"
    r"|\bcan be (inferred|assumed|deduced|speculated)|\bit (is|seems) (likely|possible|plausible|reasonable)"
    r"|\b(likely|probably|presumably)\b|\bspeculat|\bmight (be|have)|\bmay (be|have)|\bcould (be|have)",
    re.I,
)

# A sentence saying the source lacks what was asked: the source (or the information / answer) is
# the subject or object of the negation; bare "cannot" / "not ... present" are claims.
_SRC = (r"(?:texts?|passages?|chunks?|excerpts?|papers?|documents?|context|story|book|novel|statements?|"
        r"sections?|segments?|articles?|sources?|materials?|report|authors?|company|filings?|it|this)")
_SAY = (r"(?:mention|specif|provid|state|say|describ|discuss|includ|contain|give|detail|indicat|address|"
        r"reveal|explain|cover|disclos|tell|show|list|name|clarif|elaborat|offer|refer|identif|answer|"
        r"present|outlin|note|report)")
DECLINE_RE = re.compile(
    rf"\b{_SRC}(?:\s+(?:provided|given|above|retrieved|available|here))?"
    rf"\s+(?:does|do|did|is|are|was|were|has|have)\s+not\s+(?:\w+ly\s+)?{_SAY}"
    r"|\b(?:is|are|was|were|been)\s+not\s+(?:\w+ly\s+)?(?:mentioned|specified|provided|stated|described|"
    r"discussed|included|given|detailed|indicated|addressed|disclosed|explained|covered|answered|named|"
    r"listed|reported|revealed|available|found|known|clear)\b"
    r"|\bno\s+(?:explicit\s+|direct\s+|specific\s+|further\s+|clear\s+)?"
    r"(?:mention|information|details?|data|indication|evidence|reference|description|discussion)\b"
    # "cannot" declines when the answerer, or the answer itself, is what cannot be had; "LLMs
    # cannot verify their own solutions" or "he cannot know anyone" are claims
    r"|\b(?:i|we)\s+(?:cannot|can not|could not|am unable to|are unable to|was unable to|am not able to)"
    r"\s+(?:\w+\s+)?(?:determin|answer|find|locat|identif|provid|tell|say|know|infer|confirm|verif|see)"
    r"|\b(?:this|the)\s+(?:question|information|answer|details?|amount|figure|value|date|name|number)"
    r"\s+(?:\w+\s+){0,2}?(?:cannot|can not|could not)\s+be\s+(?:answered|determined|found|inferred|deduced|"
    r"identified|established|confirmed|verified|located|calculated)"
    r"|\bit\s+is\s+(?:not possible|impossible|unclear)\s+to\s+(?:determin|answer|tell|say|know|infer|"
    r"identif|confirm|calculat)"
    r"|\b(?:insufficient|not enough)\s+(?:\w+\s+)?(?:information|context|data|details?|evidence)"
    r"|\b(?:unknown|unclear|unspecified|not specified|not stated)\s+(?:from|in|based on)\s+the",
    re.I,
)


def _plain(text: str) -> str:
    t = fold(text).replace("*", "")
    t = re.sub(r"\bcan't\b", "can not", t)
    t = re.sub(r"\bwon't\b", "will not", t)
    return re.sub(r"n't\b", " not", t)


def is_refusal(answer: str) -> bool:
    """Any phrasing of "not stated / unknown / cannot tell" anywhere (the hallucination task)."""
    return REFUSAL_RE.search(_plain(answer)) is not None


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;:])\s+|\n+", text.strip()) if s.strip()]


def declines(answer: str) -> bool:
    """Whether the answer opens by saying the source does not give the answer (module docstring)."""
    parts = sentences(answer)
    return bool(parts) and DECLINE_RE.search(_plain(parts[0])) is not None
