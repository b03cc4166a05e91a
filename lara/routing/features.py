"""What the question-level router sees: a sparse, named feature vector built with the standard library.

Every feature is computable before the model answers: the context length in tokens, the context
type and question category when the app knows them (the category otherwise comes from the shipped
question classifier as probabilities), cheap question features (length, hashed word uni/bigrams),
and, when the app has already retrieved, the scores of its top chunks (how far the best BM25 chunk
stands out from the next ones, how similar the best dense chunk is). The same function builds the
training rows (fit time) and the request vector (decision time), so the two can never disagree.
Changing a feature changes :data:`FEATURE_VERSION`; a policy refuses vectors of another version.
"""

from __future__ import annotations

import math
import re
import zlib
from typing import Mapping, Sequence

from lara.vocabulary import CATEGORIES

FEATURE_VERSION = 1
CONTEXT_TYPES = ("book", "financial", "paper")
# ln(tokens / REF_TOKENS) centres the length feature between LaRA's 32k and 128k buckets.
REF_TOKENS = 50_000
# LaRA cuts prompts above 127k tokens in the middle (the LaRA paper's code, arXiv 2502.09977): beyond it LC loses text.
TRUNCATE_TOKENS = 127_000
# LaRA's hybrid retriever lists its BM25 hits first, then the dense hits not already listed.
HYBRID_BM25 = 3
HYBRID_K = 5
RETRIEVERS = ("bm25", "dense", "hybrid")
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def hashed_ngrams(text: str, buckets: int) -> dict[str, float]:
    """Word unigrams and bigrams hashed (CRC-32, stable across processes) into ``buckets``,
    L2-normalised so a long question does not weigh more than a short one."""
    if buckets <= 0:
        return {}
    w = words(text)
    grams = w + [f"{a} {b}" for a, b in zip(w, w[1:])]
    counts: dict[str, float] = {}
    for g in grams:
        key = f"q{zlib.crc32(g.encode('utf-8')) % buckets}"
        counts[key] = counts.get(key, 0.0) + 1.0
    norm = math.sqrt(sum(v * v for v in counts.values())) or 1.0
    return {k: v / norm for k, v in counts.items()}


def split_scores(retriever: str | None, scores: Sequence[float],
                 n_bm25: int = HYBRID_BM25) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(BM25 scores, dense scores) of a retriever's top hits, best first.

    ``hybrid`` is lara's (and LaRA's) hybrid: its first ``n_bm25`` hits are BM25 hits, the rest are
    the dense hits that BM25 had not already returned. Other retrievers' scores are not comparable
    to either and are ignored (an empty pair)."""
    s = tuple(float(x) for x in scores)
    kind = (retriever or "").lower()
    if kind == "bm25":
        return s, ()
    if kind in ("dense", "minilm"):
        return (), s
    if kind == "hybrid":
        return s[:n_bm25], s[n_bm25:]
    return (), ()


def retrieval_features(bm25: Sequence[float], dense: Sequence[float], hybrid_missing: int | None = None) -> dict[str, float]:
    """Retrieval confidence: a best chunk that stands far above the others suggests the answer sits
    in one place that retrieval found (RAG's case); flat scores suggest it did not."""
    f: dict[str, float] = {}
    if bm25:
        top = max(bm25[0], 1e-6)
        f["bm25_top"] = math.log1p(top)
        if len(bm25) > 1:
            f["bm25_margin"] = (bm25[0] - bm25[1]) / top
        if len(bm25) > 2:
            f["bm25_spread"] = (bm25[0] - bm25[-1]) / top
    if dense:
        f["dense_top"] = dense[0]
        if len(dense) > 1:
            f["dense_margin"] = dense[0] - dense[1]
    if hybrid_missing is not None:
        # dense hits that duplicated a BM25 hit: the two retrievers agree on a chunk
        f["hybrid_agree"] = float(hybrid_missing)
    if not f:
        f["no_retrieval"] = 1.0
    return f


def position_features(positions: Sequence[float], n_bm25: int, context_tokens: int,
                      cut_tokens: int = TRUNCATE_TOKENS) -> dict[str, float]:
    """Where the retrieved chunks sit in the context (0 = start, 1 = end): long-context models read
    the middle of a long context worst, and a prompt cut in the middle (LaRA's rule beyond 127k
    tokens) loses it altogether; chunks spread over the whole text suggest an answer that needs
    several places, which a few chunks rarely cover."""
    if not positions:
        return {}
    top = min(max(float(positions[0]), 0.0), 1.0)
    head = [min(max(float(p), 0.0), 1.0) for p in positions[: max(1, n_bm25)]]
    f = {"pos_mid": 1.0 - abs(2.0 * top - 1.0), "pos_spread": max(head) - min(head)}
    if context_tokens > cut_tokens:
        half_dropped = (context_tokens - cut_tokens) / (2.0 * context_tokens)
        f["pos_cut"] = 1.0 if abs(top - 0.5) < half_dropped else 0.0
    return f


# ln-length range the feature may take: LaRA's documents span 12k-134k tokens, so a logistic model
# fitted on them must not extrapolate its length trend to a 50-token or a 10M-token context.
Z_RANGE = (math.log(4_000 / REF_TOKENS), math.log(250_000 / REF_TOKENS))


def context_z(context_tokens: int) -> float:
    z = math.log(max(int(context_tokens), 1) / REF_TOKENS)
    return min(max(z, Z_RANGE[0]), Z_RANGE[1])


def vector(
    *,
    context_tokens: int,
    category_probs: Mapping[str, float],
    context_type: str | None,
    question: str | None,
    retriever: str | None = None,
    retrieval_scores: Sequence[float] = (),
    retrieval_positions: Sequence[float] = (),
    hash_buckets: int = 0,
) -> dict[str, float]:
    """The sparse feature vector (name -> value) of one request; the intercept is implicit."""
    z = context_z(context_tokens)
    f: dict[str, float] = {"ctx": z, "ctx2": z * z,
                           "trunc": max(0.0, math.log(max(context_tokens, 1) / TRUNCATE_TOKENS))}
    ctype = context_type if context_type in CONTEXT_TYPES else None
    if ctype:
        f[f"type={ctype}"] = 1.0
        f[f"type={ctype}*ctx"] = z
    for c in CATEGORIES:
        p = float(category_probs.get(c, 0.0))
        if p:
            f[f"cat={c}"] = p
            f[f"cat={c}*ctx"] = p * z
            if ctype:
                f[f"cat={c}*type={ctype}"] = p
    bm25, dense = split_scores(retriever, retrieval_scores)
    missing = None
    if (retriever or "").lower() == "hybrid" and retrieval_scores:
        missing = max(0, HYBRID_K - len(retrieval_scores))
    r = retrieval_features(bm25, dense, missing)
    if retrieval_positions and (bm25 or dense):
        r.update(position_features(retrieval_positions, len(bm25) or 1, context_tokens))
    f.update(r)
    for c in CATEGORIES:
        p = float(category_probs.get(c, 0.0))
        if p:
            for name in ("bm25_margin", "dense_top", "hybrid_agree", "pos_mid", "pos_spread"):
                if name in r:
                    f[f"cat={c}*{name}"] = p * r[name]
    if question:
        f["q_words"] = math.log1p(len(words(question))) / 3.0
        f.update(hashed_ngrams(question, hash_buckets))
    return f


def dot(weights: Mapping[str, float], x: Mapping[str, float]) -> float:
    return sum(v * weights.get(k, 0.0) for k, v in x.items())


def sigmoid(t: float) -> float:
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)
