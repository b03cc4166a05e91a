"""Deterministic offline stand-in for LaRA's GPT-4o binary judge ("lexical-fallback").

NOT an LLM judge: every Score it returns says so (``scorer="lexical-fallback"``,
``details.kind="deterministic fallback, not an LLM judge"``). It exists so that runs, tests and
leaderboards work without a judge endpoint; its agreement with the paper's GPT-4o-judged table is
measured by ``benchmarks/judge_fidelity.py``.

Rules (designed by reading LaRA questions/answers; not weights fitted to the paper's table):

1. Normalisation: NFKC, quotes/dashes folded, lower case, number words (two..twenty) to digits,
   English and task stop words dropped, a light suffix stemmer, then words compared on their first
   6 letters (conflation by truncation: "conventional" ~ "convention").
2. Informative words: reference content words that are not already in the question (restating the
   question's subject is no evidence; this also removes the original character names that LaRA's
   book questions share with their references while the texts use replaced names).
3. Numbers: a reference number not in the question is matched when the answer states the same value
   directly or through its scale word (thousand / million / billion), within half a unit of the
   answer's last written digit or 0.5% ("$2.7 million" matches 2,735,307), or states a relation
   between two reference numbers (their difference or percentage change: "decreased by $427,143").
   All must match (one miss allowed from three numbers up); otherwise the answer is wrong.
   Scale words stay words: an answer that drops "thousand" states the wrong magnitude.
4. Refusals ("not mentioned", "does not specify", "cannot be determined", ...):
   - hallucination task (reference: the text does not mention it): correct iff the answer refuses
     and does not then guess anyway ("however, it is likely...", "I can provide a possible answer");
   - other tasks: a refusal is wrong unless the answer still agrees with the reference at >= 0.75.
5. Agreement for answerable tasks = max(coverage, support). Coverage: share of the reference's
   informative words (and, for reasoning/comparison, its numbers) found in the answer, using the
   reference's first sentence for reasoning (the answer; the rest is elaboration), and for
   comparison the minimum over the sides of the reference split at its contrast marker (while /
   whereas / compared to / ; ...), each side judged on its own distinctive words, because a
   comparison covering one side is wrong (coverage 0 on a side → wrong whatever the support).
   Support: share of the answer's informative words (and new numbers) found in the reference or
   question (a concise correct answer says little, but nothing outside the reference); for book
   texts the answer's proper names that the reference lacks are left out of it, because LaRA's
   book texts replace character names and answers quote the replacements ("Mr. Peter (Julian)",
   "Lady Caroline (Vivienne)"): such a name is no evidence either way. Correct
   when agreement >= 1/2 for location (short factual spans), >= 1/3 for reasoning and comparison
   (long paraphrased explanations).
6. ``output.answer`` None → status "error" (a failed generation is an upstream failure, not a wrong
   answer); an empty string → value 0 (the model answered nothing).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from lara.registry import scorers
from lara.types import RunOutput, Sample, Score
from lara.vocabulary import category as canonical_category

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
    particular answer question
    """.split()
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

REFUSAL_OVERRIDE = 0.75  # a declining answer counts only if it nonetheless states the reference
RECALL_LEVEL = {"location": 0.5, "reasoning": 1 / 3, "comparison": 1 / 3}


def normalise_task(name: str | None) -> str | None:
    """The canonical LaRA category (:mod:`lara.vocabulary`), None for anything else."""
    return canonical_category(name)


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


PREFIX = 6  # words are compared on their first 6 letters after stemming (conflation by truncation)


