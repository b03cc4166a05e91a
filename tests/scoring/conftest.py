"""Scoring tests' shared fixtures: a WordNet lexicon written in WordNet's own index-file format."""

from __future__ import annotations

from pathlib import Path

import pytest

from lara.scoring import lexical_match, wordnet

LICENSE_LINE = "  1 This software and database is being provided to you, the LICENSEE, by  \n"


def wordnet_files(folder: Path, synsets: list[tuple[str, int, list[str]]],
                  exceptions: dict[str, list[str]] | None = None) -> Path:
    """index.<pos> files (WordNet 3.0 layout) for ``(pos, offset, lemmas)`` synsets, most frequent
    sense first in list order; ``exceptions``: verb.exc lines (inflected form -> base forms)."""
    senses: dict[str, dict[str, list[int]]] = {p: {} for p in wordnet.POS_FILES}
    for pos, offset, lemmas in synsets:
        for lemma in lemmas:
            senses[pos].setdefault(lemma, []).append(offset)
    folder.mkdir(parents=True, exist_ok=True)
    for pos, name in wordnet.POS_FILES.items():
        lines = [LICENSE_LINE]
        for lemma, offsets in sorted(senses[pos].items()):
            # lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
            lines.append(f"{lemma} {pos} {len(offsets)} 1 @ {len(offsets)} 0 "
                         + " ".join(f"{o:08d}" for o in offsets) + "  \n")
        (folder / f"index.{name}").write_text("".join(lines), encoding="utf-8")
    (folder / "verb.exc").write_text(
        "".join(f"{w} {' '.join(b)}\n" for w, b in (exceptions or {}).items()), encoding="utf-8")
    return folder


@pytest.fixture()
def use_wordnet(monkeypatch: pytest.MonkeyPatch):
    """Point the scorer at a given WordNet folder (or none) for one test, caches cleared around it."""

    def use(folder: Path | str) -> None:
        monkeypatch.setenv("LARA_WORDNET_DIR", str(folder))
        wordnet.load.cache_clear()
        lexical_match.senses.cache_clear()

    yield use
    monkeypatch.undo()
    wordnet.load.cache_clear()
    lexical_match.senses.cache_clear()


@pytest.fixture()
def write_wordnet():
    """The writer of WordNet index files (:func:`wordnet_files`), for tests that build a lexicon."""
    return wordnet_files
