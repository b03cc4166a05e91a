"""Vectorised BM25 index construction, bit-identical to ``bm25s.BM25.index`` (Lucene/Robertson).

Why: bm25s builds its score matrix with a Python ``Counter`` per chunk and a Python loop over the
vocabulary for document frequencies; that was half of LaRA's chunk+index time. Here words become
integer ids in one pass (stopwords are pre-numbered so they are dropped by id, not by a set lookup
per word), and term frequencies, document frequencies and the CSC layout come from one
``np.unique`` over ``word_id * n_chunks + chunk`` keys, which sorts entries column by column, row by
row: exactly scipy's canonical CSC order. The arithmetic repeats bm25s' float64 expressions in the
same order and rounds to float32 at the same points, so scores equal bm25s' bit for bit
(tests/test_retrievers_bm25_index.py checks it against bm25s on a fixture and real LaRA documents).
numpy is imported inside the functions: this module is loaded with the retriever registry.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from typing import Any, Iterable, Sequence

_WORD = re.compile(r"\w\w+")  # bm25s' (?u)\b\w\w+\b
_WORD_ASCII = re.compile(r"\w\w+", re.ASCII)  # the same words on ASCII text, ~30% faster

#: Methods whose index is built here; others (atire, bm25l, bm25+) go through bm25s.
FAST_METHODS = ("lucene", "robertson")


def word_ids(texts: Sequence[str], stopwords: Iterable[str]) -> tuple[Any, list[int], dict[str, int]]:
    """Non-stopword word ids of all ``texts`` concatenated (int64 array), words kept per text, and
    the vocabulary ``{"": 0, word: id}`` numbered by first occurrence (bm25s' id 0 = empty token)."""
    import numpy as np

    vocab: dict[str, int] = defaultdict(itertools.count().__next__)
    vocab[""]
    for w in sorted(stopwords):
        vocab[w]
    n_skip = len(vocab)  # ids below this are the empty token or stopwords
    get = vocab.__getitem__
    find, find_ascii = _WORD.findall, _WORD_ASCII.findall
    ids: list[int] = []
    counts: list[int] = []
    for text in texts:
        text = text.lower()
        words = find_ascii(text) if text.isascii() else find(text)
        counts.append(len(words))
        ids.extend(map(get, words))
    arr = np.array(ids, dtype=np.int64)
    keep = arr >= n_skip
    if n_skip > 1:
        starts = np.repeat(np.arange(len(texts)), counts)
        lengths = np.bincount(starts[keep], minlength=len(texts)).tolist()
        arr = arr[keep]
    else:
        lengths = counts
    arr -= n_skip - 1  # the first real word gets id 1, as with stopwords never numbered
    # Words were numbered in insertion order, so the real ones are the keys after the stopwords.
    words = list(vocab)[n_skip:]
    out = {"": 0}
    out.update(zip(words, range(1, len(words) + 1)))
    return arr, lengths, out


def _idf(df: int, n: int, method: str) -> float:
    """bm25s' idf formulas (Python floats, as bm25s computes them before rounding to float32)."""
    if method == "lucene":
        return math.log(1 + (n - df + 0.5) / (df + 0.5))
    inner = (n - df + 0.5) / (df + 0.5)  # robertson, negative idf clipped to 0 as in bm25s
    return math.log(max(inner, 1))


def build_scores(ids: Any, lengths: Sequence[int], n_vocab: int, k1: float, b: float,
                 method: str = "lucene") -> dict[str, Any]:
    """bm25s' ``scores`` dict (CSC ``data``/``indices``/``indptr`` over chunks x vocabulary, and
    ``num_docs``) for word ``ids`` of all chunks concatenated, ``lengths[i]`` of them in chunk i."""
    import numpy as np

    if method not in FAST_METHODS:
        raise ValueError(f"build_scores supports {FAST_METHODS}, not {method!r}")
    n = len(lengths)
    dl = np.array(lengths, dtype=np.int64)
    avg = dl.mean()  # bm25s: np.array([len(d) for d in docs]).mean()
    rows = np.repeat(np.arange(n, dtype=np.int64), dl)
    keys, tf = np.unique(ids.astype(np.int64) * n + rows, return_counts=True)
    cols = keys // n
    rows = keys - cols * n
    df = np.bincount(cols, minlength=n_vocab)
    # idf per distinct document frequency (at most n + 1 of them), float32 like bm25s' idf_array.
    idf_of_df = np.array([0.0] + [_idf(d, n, method) for d in range(1, n + 1)], dtype=np.float32)
    idf = idf_of_df[df]
    tf32 = tf.astype(np.float32)
    # bm25s: tf / (k1 * ((1 - b) + b * l_d / l_avg) + tf), in float64 (float32 tf + float64 scalar).
    tfc = tf32 / (k1 * ((1 - b) + b * dl[rows].astype(np.float64) / avg) + tf32)
    data = (idf[cols] * tfc).astype(np.float32)
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return {"data": data, "indices": rows.astype(np.int32), "indptr": indptr, "num_docs": n}
