"""Word normalisation and matching for the lexical LaRA scorer (:mod:`lara.scoring.lexical`).

A text becomes content words, each keyed by a light stem cut to its first 6 letters (plurals,
tenses and derivations such as "conventional" ~ "convention" share a key) and remembered with its
surface forms. A word of one text is *found* in another when their keys are equal or, with WordNet
installed (:mod:`lara.scoring.wordnet`), when one of its forms shares a frequent sense with a word
of the other text: the judge reads meaning, so "perplexed" states "puzzled" and "contempt" states
"disdain".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from lara.scoring import wordnet

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
    approximately approx around roughly nearly almost
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

PREFIX = 6  # words are compared on their first 6 letters after stemming (conflation by truncation)


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


def _tokens(text: str) -> list[tuple[str, str]]:
    """(key, surface word) for every content word, in text order."""
    out = []
    for w in re.findall(r"[a-z0-9]+(?:'[a-z]+)?", fold(text)):
        w = w.split("'")[0]
        # numbers, written in digits or words ("twelve"), are quantities that the number rules
        # compare by value (lara.scoring.lexical_numbers), never words
        if w in STOP or len(w) < 2 or w.isdigit() or w in NUMBER_WORDS:
            continue
        out.append((stem(w)[:PREFIX], w))
    return out


def content_words(text: str) -> list[str]:
    """The keys of the text's content words, in order (repeats kept)."""
    return [key for key, _ in _tokens(text)]


def word_forms(*texts: str) -> dict[str, frozenset[str]]:
    """key -> the surface forms the texts spell it with."""
    forms: dict[str, set[str]] = {}
    for text in texts:
        for key, surface in _tokens(text):
            forms.setdefault(key, set()).add(surface)
    return {k: frozenset(v) for k, v in forms.items()}


# Magnitude words are never synonyms (the number rules compare magnitudes): WordNet lists
# "million" and "billion" under one sense ("a very large indefinite number").
MAGNITUDES = frozenset("hundred hundreds thousand thousands million millions billion billions trillion "
                       "trillions percent".split()) | frozenset(NUMBER_WORDS)


@lru_cache(maxsize=65536)
def senses(surface: str) -> frozenset[wordnet.Concept]:
    """A surface word's frequent WordNet senses (empty without WordNet, for digits and magnitudes)."""
    wn = wordnet.load()
    if wn is None or surface in MAGNITUDES or surface.isdigit():
        return frozenset()
    return wn.concepts(surface)


@dataclass(frozen=True)
class Pool:
    """The words of one or more texts, to ask whether another text's word is stated in them."""

    keys: frozenset[str]
    concepts: frozenset[wordnet.Concept]

    @classmethod
    def of(cls, *texts: str) -> "Pool":
        forms = word_forms(*texts)
        return cls(frozenset(forms), frozenset(c for fs in forms.values() for f in fs for c in senses(f)))

    def has(self, key: str, forms: frozenset[str] = frozenset()) -> bool:
        """Same key, or a surface form sharing a frequent sense with a word of the pool."""
        return key in self.keys or any(not senses(f).isdisjoint(self.concepts) for f in forms)