def content_words(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", fold(text))
    out = []
    for w in words:
        w = w.split("'")[0]
        if w in STOP or len(w) < 2 or w.isdigit():
            continue
        w = stem(NUMBER_WORDS.get(w, w))
        out.append(w[:PREFIX])
    return out


@dataclass(frozen=True)
class Quantity:
    """A number as written: ``raw`` digits, ``scale`` word factor, ``tol`` = half a unit of its last
    written digit (so "$2.7 million" stands for anything that rounds to it)."""

    raw: float
    scale: float
    tol: float
    percent: bool

    def values(self) -> tuple[tuple[float, float], ...]:
        return ((self.raw, self.tol), (self.raw * self.scale, self.tol * self.scale))


def quantities(text: str) -> list[Quantity]:
    t = fold(text)
    t = re.sub(r"\b(" + "|".join(k for k in NUMBER_WORDS if k != "zero") + r")\b",
               lambda m: NUMBER_WORDS[m.group(1)], t)
    out = []
    for m in NUM_RE.finditer(t):
        digits = m.group(1).replace(",", "")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        unit = (m.group(2) or "").lower()
        pct = unit in ("%", "percent", "per cent")
        out.append(Quantity(float(digits), SCALES.get(unit, 1.0), 0.5 * 10.0**-decimals, pct))
    return out


def _close(ref: float, ans: float, ans_tol: float) -> bool:
    return abs(ref - ans) <= max(ans_tol, 0.005 * abs(ref))


def number_match(ref_q: Quantity, answer_qs: list[Quantity]) -> bool:
    return any(
        _close(r, a, tol) for q in answer_qs for r, _ in ref_q.values() for a, tol in q.values()
    )


def derived_matches(ref_qs: list[Quantity], answer_qs: list[Quantity]) -> set[int]:
    """Indices of reference numbers the answer states as a relation: the difference of two of them
    or the percentage change from one to the other ("decreased by $427,143", "up 16.7%")."""
    hit: set[int] = set()
    for i, a in enumerate(ref_qs):
        for j, b in enumerate(ref_qs):
            if j <= i or a.percent != b.percent:
                continue
            for (x, _), (y, _) in zip(a.values(), b.values()):
                rel = [abs(x - y)]
                if x:
                    rel.append(abs(y - x) / abs(x) * 100)
                if y:
                    rel.append(abs(x - y) / abs(y) * 100)
                if any(_close(v, abs(av), tol) for v in rel if v for q in answer_qs for av, tol in q.values()):
                    hit.update((i, j))
    return hit


def is_refusal(answer: str) -> bool:
    t = fold(answer).replace("*", "")
    t = re.sub(r"\bcan't\b", "can not", t)
    t = re.sub(r"\bwon't\b", "will not", t)
    t = re.sub(r"n't\b", " not", t)
    return REFUSAL_RE.search(t) is not None


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




def first_sentence(text: str) -> str:
    parts = re.split(r"(?<=[a-z0-9)%])\.\s+(?=[A-Z])", text.strip(), maxsplit=1)
    return parts[0]


def proper_names(text: str) -> set[str]:
    """Stemmed capitalised words that do not start a sentence (character / place names)."""
    names = set()
    for m in re.finditer(r"(?<![.!?:]\s)(?<!^)\b([A-Z][a-z]+)\b", text.strip()):
        names.update(content_words(m.group(1)))
    return names


def lexical_verdict(
    question: str,
    answer: str | None,
    reference: str,
    category: str | None,
    context_type: str | None = None,
) -> tuple[int | None, str, str]:
    """(value 0/1 or None, status, explanation) for one LaRA item; see the module docstring.

    ``context_type`` (book / financial / paper): for "book" the answer's unknown proper names are
    neutral in support (rule 5); other context types are judged alike.
    """
    if answer is None:
        return None, "error", "no answer (failed generation)"
    task = normalise_task(category)
    answer = str(answer)
    if not answer.strip():
        return 0, "ok", "empty answer"
    refused = is_refusal(answer)
    if task == "hallucination":
        if refused and SPECULATION_RE.search(fold(answer)):
            return 0, "ok", "answer says the text is silent but then guesses an answer"
        return (1, "ok", "answer states the information is absent") if refused else (
            0, "ok", "answer asserts content for an unanswerable question")

    level = RECALL_LEVEL.get(task or "", 0.5)
    ans_words = set(content_words(answer))
    core = first_sentence(reference) if task == "reasoning" else reference
    qnums = quantities(question)
    ref_nums = [q for q in quantities(core) if not number_match(q, qnums)]
    ans_nums = quantities(answer)
    derived = derived_matches(ref_nums, ans_nums)
    matched = [q for i, q in enumerate(ref_nums) if i in derived or number_match(q, ans_nums)]
    missed = len(ref_nums) - len(matched)
    allowed = 1 if len(ref_nums) >= 3 else 0
    if missed > allowed:
        return 0, "ok", f"{missed}/{len(ref_nums)} reference numbers missing"

    # Coverage units: informative words plus, for sentence references, numbers (a matched number
    # is covered evidence). Location references are short spans whose numbers the gate above has
    # already decided; there the words (including scale words: "thousand") decide the rest.
    if task == "comparison":
        sides = [p for p in CONTRAST_RE.split(reference) if p and not CONTRAST_RE.fullmatch(p.strip())]
        side_words = [informative(side, question) for side in sides]
        units = []
        for k, side in enumerate(sides):
            others = {w for j, ws in enumerate(side_words) if j != k for w in ws}
            words = [w for w in side_words[k] if w not in others] or side_words[k]
            nums = [q for q in quantities(side) if not number_match(q, qnums)]
            if len(words) + len(nums) >= 2:
                units.append((words, nums))
        units = units or [(informative(reference, question), ref_nums)]
    else:
        units = [(informative(core, question), ref_nums if task != "location" else [])]
    coverage = min(_coverage(words, nums, ans_words, matched) for words, nums in units)
    # Support: share of the answer's own informative words and numbers that the reference (or the
    # question) has; a concise correct answer covers little of a long reference but says nothing
    # outside it.
    ans_inf = informative(answer, question)
    if context_type == "book":
        # LaRA's book texts replace character names, so the answer's names that the reference lacks
        # (often the text's replacement names) are no evidence either way.
        neutral = proper_names(answer) - set(content_words(reference))
        ans_inf = [w for w in ans_inf if w not in neutral]
    known = set(content_words(reference)) | set(content_words(question))
    new_nums = [a for a in ans_nums if not any(number_match(q, [a]) for q in qnums)] if task != "location" else []
    ref_all = quantities(reference)
    sup_nums = sum(1 for a in new_nums if any(number_match(r, [a]) for r in ref_all))
    n_units = len(ans_inf) + len(new_nums)
    support = (sum(1 for w in ans_inf if w in known) + sup_nums) / n_units if n_units else 0.0
    agreement = max(coverage, support)
    if refused and agreement < REFUSAL_OVERRIDE:
        return 0, "ok", f"answer declines (coverage {coverage:.2f}, support {support:.2f})"
    if task == "comparison" and coverage == 0.0:
        return 0, "ok", f"answer covers none of one side of the comparison (support {support:.2f})"
    verdict = 1 if agreement >= level else 0
    sign = ">=" if verdict else "<"
    return verdict, "ok", f"coverage {coverage:.2f}, support {support:.2f}: max {sign} {level:.2f}"


def _coverage(words: list[str], nums: list[Quantity], ans_words: set[str], matched: list[Quantity]) -> float:
    total = len(words) + len(nums)
    if not total:
        return 1.0
    hits = sum(1 for w in words if w in ans_words) + sum(1 for q in nums if number_match(q, matched))
    return hits / total


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
        value, status, why = lexical_verdict(
            sample.question, output.answer, reference, category, sample.metadata.get("context_type")
        )
        return Score(
            name=self.name,
            value=None if value is None else float(value),
            status=status,  # type: ignore[arg-type]
            explanation=why,
            scorer=SCORER_ID,
            details={"kind": KIND, "category": normalise_task(category)},
        )
