"""Cross-encoder reranking (LaRA orders the ≤5 hybrid chunks by a reranker's score)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

from lara.types import ScoredChunk
from lara.errors import MissingDataError


class CrossEncoderReranker:
    """sentence-transformers CrossEncoder loaded from a local path (nothing fetched from a hub)."""

    def __init__(self, path: str, batch_size: int = 16, device: str = "cpu") -> None:
        if not Path(path).expanduser().exists():
            raise MissingDataError(f"reranker_path {path!r} does not exist (a local model folder)")
        self.path = str(Path(path).expanduser())
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                self._model = CrossEncoder(self.path, device=self.device)
        if not texts:
            return []
        out = self._model.predict(
            [(query, t) for t in texts], batch_size=self.batch_size, show_progress_bar=False
        )
        return [float(x) for x in out]


def rerank(reranker: Any, query: str, hits: Sequence[ScoredChunk]) -> list[ScoredChunk]:
    """Order ``hits`` by the reranker's score (descending, stable); scores become reranker scores."""
    scores = reranker.scores(query, [h.chunk.text for h in hits])
    order = sorted(range(len(hits)), key=lambda i: -scores[i])
    return [ScoredChunk(hits[i].chunk, scores[i], r) for r, i in enumerate(order)]
