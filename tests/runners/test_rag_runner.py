"""RAG and no-context runners with a tiny task and a backend double that records messages."""

from __future__ import annotations

import asyncio
from typing import Sequence

import pytest

from lara.config import short_hash
from lara.protocols import ContextBlock, RunContext
from lara.registry import runners
from lara.tokens import get_tokenizer
from lara.testing.backends import RecordingBackend as _Recording
from lara.types import Document, GenerateConfig, Message, Sample

pytestmark = pytest.mark.needs('bm25s')

FILLER = " ".join(f"Filler sentence {i} describes the weather on day {i}." for i in range(60))
SECRET = "The treasure is buried under the crooked oak tree near the mill."
DOC_TEXT = f"{FILLER} {SECRET} {FILLER}"


class TinyTask:
    name = "tiny"
    version = "1"
    default_scorer = "exact"

    def __init__(self, docs: tuple[Document, ...]) -> None:
        self.docs = docs

    def samples(self):  # noqa: ANN201
        return []

    def messages(self, sample: Sample, context: ContextBlock) -> list[Message]:
        if context.mode == "rag":
            body = "".join(f"chunk {i} <{c.id}>: {c.text}.\n\n" for i, c in enumerate(context.chunks))
        else:
            body = ""
        return [Message("system", "You are a helpful assistant"),
                Message("user", f"{body}Question: {sample.question}")]


def RecordingBackend(context_window: int | None = None) -> _Recording:  # noqa: N802 - the double's name
    return _Recording("the oak tree", context_window=context_window, model_id="double")


def _ctx(task: TinyTask, backend: _Recording, **kw) -> RunContext:  # noqa: ANN003
    return RunContext(task=task, backend=backend, generate_config=GenerateConfig(max_tokens=16),
                      params={}, tokenizer=get_tokenizer("words"), **kw)


def _sample(sid: str = "s1", refs: tuple[str, ...] = ("crooked oak tree",)) -> Sample:
    docs = (Document("book", DOC_TEXT), Document("other", "Nothing relevant. Cats sleep a lot."))
    return Sample(sid, "Where is the treasure buried?", refs, docs)


def _runner(**params):  # noqa: ANN003, ANN202
    base = dict(retriever="bm25", chunk_size=40, chunk_overlap=10, k=3, tokenizer="words")
    return runners.get("rag")(**{**base, **params})


def test_rag_puts_retrieved_chunks_in_prompt_and_records_steps() -> None:
    sample = _sample()
    task, backend = TinyTask(sample.documents), RecordingBackend()
    out = asyncio.run(_runner().run(sample, _ctx(task, backend)))
    assert out.answer == "the oak tree"
    retrieve, gen = out.steps
    assert retrieve.kind == "retrieve" and retrieve.query == sample.question
    assert len(retrieve.retrieved) == 3 and [r.rank for r in retrieve.retrieved] == [0, 1, 2]
    assert all(r.chunk_id.split(":")[0] in {"book", "other"} for r in retrieve.retrieved)
    prompt = backend.calls[0][1].content
    assert "chunk 0 <" in prompt and "chunk 2 <" in prompt and SECRET in prompt
    assert gen.kind == "generate" and gen.prompt is None
    assert gen.prompt_hash == short_hash(backend.calls[0])
    assert out.effective_context_tokens == gen.input_tokens > 0
    assert out.extra["order"] == "score" and out.extra["answer_recall"] is True


def test_order_modes() -> None:
    sample = _sample()
    task = TinyTask(sample.documents)
    orders = {}
    for order in ("score", "doc", "reverse"):
        backend = RecordingBackend()
        out = asyncio.run(_runner(order=order).run(sample, _ctx(task, backend)))
        ids = [r.chunk_id for r in out.steps[0].retrieved]
        prompt = backend.calls[0][1].content
        orders[order] = sorted(ids, key=lambda c: prompt.index(f"<{c}>"))
        assert out.extra["order"] == order
    score_ids = orders["score"]
    assert orders["reverse"] == score_ids[::-1]
    assert orders["doc"] == sorted(score_ids, key=lambda c: (c.split(":")[0] != "book", int(c.split(":")[1])))


def test_answer_recall_false_and_none() -> None:
    task = TinyTask(())
    backend = RecordingBackend()
    runner = _runner(k=1)
    ctx = _ctx(task, backend)
    miss = Sample("s2", "What is the weather on day 3?", ("crooked oak tree",), _sample().documents)
    assert asyncio.run(runner.run(miss, ctx)).extra["answer_recall"] is False
    absent = _sample("s3", refs=("a golden chalice",))
    assert asyncio.run(runner.run(absent, ctx)).extra["answer_recall"] is None


def test_index_built_once_per_document_set_and_task_chunk_hook() -> None:
    calls = []

    class HookTask(TinyTask):
        def chunk(self, doc: Document):  # noqa: ANN201
            from lara.types import Chunk

            calls.append(doc.id)
            return [Chunk(f"{doc.id}:{i}", doc.id, i, s, 0, 0) for i, s in enumerate(doc.load_text().split(". "))]

        def retrieval_query(self, sample: Sample) -> str:
            return "crooked oak treasure"

    task, backend = HookTask(()), RecordingBackend()
    ctx = _ctx(task, backend)
    runner = _runner(k=2)

    async def both():  # noqa: ANN202
        return await asyncio.gather(runner.run(_sample("a"), ctx), runner.run(_sample("b"), ctx))

    outs = asyncio.run(both())
    assert calls == ["book", "other"]  # one index for two concurrent questions
    assert all(o.steps[0].query == "crooked oak treasure" for o in outs)
    assert outs[0].steps[0].retrieved[0].chunk_id.startswith("book:")


def test_k_reduced_to_fit_context_window_and_prompt_logging() -> None:
    sample = _sample()
    task = TinyTask(sample.documents)
    backend = RecordingBackend(context_window=80)  # room for about one 40-word chunk
    out = asyncio.run(_runner(k=5).run(sample, _ctx(task, backend, log_prompts=True)))
    assert out.extra["k"] < 5 and out.extra["k_requested"] == 5
    assert len(out.steps[0].retrieved) == out.extra["k"]
    assert out.steps[1].prompt == tuple(backend.calls[0])


def test_no_context_runner() -> None:
    sample = _sample()
    backend = RecordingBackend()
    out = asyncio.run(runners.get("no-context")().run(sample, _ctx(TinyTask(()), backend)))
    assert len(out.steps) == 1 and out.steps[0].kind == "generate"
    assert "chunk" not in backend.calls[0][1].content and sample.question in backend.calls[0][1].content
    assert out.effective_context_tokens == out.steps[0].input_tokens


def test_presets_and_bad_params() -> None:
    from lara.config import load_preset

    lara_p = load_preset("runners", "rag-lara")
    op = load_preset("runners", "op-rag")
    assert lara_p["params"]["retriever"] == "hybrid" and lara_p["params"]["order"] == "score"
    assert op["params"]["order"] == "doc" and lara_p["params"]["chunk_size"] == 600
    assert load_preset("retrievers", "hybrid")["params"]["n_bm25"] == 3
    with pytest.raises(ValueError):
        _runner(order="random")
    with pytest.raises(TypeError):
        _runner(chunks=3)
