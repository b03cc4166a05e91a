"""Self-Route end to end through the engine against the loopback OpenAI server."""

from __future__ import annotations

import pytest

import json

from lara.config import resolve_spec
from lara.engine import run
from lara.registry import tasks
from lara.runners.self_route import UNANSWERABLE_INSTRUCTION, declined
from lara.testing.openai_server import LoopbackServer

pytestmark = pytest.mark.needs('bm25s')


def test_declined_detection():
    assert declined("unanswerable") and declined("The query is Unanswerable.") and declined(None)
    assert not declined("The code is 42.")


def test_only_declined_questions_go_to_long_context(tmp_path):
    task_params = {"lengths": [200], "n_docs": 2}
    samples = list(tasks.get("synthetic")(**task_params).samples())
    scripted = {s.question: s.id for s in samples[::3]}  # these questions are declined by "RAG"
    seen = {"rag": 0, "lc": 0}

    def responder(messages, request):
        text = messages[-1]["content"]
        if text.rstrip().endswith(UNANSWERABLE_INSTRUCTION):
            seen["rag"] += 1
            return "unanswerable" if any(q in text for q in scripted) else "RAG answer"
        seen["lc"] += 1
        return "LC answer"

    with LoopbackServer(responder=responder) as srv:
        spec = resolve_spec("synthetic", "self-route", "openai:loopback-model", task_params=task_params,
                            model_params={"base_url": srv.base_url, "max_retries": 0, "timeout_s": 5.0},
                            runner_params={"tokenizer": "words"})
        result = run(spec, output_root=tmp_path, max_connections=4)
    recs = [json.loads(line) for line in (result.run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(recs) == len(samples) and all(r["error"] is None for r in recs)
    to_lc = {r["sample_id"] for r in recs if r["extra"]["path"] == "long_context"}
    assert to_lc == set(scripted.values())
    assert seen == {"rag": len(recs), "lc": len(to_lc)}
    for r in recs:
        gen = [s for s in r["steps"] if s["kind"] != "retrieve"]
        assert r["runner"] == "self_route"
        if r["extra"]["path"] == "rag":
            assert r["answer"] == "RAG answer" and len(gen) == 1 and r["extra"]["lc_tokens"] == 0
            assert r["effective_context_tokens"] == r["extra"]["rag_tokens"] == gen[0]["input_tokens"]
        else:
            assert r["answer"] == "LC answer" and len(gen) == 2 and r["extra"]["rag_answer"] == "unanswerable"
            assert r["extra"]["lc_tokens"] > 0 and r["extra"]["rag_tokens"] > 0
            assert r["effective_context_tokens"] == r["extra"]["rag_tokens"] + r["extra"]["lc_tokens"]
            assert r["effective_context_tokens"] == sum(s["input_tokens"] for s in gen)
