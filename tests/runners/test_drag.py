"""DRAG runner: reverse rank order, demonstrations from a train split / a demo file, the budget
policies (skip, shrink_k), and the additive estimate equal to the exact count (words tokenizer)."""

from __future__ import annotations

import asyncio
import json

import pytest

from lara.protocols import ContextBlock, RunContext
from lara.runners import budget as B
from lara.runners.drag import DragRunner
from lara.tasks.gsm8k import GSM8KTask
from lara.testing.backends import RecordingBackend
from lara.testing.fixtures import write_gsm8k
from lara.tokens import SkipSample, get_tokenizer
from lara.types import Document, GenerateConfig, Message, Sample

pytestmark = pytest.mark.needs('bm25s')

TOPICS = ["apples grow on tall trees in the orchard", "the river floods every spring near the mill",
          "copper wire conducts electricity very well", "owls hunt mice at night in the barn",
          "the bakery sells fresh bread every morning", "snow covers the mountain pass in winter"]
DOC = " ".join(f"Fact {i}: {t}." for i, t in enumerate(TOPICS * 2))


class TinyTask:
    name, version, default_scorer = "tiny", "1", "exact"

    def samples(self):  # noqa: ANN201
        return []

    def messages(self, sample: Sample, context: ContextBlock) -> list[Message]:
        return [Message("user", sample.question)]


def _ctx(task, backend) -> RunContext:  # noqa: ANN001
    return RunContext(task=task, backend=backend, generate_config=GenerateConfig(max_tokens=8), params={},
                      tokenizer=get_tokenizer("words"))


def _runner(**kw) -> DragRunner:  # noqa: ANN003
    return DragRunner(**{"chunk_size": 12, "chunk_overlap": 0, "tokenizer": "words", **kw})


def test_reverse_rank_order_best_next_to_question():
    task, be = TinyTask(), RecordingBackend()
    sample = Sample("s1", "When does the river flood near the mill?", ("spring",), (Document("d", DOC),))
    runner, ctx = _runner(k=3, m=0, demos="none"), _ctx(task, be)
    out = asyncio.run(runner.run(sample, ctx))
    hits = asyncio.run(runner.search(ctx, sample, sample.question, 3))
    prompt = be.calls[0][0].content
    pos = [prompt.index(h.chunk.text.strip()) for h in hits]
    assert pos[0] > pos[1] > pos[2]  # best last
    assert prompt.split("\n")[-3].endswith(hits[0].chunk.text.strip())
    assert prompt.endswith(f"Question: {sample.question}\nAnswer:")
    assert [r.chunk_id for r in out.steps[0].retrieved] == [h.chunk.id for h in hits]
    assert out.effective_context_tokens == B.message_tokens(get_tokenizer("words"), be.calls[0])


@pytest.fixture
def gsm8k_dir(tmp_path):
    return write_gsm8k(tmp_path, n_train=8, n_test=1)


def test_gsm8k_train_demonstrations_with_their_own_documents(gsm8k_dir):
    task, be = GSM8KTask(data_dir=str(gsm8k_dir)), RecordingBackend()
    sample = next(iter(task.samples()))
    runner, ctx = _runner(k=2, m=3), _ctx(task, be)
    out = asyncio.run(runner.run(sample, ctx))
    prompt = be.calls[0][0].content
    assert out.extra["demo_source"] == "train" and len(out.extra["demo_ids"]) == 3
    demos = {d.id: d for d in task.corpus().demos}
    for did in out.extra["demo_ids"]:
        q = demos[did].question
        block = prompt.split(f"Question: {q}\n")[0].rsplit("\n\n", 1)[-1]
        assert block.count("Document [") == 2 and q not in block  # its own k docs, never itself
        assert f"Question: {q}\nAnswer: {demos[did].answer}" in prompt
    # the additive estimate equals the exact count with the words tokenizer
    tok = get_tokenizer("words")
    pieces = asyncio.run(runner.estimate_pieces(ctx, sample, 2, 3))
    assert pieces.single_call(2, 3) == B.message_tokens(tok, be.calls[0]) == out.extra["estimated_tokens"]
    assert pieces.single_call(0, 0) < pieces.single_call(1, 0) < pieces.single_call(2, 0) < pieces.single_call(2, 3)


def test_demo_file_source(tmp_path):
    f = tmp_path / "demos.jsonl"
    f.write_text(json.dumps({"question": "Where do owls hunt?", "answer": "in the barn",
                             "documents": ["Owls hunt mice in the barn.", "Owls sleep by day."]}) + "\n")
    be = RecordingBackend()
    sample = Sample("s1", "What does the bakery sell?", ("bread",), (Document("d", DOC),))
    out = asyncio.run(_runner(k=1, m=1, demos="file", demo_file=str(f)).run(sample, _ctx(TinyTask(), be)))
    prompt = be.calls[0][0].content
    assert "Document [1]: Owls hunt mice in the barn.\nQuestion: Where do owls hunt?\nAnswer: in the barn" in prompt
    assert "Owls sleep by day." not in prompt and out.extra["m"] == 1


def test_budget_skip_and_shrink_k():
    sample = Sample("s1", "When does the river flood near the mill?", ("spring",), (Document("d", DOC),))
    be = RecordingBackend()
    full = asyncio.run(_runner(k=4, m=0, demos="none").run(sample, _ctx(TinyTask(), be)))
    budget = full.effective_context_tokens - 5
    be = RecordingBackend()
    with pytest.raises(SkipSample) as exc:
        asyncio.run(_runner(k=4, m=0, demos="none", budget=budget).run(sample, _ctx(TinyTask(), be)))
    assert be.calls == [] and exc.value.report.policy == "budget_skip"
    assert exc.value.report.original_tokens == full.effective_context_tokens
    out = asyncio.run(_runner(k=4, m=0, demos="none", budget=budget, over_budget="shrink_k").run(sample, _ctx(TinyTask(), be)))
    assert out.extra["k_requested"] == 4 and out.extra["k"] == 3
    assert out.effective_context_tokens <= budget
    with pytest.raises(ValueError, match="over_budget"):
        _runner(over_budget="truncate")


def test_budget_parsing_and_iterdrag_estimate_grows_with_n():
    assert B.parse_budget("32k") == 32000 and B.parse_budget(None) is None
    p = B.PromptPieces(instruction=10, question=5, test_docs=(0, 20, 40), demo_docs=((0, 20, 40),), demo_qa=(8,))
    assert p.single_call(2, 1) == 10 + 40 + 8 + 40 + 5
    assert p.single_call(9, 1) == p.single_call(2, 1)  # saturates at the available documents
    e = [B.estimate("iterdrag", p, 2, 1, n) for n in (0, 1, 2, 3)]
    assert e[0] == p.single_call(2, 1) + 24 and e == sorted(e) and e[3] - e[2] > e[2] - e[1]
