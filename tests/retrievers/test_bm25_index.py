"""The vectorised BM25 index equals bm25s' own index: same vocabulary, same CSC arrays (scores
within 1e-5, in practice bit-identical) and the same top-k rankings and scores, on a fixture and on
real LaRA documents; word splitting equals the reference regex split, including non-ASCII text."""

from __future__ import annotations

import itertools
import random
import re
from collections import defaultdict

import numpy as np
import pytest

from lara.retrievers.bm25 import BM25Retriever, stopword_set
from lara.retrievers.bm25_index import word_ids
from lara.types import Chunk

pytestmark = pytest.mark.needs('bm25s')

_REF_WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's default pattern

VOCAB = ("the river flows past old mills and stone bridges while ferries carry grain wheat "
         "barley to market towns; Café crème naïve Ωmega straße İstanbul 北京 2019 x_y a b").split()


def _fixture_chunks(n: int = 40, seed: int = 3) -> list[Chunk]:
    rnd = random.Random(seed)
    chunks, pos = [], 0
    for i in range(n):
        words = [rnd.choice(VOCAB) for _ in range(rnd.randint(0, 60))]
        text = " ".join(w + rnd.choice(["", ",", ".", " —", "!"]) for w in words)
        chunks.append(Chunk(f"d:{i}", "d", i, text, pos, pos + len(text)))
        pos += len(text) + 1
    return chunks


def _reference_bm25s(chunks: list[Chunk], k1: float, b: float, method: str, stopwords: str):
    """The previous implementation: per-chunk regex split, ``bm25s.BM25.index`` on the ids."""
    import bm25s
    from bm25s.tokenization import Tokenized

    stop = stopword_set(stopwords)
    vocab: dict[str, int] = defaultdict(itertools.count().__next__)
    vocab[""]
    ids = [[vocab[w] for w in _REF_WORD.findall(c.text.lower()) if w not in stop] for c in chunks]
    model = bm25s.BM25(k1=k1, b=b, method=method)
    model.index(Tokenized(ids=ids, vocab=dict(vocab)), show_progress=False)
    return model


def _assert_same_index(ours: BM25Retriever, ref) -> None:  # noqa: ANN001
    got, want = ours._bm25.scores, ref.scores
    assert ours._bm25.vocab_dict == ref.vocab_dict
    assert got["num_docs"] == want["num_docs"]
    np.testing.assert_array_equal(got["indptr"], want["indptr"])
    np.testing.assert_array_equal(got["indices"], want["indices"])
    np.testing.assert_allclose(got["data"], want["data"], rtol=0, atol=1e-5)


def _assert_same_search(ours: BM25Retriever, ref, chunks: list[Chunk], queries: list[str], k: int) -> None:  # noqa: ANN001
    k = min(k, len(chunks))
    for q in queries:
        hits = ours.search(q, k)
        docs, scores = ref.retrieve([ours._words(q)], k=k, show_progress=False, n_threads=1)
        assert len(hits) == k
        np.testing.assert_allclose([h.score for h in hits], scores[0], rtol=0, atol=1e-5)
        # Same score arrays in, same bm25s top-k selection out: identical order, ties included.
        assert [h.chunk.id for h in hits] == [chunks[int(i)].id for i in docs[0]]


@pytest.mark.parametrize("method,stopwords,k1,b", [
    ("lucene", "en", 1.5, 0.75),
    ("lucene", "none", 1.2, 0.5),
    ("robertson", "en_plus", 0.9, 0.4),
    ("atire", "en", 1.5, 0.75),  # not vectorised: indexed through bm25s
])
def test_index_and_search_equal_bm25s_on_fixture(method: str, stopwords: str, k1: float, b: float) -> None:
    chunks = _fixture_chunks()
    ours = BM25Retriever(k1=k1, b=b, method=method, stopwords=stopwords)
    ours.index(chunks)
    ref = _reference_bm25s(chunks, k1, b, method, stopwords)
    _assert_same_index(ours, ref)
    queries = ["grain to market towns", "stone bridges over the river", "café straße 北京",
               "wheat wheat barley", "nothing matches zzz", "the and a"]
    _assert_same_search(ours, ref, chunks, queries, 5)


def test_word_ids_match_regex_split_and_stopwords() -> None:
    texts = ["Ünïcode wörds: naïve café, ΣΊΣΥΦΟΣ and ASCII_words 42 x.", "", "the of and",
             "plain ascii text, with the stopwords."]
    stop = stopword_set("en")
    ids, lengths, vocab = word_ids(texts, stop)
    inv = {i: w for w, i in vocab.items()}
    expected = [[w for w in _REF_WORD.findall(t.lower()) if w not in stop] for t in texts]
    assert lengths == [len(e) for e in expected]
    assert [inv[int(i)] for i in ids] == [w for e in expected for w in e]
    assert vocab[""] == 0 and sorted(vocab.values()) == list(range(len(vocab)))


def test_empty_and_stopword_only_chunks() -> None:
    chunks = [Chunk("d:0", "d", 0, "the and of", 0, 10), Chunk("d:1", "d", 1, "kerosene lamp", 11, 24)]
    r = BM25Retriever()
    r.index(chunks)
    hits = r.search("kerosene", 2)
    assert hits[0].chunk.id == "d:1" and hits[0].score > 0 and hits[1].score == 0
    assert r.search("the", 2)[0].score == 0  # stopword-only query scores nothing
    empty = BM25Retriever()
    empty.index([])
    assert empty.search("anything", 3) == []


def test_index_equals_bm25s_on_real_lara_documents(shared_data) -> None:  # noqa: ANN001
    from lara.retrievers.chunking import SentenceChunker
    from lara.types import Document

    root = shared_data / "lara" / "datasets"
    files = sorted(p for p in root.glob("*/*/*") if p.is_file() and p.parent.parent.name in ("32k", "128k"))
    if not files:
        pytest.skip(f"no LaRA documents under {root}")
    picked = [files[0], files[len(files) // 2], files[-1]]
    chunker = SentenceChunker(600, 100, "cl100k")
    for f in picked:
        chunks = chunker.chunk(Document(f.name, f.read_text(encoding="utf-8")))
        ours = BM25Retriever()
        ours.index(chunks)
        ref = _reference_bm25s(chunks, 1.5, 0.75, "lucene", "en")
        _assert_same_index(ours, ref)
        # Queries made of a few chunks' opening words.
        queries = [" ".join(chunks[i].text.split()[:12]) for i in range(0, len(chunks), max(1, len(chunks) // 5))]
        _assert_same_search(ours, ref, chunks, queries, 5)
