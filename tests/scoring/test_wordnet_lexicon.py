"""WordNet read from its database files: a small lexicon written in WordNet's own index format."""

from __future__ import annotations

from pathlib import Path

import pytest

from lara.scoring import lexical_match, wordnet

SYNSETS = [
    ("v", 100, ["puzzle", "perplex", "mystify"]),
    ("a", 200, ["perplexed"]),
    ("n", 300, ["bank", "depository"]),  # sense 1
    ("n", 301, ["bank", "riverside"]),  # sense 2
    ("n", 302, ["bank", "array"]),  # sense 3: rare, not kept
    ("v", 400, ["see", "understand"]),
]


def test_lemmas_follow_morphy_exceptions_then_suffixes(tmp_path: Path, use_wordnet, write_wordnet) -> None:
    use_wordnet(write_wordnet(tmp_path / "wn", SYNSETS, {"saw": ["see"]}))
    wn = wordnet.load()
    assert wn is not None and wordnet.lexicon_id() == "wordnet-3.0"
    assert wn.lemmas("puzzled", "v") == ["puzzle"]  # -ed -> -e
    assert wn.lemmas("perplexing", "v") == ["perplex"]  # -ing -> ''
    assert wn.lemmas("saw", "v") == ["see"]  # exception list
    assert wn.lemmas("banks", "n") == ["bank"]
    assert wn.lemmas("license", "n") == []  # the license header is not a lemma


def test_synonyms_share_a_frequent_sense_only(tmp_path: Path, use_wordnet, write_wordnet) -> None:
    use_wordnet(write_wordnet(tmp_path / "wn", SYNSETS, {"mystified": ["mystify"]}))
    pool = lexical_match.Pool.of("Winterbourne is puzzled by Daisy.")
    assert pool.has("perple", frozenset({"perplexed"}))  # via the verb sense puzzle/perplex
    assert lexical_match.Pool.of("the riverside").has("bank", frozenset({"bank"}))  # sense 2 kept
    assert not lexical_match.Pool.of("an array").has("bank", frozenset({"bank"}))  # sense 3 dropped
    assert lexical_match.Pool.of("mystified").has("perple", frozenset({"perplexed"}))  # exception list
    assert not lexical_match.Pool.of("the depository").has("puzzl", frozenset({"puzzled"}))


def test_magnitude_words_are_never_synonyms(tmp_path: Path, use_wordnet, write_wordnet) -> None:
    """WordNet puts "million" and "billion" in one sense; magnitudes are the number rules' job."""
    use_wordnet(write_wordnet(tmp_path / "wn", [("n", 500, ["million", "billion", "zillion"])]))
    assert lexical_match.senses("billion") == frozenset()
    assert not lexical_match.Pool.of("$60.9 billion").has("millio", frozenset({"million"}))


def test_missing_wordnet_means_plain_keys(tmp_path: Path, use_wordnet, write_wordnet) -> None:
    use_wordnet(tmp_path / "absent")
    assert wordnet.load() is None and wordnet.lexicon_id() == "none"
    assert lexical_match.senses("puzzled") == frozenset()
    pool = lexical_match.Pool.of("Winterbourne is puzzled by Daisy.")
    assert pool.has("puzzl") and not pool.has("perple", frozenset({"perplexed"}))
