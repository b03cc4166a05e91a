"""Deterministic offline stand-in for LaRA's GPT-4o binary judge ("lexical-fallback").

NOT an LLM judge: every Score it returns says so (``scorer="lexical-fallback"``,
``details.kind="deterministic fallback, not an LLM judge"``). It exists so that runs, tests and
leaderboards work without a judge endpoint; its agreement with the paper's GPT-4o-judged table is
measured by ``benchmarks/judge_fidelity.py``.

Rules (designed by reading LaRA questions/answers; not weights fitted to the paper's table):

1. Normalisation (:mod:`lara.scoring.lexical_match`): NFKC, quotes/dashes folded, lower case,
   English and task stop words dropped (hedges too: "approximately $60,000" states what "$60,000"
   does; the number rules own precision), numbers in digits or words ("twelve") left to the number
   rules (rule 3) rather than matched as words, a light suffix
   stemmer, then words keyed on their first 6 letters ("conventional" ~ "convention"). A word is
   found in a text with the same key or, with WordNet installed (:mod:`lara.scoring.wordnet`), a
   synonym there (a shared frequent sense: "perplexed" / "puzzled"), because the judge reads
   meaning, not spelling; magnitude words ("million", "billion") are never synonyms.
2. Informative words: the text's content words that the question does not state (by key or
   synonym): restating the question is no evidence either way, in the reference or in the
   answer. This also removes the original character names that LaRA's book questions share with
   their references while the texts use replaced names.
3. Numbers (:mod:`lara.scoring.lexical_numbers`): a reference number not in the question is
   matched when the answer states the same value, scale words applied on both sides ("$1,090
   thousand" is "$1,090,000"; a text's "(in thousands)" scales its bare figures), at the coarser
   of the two written precisions ("$2.7 million" matches 2,735,307, "$2,499,766,000" matches "$2.50
   billion", but 2043 is not 2039), or states a relation between two reference numbers (their
   difference or percentage change: "decreased by $427,143"). All must match (one miss allowed
   from three numbers up); otherwise the answer is wrong. An answer stating a change between the
   reference's two figures in the opposite direction ("increased from $884,369 to $457,226" where
   the reference says decreased) is wrong.
   An answer that drops "thousand" states another value and is wrong; scale words also stay
   words, so for location (LOCATION_FIGURES) "$1,090,000" does not state "$1,090 thousand" in
   words, which is how the published judge's table scores it (counting the scale word as part of
   the figure lowered the held-out location Pearson from 0.95 to 0.86). The answer's figures that
   the question states ("on April 2nd") are no evidence: they neither match nor form relations.
4. Refusals ("not mentioned", "does not specify", "cannot be determined", ...):
   - hallucination task (reference: the text does not mention it): correct iff the answer refuses
     and does not then guess anyway ("however, it is likely...", "I can provide a possible answer");
   - other tasks: an answer that opens by saying the source lacks the answer ("The text does not
     specify ...", "There is no mention of ...") is wrong unless it still agrees with the reference
     at >= 0.75 (:mod:`lara.scoring.lexical_refusal`). A negation about the story ("the Winged
     Monkeys cannot leave their country") is a claim, and a later note that one detail is not given
     does not retract the answer before it: both are judged like any other words.
5. Agreement for answerable tasks = max(coverage, support). Coverage: share of the reference's
   informative words (and, for reasoning/comparison, its numbers) found in the answer, using the
   reference's first sentence for reasoning (the answer; the rest is elaboration; "Mr." and other
   abbreviations do not end it), and for comparison the minimum over the reference's two sides,
   split at its first contrast marker (while / whereas / compared to / ; ...) that leaves content
   on both, each side judged on its own distinctive words, because a comparison covering one side
   is wrong (coverage 0 on a side → wrong whatever the support). Later markers qualify a side
   ("... rather than a personal loss") and open no third side.
   Support: share of the answer's informative words (and new numbers) found in the reference or
   question (a concise correct answer says little, but nothing outside the reference); for book
   texts the answer's proper names that the reference lacks are left out of it, because LaRA's
   book texts replace character names and answers quote the replacements ("Mr. Peter (Julian)",
   "Lady Caroline (Vivienne)"): such a name is no evidence either way. Correct
   when agreement >= 1/2 for location (short factual spans), >= 1/3 for reasoning and comparison
   (long paraphrased explanations).
   LOCATION_FIGURES: for location, the figures are decided by the gate of rule 3 and the words by
   coverage/support, so a bare figure ("96.16%") against a sentence reference ("The system achieved
   a 96.16% success rate") is judged by the reference's remaining words. Counting matched figures
   as coverage and support units (as for reasoning) is what a reader would do, and it was tried:
   it raised location accuracy by 1.3-6.9 points per (model, length, mode) cell, uncorrelated
   (r = -0.02) with the cells' distance to the paper's GPT-4o-judged table, and lowered the
   location Pearson on the held-out models from 0.95 to 0.87. The published judge evidently did
   not credit such answers consistently, so this stand-in does not either; an LLM judge
   (``--scorer lara-judge``) is the way to score them by meaning.
6. ``output.answer`` None → status "error" (a failed generation is an upstream failure, not a wrong
   answer); an empty string → value 0 (the model answered nothing).
"""

from __future__ import annotations

import re

from lara.registry import scorers
from lara.scoring import wordnet
from lara.scoring.lexical_match import Pool, content_words, fold, word_forms
from lara.scoring.lexical_numbers import Quantity, contradicts, derived_matches, number_match, quantities
from lara.scoring.lexical_refusal import SPECULATION_RE, declines, is_refusal
from lara.types import RunOutput, Sample, Score
from lara.vocabulary import category as canonical_category

SCORER_ID = "lexical-fallback"
KIND = "deterministic fallback, not an LLM judge"

