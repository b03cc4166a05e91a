"""Princeton WordNet 3.0 read from its index files: which words are synonyms.

Why: LaRA's GPT-4o judge accepts a paraphrase ("perplexed" for "puzzled", "bigger" for "larger",
"disdain" for "contempt"); word overlap alone cannot. WordNet lists the words that name one sense,
without any model or download: Debian's ``wordnet-base`` package ships the files
(``/usr/share/wordnet``; ``$LARA_WORDNET_DIR`` points elsewhere). Without them the lexicon is
empty and matching falls back to word keys alone; :func:`lexicon_id` says which was used, so a
score records it.

Only each lemma's most frequent senses count (WordNet orders them by corpus frequency): rare
senses would make common words synonyms of almost anything. Links between senses (similar-to,
derivation, also-see) are not followed: measured on the development models they credited loosely
related wording more often than paraphrases (see benchmarks/judge_fidelity.py).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

DEFAULT_DIRS = ("/usr/share/wordnet", "/usr/share/wordnet/dict", "/usr/local/share/wordnet")
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
SENSES = 2  # most frequent senses kept per (lemma, part of speech)

# Morphy's detachment rules (WordNet's morphy(7)): part of speech -> (suffix, replacement).
DETACH = {
    "n": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y")),
    "v": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
          ("ing", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "r": (),
}

#: A sense: (part of speech, synset offset). Two words that share one are synonyms.
Concept = tuple[str, int]


def wordnet_dir() -> Path | None:
    """The folder holding WordNet's ``index.<pos>`` files, None when absent."""
    env = os.environ.get("LARA_WORDNET_DIR")
    for d in [env] if env else DEFAULT_DIRS:
        if d and all((Path(d) / f"index.{name}").is_file() for name in POS_FILES.values()):
            return Path(d)
    return None


class WordNet:
    """Lemmas and their frequent senses from a WordNet database folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index: dict[str, dict[str, tuple[int, ...]]] = {p: {} for p in POS_FILES}
        self.exceptions: dict[str, dict[str, tuple[str, ...]]] = {p: {} for p in POS_FILES}
        for pos, name in POS_FILES.items():
            for line in _lines(folder / f"index.{name}"):
                f = line.split()
                offsets = tuple(int(o) for o in f[6 + int(f[3]):][:SENSES])
                self.index[pos][f[0]] = offsets
            if (folder / f"{name}.exc").is_file():
                for line in _lines(folder / f"{name}.exc"):
                    f = line.split()
                    if len(f) >= 2:
                        self.exceptions[pos][f[0]] = tuple(f[1:])

    def lemmas(self, word: str, pos: str) -> list[str]:
        """Base forms of ``word`` as ``pos`` that WordNet lists (morphy: exceptions, then suffixes)."""
        index = self.index[pos]
        found = [w for w in self.exceptions[pos].get(word, ()) if w in index]
        if word in index and word not in found:
            found.append(word)
        for suffix, repl in DETACH[pos]:
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                base = word[: len(word) - len(suffix)] + repl
                if base in index and base not in found:
                    found.append(base)
        return found

    def concepts(self, word: str) -> frozenset[Concept]:
        """The frequent senses of the word's lemmas in every part of speech."""
        out: set[Concept] = set()
        for pos in POS_FILES:
            for lemma in self.lemmas(word, pos):
                out.update((pos, offset) for offset in self.index[pos][lemma])
        return frozenset(out)


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip() and not line.startswith(" "):  # license header lines start with spaces
                yield line.rstrip("\n")


@lru_cache(maxsize=1)
def load() -> WordNet | None:
    """The machine's WordNet (read once per process), None when its files are not installed."""
    folder = wordnet_dir()
    if folder is None:
        log.info("WordNet files not found (apt install wordnet-base): lexical matching without synonyms")
        return None
    return WordNet(folder)


def lexicon_id() -> str:
    """What word matching used, for a score's details: ``wordnet-3.0`` or ``none``."""
    return "wordnet-3.0" if load() is not None else "none"
