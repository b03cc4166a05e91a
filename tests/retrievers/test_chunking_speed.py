"""The chunker's speed-ups change nothing: the set-prefixed boundary regex finds the same unit ends
as the original alternation, and cl100k counting without an up-front UTF-8 check gives the same
counts (lone surrogates still counted as their replacement)."""

from __future__ import annotations

import re

import pytest

from lara.retrievers.chunking import _BOUNDARY

ORIGINAL = re.compile(r"""[.!?。！？]+["'”’)\]]*(?=\s)|\n""")

TRICKY = [
    "", "\n", "\n\n\n", "a.b. c", "Really?!\" Yes.) No.] Maybe.’\nnext", "...\n", "x...)y ...) z",
    "End.", "End. ", "。中文句子。\n第二句！ 第三？ ok", "v1.2.3 and 4.5 ) . \t.\r\n.", "?\n?",
    "Dr. Smith.\"\n\n\"Quote.\" ‘inner.’ ”x", "tab\tsep.\tnext!!!  two", "). ) .\n)",
]


def _ends(p: re.Pattern[str], text: str) -> list[int]:
    return [m.end() for m in p.finditer(text)]


@pytest.mark.parametrize("text", TRICKY)
def test_boundary_regex_matches_original(text: str) -> None:
    assert _ends(_BOUNDARY, text) == _ends(ORIGINAL, text)


def test_boundary_regex_matches_original_on_generated_text() -> None:
    import random

    rnd = random.Random(7)
    alphabet = list("ab .!?。！？\"'”’)]\n\t ") + ["  ", "\r\n"]
    for _ in range(2000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30)))
        assert _ends(_BOUNDARY, text) == _ends(ORIGINAL, text), repr(text)


def test_boundary_regex_matches_original_on_lara_documents(shared_data) -> None:  # noqa: ANN001
    files = sorted(p for p in (shared_data / "lara" / "datasets").glob("*/*/*") if p.is_file())
    if not files:
        pytest.skip("no LaRA documents in the shared data")
    for f in files[:: max(1, len(files) // 8)]:
        text = f.read_text(encoding="utf-8")
        assert _ends(_BOUNDARY, text) == _ends(ORIGINAL, text), f.name


def test_cl100k_count_handles_lone_surrogates() -> None:
    pytest.importorskip("bpe_openai")
    from lara.tokenizers_cl100k import cl100k

    tok = cl100k()
    bad = "caf\udce9 cr\ud800me"
    assert tok.count(bad) == tok.count("caf\ufffd cr\ufffdme") == len(tok.encode(bad))
    assert tok.count("plain text, twice.") == len(tok.encode("plain text, twice."))
    texts = ["plain text, twice.", bad, "", "Ünïcode 北京。"]
    assert tok.count_many(texts) == [tok.count(t) for t in texts]
    assert tok.count_many(texts[:1] + texts[2:]) == [tok.count(t) for t in texts[:1] + texts[2:]]


def test_chunks_identical_with_and_without_count_many() -> None:
    """The batched count path (cl100k) and the per-text path (a tokenizer without count_many)
    chunk alike, over-long sentences included."""
    pytest.importorskip("bpe_openai")
    from lara.retrievers.chunking import SentenceChunker
    from lara.tokenizers_cl100k import cl100k

    class CountOnly:  # cl100k without count_many
        name = "cl100k-plain"

        def __init__(self) -> None:
            self._t = cl100k()

        def count(self, text: str) -> int:
            return self._t.count(text)

        def encode(self, text: str) -> list[int]:
            return self._t.encode(text)

        def decode(self, ids) -> str:  # noqa: ANN001
            return self._t.decode(ids)

    text = " ".join(f"Sentence {i} about topic {i % 5}." for i in range(300)) + "\n" + "word " * 900 + "\nEnd."
    fast = SentenceChunker(60, 10, cl100k()).chunk_text("d", text)
    plain = SentenceChunker(60, 10, CountOnly()).chunk_text("d", text)
    assert fast == plain and len(fast) > 20
