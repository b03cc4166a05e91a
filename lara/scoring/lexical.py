"""Deterministic offline stand-in for LaRA's GPT-4o binary judge ("lexical-fallback").

NOT an LLM judge: every Score it returns says so (``scorer="lexical-fallback"``,
``details.kind="deterministic fallback, not an LLM judge"``). It exists so that runs, tests and
leaderboards work without a judge endpoint; its agreement with the paper's GPT-4o-judged table is
measured by ``benchmarks/judge_fidelity.py``.

Rules (read from the LaRA questions and answers, not fitted to the paper's table):

1. Normalisation: lower case, unicode quotes/dashes folded, number words (one..twenty) to digits,
   thousands separators removed, a light suffix stemmer, English stop words dropped.
2. Only *informative* reference words count: content words of the reference that are not already
   in the question (a reference that restates the question's subject is not evidence). This also
   neutralises LaRA's name replacement in books, where questions and references use the original
   character names and the texts (hence the answers) use replaced ones.
3. Numbers: a number of the reference (not in the question) matches when the answer has the same
   value, directly or after applying its scale word (thousand / million / billion) or percent,
   within 0.5% relative (rounding "$5.441 million" vs "$5,441 thousand").
4. Refusal: an answer that says the information is not in the text / cannot be determined.
   - hallucination task: the reference says the information is not mentioned, so the answer is
     correct iff it refuses (a refusal followed by invented specifics still counts as a refusal,
     as LaRA's judge prompt asks whether the model states that the text does not mention it);
   - other tasks: a refusal that does not also carry the reference's content is incorrect.
5. Verdict for answerable tasks: the answer is correct when every reference number is matched
   (at most one miss allowed when the reference has 3+ numbers) and the recall of informative
   reference words reaches a per-task level: short factual spans (location) need half of them,
   explanations (reasoning) and comparisons a third, because a correct long answer paraphrases. For
   comparison the reference is split at its contrast marker (while / whereas / compared to / ...)
   and each side must reach the level: a comparison that only covers one side is wrong.
6. ``output.answer`` None → status ``error`` (a failed generation is an upstream failure, not a
   wrong answer); an empty string → value 0 (the model answered nothing).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from lara.registry import scorers
from lara.types import RunOutput, Sample, Score

SCORER_ID = "lexical-fallback"
KIND = "deterministic fallback, not an LLM judge"

STOP = frozenset(
    """a an the and or but if of to in on at by for with from as into onto over under about after
    before between during through than then that this these those there here it its it's is are was
    were be been being has have had do does did done can could should would will shall may might
    must not no nor so such what which who whom whose when where why how also both each either
    neither any all some more most other another same very just only own too again further once
    he she they them their theirs his her hers him we us our you your i me my mine itself himself
    herself themselves one s t while whereas however although though because since via per
    paper papers text book chapter story statement financial company mentioned mention mentions
    described describe describes according provided provide provides specific specifically
    particular answer question""".split()
)

NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
NUMBER_WORDS.pop("one")  # "one" is far more often a pronoun than a count

SCALES = {"thousand": 1e3, "thousands": 1e3, "k": 1e3, "million": 1e6, "millions": 1e6, "m": 1e6,
          "mn": 1e6, "billion": 1e9, "billions": 1e9, "bn": 1e9, "b": 1e9, "trillion": 1e12}

REFUSAL_RE = re.compile(
    r"(not|never|n't|no)\s+(be\s+)?(explicitly\s+|specifically\s+|directly\s+|clearly\s+)?"
    r"(mention|specif|provid|state|includ|contain|discuss|describ|address|detail|indicat|give|"
    r"disclos|found|present|available|cover|reveal|list|defin|clear|possible)"
    r"|no (specific |explicit |direct |such |further |detailed |relevant |additional )*"
    r"(information|mention|details?|data|indication|evidence|record|reference|explicit)"
    r"|(cannot|can't|can not|unable to|impossible to|not able to) (be )?"
    r"(determin|answer|find|found|identif|confirm|provide|say|tell|infer|know|locat|verif)"
    r"|(does|do|did|is|are|was|were) not (appear|seem|exist)"
    r"|(insufficient|not enough) (information|context|data)"
    r"|there is no (mention|information|indication|evidence|record|data)"
    r"|(is|are) (unknown|unclear|unspecified|not known)",
    re.I,
)

CONTRAST_RE = re.compile(
    r"\b(?:while|whereas|but|however|compared (?:to|with)|in contrast(?: to)?|unlike|on the other hand|"
    r"as opposed to|rather than)\b|;",
    re.I,
)

NUM_RE = re.compile(
    r"(?<![\w.])[-−]?\$?\s?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*"
    r"(%|percent\b|per cent\b|thousands?\b|millions?\b|billions?\b|trillion\b|bn\b|mn\b|[kmb]\b)?",
    re.I,
)

TASK_ALIASES = {"comp": "comparison", "hallu": "hallucination", "loc": "location"}
RECALL_LEVEL = {"location": 0.5, "reasoning": 1 / 3, "comparison": 1 / 3}


def normalise_task(category: str | None) -> str:
    c = (category or "").strip().lower()
    return TASK_ALIASES.get(c, c)


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = text.replace("–", "-").replace("—", "-").replace("−", "-")
    return text.lower()


def stem(word: str) -> str:
    """A light suffix stemmer: enough to match plurals, tenses and -ly / -ing forms."""
    for suf in ("ations", "ation", "ments", "ment", "ness", "ingly", "ings", "ing", "edly", "ies",
                "ied", "ed", "es", "ly", "s"):
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            word = word[: -len(suf)]
            if suf in ("ies", "ied"):
                word += "y"
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def content_words(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", fold(text))
    out = []
    for w in words:
        w = w.split("'")[0]
        if w in STOP or len(w) < 2 or w.isdigit():
            continue
        out.append(stem(NUMBER_WORDS.get(w, w)))
    return out


@dataclass(frozen=True)
class Quantity:
    raw: float
    scaled: float
    percent: bool

    def candidates(self) -> tuple[float, ...]:
        return (self.raw, self.scaled)


def quantities(text: str) -> list[Quantity]:
    t = fold(text)
    t = re.sub(r"\b(" + "|".join(k for k in NUMBER_WORDS if k not in ("zero",)) + r")\b",
               lambda m: NUMBER_WORDS[m.group(1)], t)
    out = []
    for m in NUM_RE.finditer(t):
        raw = float(m.group(1).replace(",", ""))
        unit = (m.group(2) or "").lower()
        pct = unit in ("%", "percent", "per cent")
        scale = SCALES.get(unit, 1.0)
        out.append(Quantity(raw, raw * scale, pct))
    return out


def _same(a: float, b: float) -> bool:
    if a == b:
        return True
    return abs(a - b) <= 0.005 * max(abs(a), abs(b))


def number_match(ref_q: Quantity, answer_qs: list[Quantity]) -> bool:
    return any(_same(x, y) for q in answer_qs for x in ref_q.candidates() for y in q.candidates())


def is_refusal(answer: str) -> bool:
    return REFUSAL_RE.search(fold(answer)) is not None


def recall(ref_words: list[str], answer_words: set[str]) -> float:
    if not ref_words:
        return 1.0
    return sum(1 for w in ref_words if w in answer_words) / len(ref_words)


def informative(reference: str, question: str) -> list[str]:
    qwords = set(content_words(question))
    seen: list[str] = []
    for w in content_words(reference):
        if w not in qwords and w not in seen:
            seen.append(w)
    return seen


import os
PREC = os.environ.get("PREC") == "1"


def first_sentence(text: str) -> str:
    parts = re.split(r"(?<=[a-z0-9)%])\.\s+(?=[A-Z])", text.strip(), maxsplit=1)
    return parts[0]


def lexical_verdict(
    question: str, answer: str | None, reference: str, category: str | None
) -> tuple[int | None, str, str]:
    """(value 0/1 or None, status, explanation) for one LaRA item; see the module docstring."""
    if answer is None:
        return None, "error", "no answer (failed generation)"
    task = normalise_task(category)
    answer = str(answer)
    if not answer.strip():
        return 0, "ok", "empty answer"
    refused = is_refusal(answer)
    if task == "hallucination":
        return (1, "ok", "answer states the information is absent") if refused else (
            0, "ok", "answer asserts content for an unanswerable question")

    level = RECALL_LEVEL.get(task, 0.5)
    ans_words = set(content_words(answer))
    qnums = quantities(question)
    ref_nums = [q for q in quantities(reference) if not number_match(q, qnums)]
    ans_nums = quantities(answer)
    missed = sum(1 for q in ref_nums if not number_match(q, ans_nums))
    allowed = 1 if len(ref_nums) >= 3 else 0
    if missed > allowed:
        return 0, "ok", f"{missed}/{len(ref_nums)} reference numbers missing"

    if task == "comparison":
        parts = [p for p in CONTRAST_RE.split(reference) if p and not CONTRAST_RE.fullmatch(p.strip())]
        parts = [informative(p, question) for p in parts]
        parts = [p for p in parts if len(p) >= 2] or [informative(reference, question)]
    elif task == "reasoning":
        parts = [informative(first_sentence(reference), question)]
    else:
        parts = [informative(reference, question)]
    recalls = [recall(p, ans_words) for p in parts]
    worst = min(recalls)
    ref_words = set(content_words(reference)) | set(content_words(question))
    ans_inf = informative(answer, question)
    prec = recall(ans_inf, ref_words) if ans_inf else 0.0
    worst = max(worst, prec if PREC else 0)
    if refused and worst < 0.75:
        return 0, "ok", f"answer declines (recall {worst:.2f})"
    if worst >= level:
        return 1, "ok", f"reference recall {worst:.2f} >= {level:.2f}"
    return 0, "ok", f"reference recall {worst:.2f} < {level:.2f}"


@scorers.register("lexical")
class LexicalScorer:
    """Offline LaRA judge stand-in: lexical match + refusal rules (not an LLM judge)."""

    name = "lexical"

    def __init__(self, **params: object) -> None:
        if params:
            raise TypeError(f"lexical scorer takes no parameters, got {sorted(params)}")

    async def score(self, sample: Sample, output: RunOutput) -> Score:
        category = sample.metadata.get("category") or sample.metadata.get("task")
        reference = sample.references[0] if sample.references else ""
        value, status, why = lexical_verdict(sample.question, output.answer, reference, category)
        return Score(
            name=self.name,
            value=None if value is None else float(value),
            status=status,  # type: ignore[arg-type]
            explanation=why,
            scorer=SCORER_ID,
            details={"kind": KIND, "category": normalise_task(category)},
        )
