"""Chunker: exact offsets, stable ids, size limits, whole-sentence overlap, long-sentence split."""

from __future__ import annotations

import pytest

from lara.retrievers.chunking import SentenceChunker, pack_units, sentence_spans, Unit
from lara.tokens import get_tokenizer
from lara.types import Document


def _text(n: int) -> str:
    return " ".join(f"Sentence number {i} talks about topic {i % 7} here." for i in range(n))


def test_spans_tile_text_and_split_on_sentences_and_lines() -> None:
    text = "First one. Second one!\nA table row 1 2 3\nLast? yes"
    spans = sentence_spans(text)
    assert "".join(text[a:b] for a, b in spans) == text
    assert [text[a:b].strip() for a, b in spans] == [
        "First one.", "Second one!", "A table row 1 2 3", "Last?", "yes"
    ]


def test_chunks_have_exact_offsets_ids_and_respect_size() -> None:
    tok = get_tokenizer("words")
    text = _text(80)
    chunks = SentenceChunker(size=40, overlap=10, tokenizer="words").chunk(Document("d1", text))
    assert len(chunks) > 5
    for i, c in enumerate(chunks):
        assert c.id == f"d1:{i}" and c.index == i and c.doc_id == "d1"
        assert text[c.start : c.end] == c.text
        assert tok.count(c.text) <= 40
        # chunks start and end on sentence boundaries
        assert c.text.startswith("Sentence") and c.text.endswith("here.")
    # the whole text is covered
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start <= a.end  # no gap


def test_overlap_is_whole_sentences_within_budget() -> None:
    tok = get_tokenizer("words")
    text = _text(60)
    chunks = SentenceChunker(size=40, overlap=10, tokenizer="words").chunk(Document("d", text))
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, "consecutive chunks overlap"
        shared = text[b.start : a.end]
        assert shared.endswith("here.")
        assert 0 < tok.count(shared) <= 10
        assert b.start > a.start  # progress


def test_zero_overlap_partitions_sentences() -> None:
    text = _text(30)
    chunks = SentenceChunker(size=30, overlap=0, tokenizer="words").chunk(Document("d", text))
    for a, b in zip(chunks, chunks[1:]):
        assert b.start >= a.end


def test_long_sentence_is_split_by_tokens() -> None:
    tok = get_tokenizer("words")
    long = " ".join(f"w{i}" for i in range(95))
    text = f"Short start. {long}. Short end."
    chunks = SentenceChunker(size=20, overlap=5, tokenizer="words").chunk(Document("x", text))
    assert all(tok.count(c.text) <= 20 for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    joined = " ".join(c.text for c in chunks)
    for i in range(95):
        assert f"w{i}" in joined


def test_pack_units_progress_when_overlap_cannot_fit() -> None:
    units = [Unit(i, i + 1, 9) for i in range(5)]
    ranges = pack_units(units, size=10, overlap=9)
    assert ranges == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError):
        SentenceChunker(size=10, overlap=10, tokenizer="words")
    with pytest.raises(ValueError):
        SentenceChunker(size=0, overlap=0, tokenizer="words")


def test_cl100k_chunks_real_lara_document(shared_data) -> None:
    files = sorted((shared_data / "lara" / "datasets" / "32k" / "paper").glob("*"))
    assert files
    text = files[0].read_text(encoding="utf-8")
    tok = get_tokenizer("cl100k")
    chunks = SentenceChunker(600, 100, "cl100k").chunk(Document("p", text))
    assert all(text[c.start : c.end] == c.text for c in chunks)
    sizes = [tok.count(c.text) for c in chunks]
    assert max(sizes) <= 605  # unit counts sum, BPE merges across units differ by a token or two
    assert sum(sizes) / len(sizes) > 400