CONTRAST_RE = re.compile(
    r"\b(?:while|whereas|but|however|compared (?:to|with)|in contrast(?: to)?|unlike|on the other hand|"
    r"as opposed to|rather than)\b|;",
    re.I,
)

REFUSAL_OVERRIDE = 0.75  # a declining answer counts only if it nonetheless states the reference
RECALL_LEVEL = {"location": 0.5, "reasoning": 1 / 3, "comparison": 1 / 3}


def normalise_task(name: str | None) -> str | None:
    """The canonical LaRA category (:mod:`lara.vocabulary`), None for anything else."""
    return canonical_category(name)


def informative(text: str, question: str) -> list[str]:
    """The text's content-word keys, once each, less those the question states (by key or sense):
    restating the question is no evidence either way."""
    qpool = Pool.of(question)
    forms = word_forms(text)
    seen: list[str] = []
    for w in content_words(text):
        if w not in seen and not qpool.has(w, forms[w]):
            seen.append(w)
    return seen


def comparison_sides(reference: str, question: str) -> list[str]:
    """The two sides of a comparison reference: split at its first contrast marker that leaves
    content (two words or numbers) on both sides. Later markers qualify a side ("... as a dramatic
    event rather than a personal loss", "... but knows it is not a defeat"); they do not open a
    third side the answer must also cover."""
    def substantial(part: str) -> bool:
        return len(informative(part, question)) + len(quantities(part)) >= 2

    for m in CONTRAST_RE.finditer(reference):
        left, right = reference[: m.start()], reference[m.end():]
        if substantial(left) and substantial(right):
            return [left, right]
    return [reference]


# Abbreviations whose period does not end a sentence ("Mr. Blackwood", "Amazon.com, Inc. reported").
ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr mme mlle messrs prof gen col capt lt sgt rev hon inc co corp ltd llc plc "
    "vs etc al fig eq no nos vol approx dept est univ".split()
)


def first_sentence(text: str) -> str:
    """Up to the first period that ends a sentence (not an abbreviation's or an initial's)."""
    text = text.strip()
    for m in re.finditer(r"(?<=[a-z0-9)%])\.\s+(?=[A-Z])", text):
        word = re.search(r"(\w+)$", text[: m.start()])
        if word and (word.group(1).lower() in ABBREVIATIONS or len(word.group(1)) == 1):
            continue
        return text[: m.start()]
    return text


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
    ans_pool = Pool.of(answer)
    forms = word_forms(reference, answer)
    core = first_sentence(reference) if task == "reasoning" else reference
    qnums = quantities(question)
    ref_nums = [q for q in quantities(core) if not number_match(q, qnums)]
    # the answer's own figures: one the question states ("on April 2nd") is no evidence, and would
    # otherwise pass for a relation between two reference figures (7 - 5 = 2)
    new_nums = [a for a in quantities(answer) if not any(number_match(q, [a]) for q in qnums)]
    derived = derived_matches(ref_nums, new_nums)
    matched = [q for i, q in enumerate(ref_nums) if i in derived or number_match(q, new_nums)]
    missed = len(ref_nums) - len(matched)
    allowed = 1 if len(ref_nums) >= 3 else 0
    if missed > allowed:
        return 0, "ok", f"{missed}/{len(ref_nums)} reference numbers missing"
    if contradicts(reference, answer):
        return 0, "ok", "answer states a change in the direction opposite to the reference's"

    # Coverage units: informative words plus, for sentence references, numbers (a matched number
    # is covered evidence). Location references are short spans whose numbers the gate above has
    # already decided; there the words decide the rest (see LOCATION_FIGURES in the docstring).
    if task == "comparison":
        sides = comparison_sides(reference, question)
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
    coverage = min(_coverage(words, nums, ans_pool, forms, matched) for words, nums in units)
    # Support: share of the answer's own informative words and numbers that the reference (or the
    # question) has; a concise correct answer covers little of a long reference but says nothing
    # outside it.
    ans_inf = informative(answer, question)
    if context_type == "book":
        # LaRA's book texts replace character names, so the answer's names that the reference lacks
        # (often the text's replacement names) are no evidence either way.
        neutral = proper_names(answer) - set(content_words(reference))
        ans_inf = [w for w in ans_inf if w not in neutral]
    known = Pool.of(reference, question)
    sup_candidates = new_nums if task != "location" else []
    ref_all = quantities(reference)
    sup_nums = sum(1 for a in sup_candidates if any(number_match(r, [a]) for r in ref_all))
    n_units = len(ans_inf) + len(sup_candidates)
    support = (sum(1 for w in ans_inf if known.has(w, forms[w])) + sup_nums) / n_units if n_units else 0.0
    agreement = max(coverage, support)
    if declines(answer) and agreement < REFUSAL_OVERRIDE:
        return 0, "ok", f"answer declines (coverage {coverage:.2f}, support {support:.2f})"
    if task == "comparison" and coverage == 0.0:
        return 0, "ok", f"answer covers none of one side of the comparison (support {support:.2f})"
    verdict = 1 if agreement >= level else 0
    sign = ">=" if verdict else "<"
    return verdict, "ok", f"coverage {coverage:.2f}, support {support:.2f}: max {sign} {level:.2f}"


def _coverage(words: list[str], nums: list[Quantity], ans_pool: Pool, forms: dict[str, frozenset[str]],
              matched: list[Quantity]) -> float:
    total = len(words) + len(nums)
    if not total:
        return 1.0
    hits = sum(1 for w in words if ans_pool.has(w, forms[w])) + sum(1 for q in nums if number_match(q, matched))
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
            details={"kind": KIND, "category": normalise_task(category), "lexicon": wordnet.lexicon_id()},
        )
