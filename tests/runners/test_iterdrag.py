"""IterDRAG against a scripted loopback OpenAI server: exact token accounting, forced final answer,
dedup of re-retrieved chunks, malformed steps, guided decoding requests."""

from __future__ import annotations

import json

from lara.config import resolve_spec
from lara.engine import run
from lara.runners.iterdrag import DECIDE, FORCE, INTERMEDIATE, parse_action, parse_prefixed, _INTER
from lara.testing.openai_server import LoopbackServer, word_count

PARAMS = {"k": 2, "m": 1, "n": 3, "chunk_size": 60, "chunk_overlap": 0, "tokenizer": "words"}


def scripted(decide: str = "Follow up: What is the access code?"):
    def responder(messages, request):
        last = messages[-1]["content"]
        if last.endswith(INTERMEDIATE):
            return "Intermediate answer: 1234"
        if last.endswith(FORCE):
            return "So the final answer is: 1234"
        assert last.endswith(DECIDE)
        return decide
    return responder


def _run(srv, tmp_path, params=None, model_params=None):
    spec = resolve_spec("synthetic", "iterdrag", "openai:loop",
                        task_params={"lengths": [300], "n_docs": 2}, runner_params={**PARAMS, **(params or {})},
                        model_params={"base_url": srv.base_url, **(model_params or {})}, limit=1)
    res = run(spec, output_root=tmp_path, use_cache=False)
    return [json.loads(line) for line in (res.run_dir / "samples.jsonl").open()]


def test_token_accounting_forced_final_and_dedup(tmp_path):
    with LoopbackServer(responder=scripted()) as srv:
        (rec,) = _run(srv, tmp_path)
        requests = list(srv.requests)
    assert rec["error"] is None
    kinds = [s["kind"] for s in rec["steps"] if s["kind"] != "retrieve"]
    assert kinds == ["follow_up", "intermediate"] * 3 + ["final_forced"]  # n=3, then forced
    assert rec["n_calls"] == len(requests) == 7
    server_tokens = sum(word_count(m["content"]) for r in requests for m in r["messages"])
    assert rec["effective_context_tokens"] == server_tokens
    assert rec["effective_context_tokens"] == sum(s["input_tokens"] for s in rec["steps"])
    assert rec["answer"] == "1234" and rec["extra"]["forced_final"] is True
    its = rec["extra"]["iterations"]
    assert len(its) == 3 and all(it["sub_query"] == "What is the access code?" for it in its)
    assert its[1]["retrieved"] == its[0]["retrieved"] and its[1]["new"] == [] and its[2]["new"] == []
    retrieves = [s for s in rec["steps"] if s["kind"] == "retrieve"]
    initial = {r["chunk_id"] for r in retrieves[0]["retrieved"]}
    assert set(its[0]["new"]) == set(its[0]["retrieved"]) - initial
    assert rec["extra"]["documents_shown"] == len(initial | set(its[0]["retrieved"]))
    last = requests[-1]["messages"][-1]["content"]
    test_part = last.rsplit("\nSo the final answer is: ", 1)[1]  # after the demonstration's answer
    assert test_part.count("Document [") == rec["extra"]["documents_shown"]  # re-retrieved chunks not repeated
    assert last.count("Follow up: What is the access code?") == 3
    # every recorded step input equals the server's count for that request
    calls = [s for s in rec["steps"] if s["kind"] != "retrieve"]
    assert [s["input_tokens"] for s in calls] == [sum(word_count(m["content"]) for m in r["messages"]) for r in requests]


def test_early_final_answer_stops_the_loop(tmp_path):
    with LoopbackServer(responder=scripted("So the final answer is: 4321")) as srv:
        (rec,) = _run(srv, tmp_path)
    assert [s["kind"] for s in rec["steps"]] == ["retrieve", "final"]
    assert rec["answer"] == "4321" and rec["extra"]["forced_final"] is False


def test_malformed_step_is_recorded_not_fatal(tmp_path):
    with LoopbackServer(responder=scripted("I am not sure what to do here")) as srv:
        (rec,) = _run(srv, tmp_path)
    assert rec["error"] is None
    kinds = [s["kind"] for s in rec["steps"] if s["kind"] != "retrieve"]
    assert kinds == ["malformed", "final_forced"]
    assert rec["extra"]["malformed_steps"] == 1 and rec["answer"] == "1234"


def test_guided_regex_sent_when_backend_supports_it(tmp_path):
    with LoopbackServer(responder=scripted()) as srv:
        _run(srv, tmp_path, params={"n": 1}, model_params={"guided_decoding": True})
        bodies = list(srv.requests)
    assert all("structured_outputs" in b and "stop" not in b for b in bodies)
    assert "Follow up" in bodies[0]["structured_outputs"]["regex"]
    with LoopbackServer(responder=scripted()) as srv:
        _run(srv, tmp_path / "plain", params={"n": 1})
        bodies = list(srv.requests)
    assert all("structured_outputs" not in b for b in bodies) and "stop" in bodies[0]


def test_budget_stop_keeps_effective_length_within_budget(tmp_path):
    with LoopbackServer(responder=scripted()) as srv:
        (free,) = _run(srv, tmp_path / "free")
    budget = free["effective_context_tokens"] // 2
    with LoopbackServer(responder=scripted()) as srv:
        (rec,) = _run(srv, tmp_path / "tight", params={"budget": budget})
    assert rec["extra"]["budget_stop"] is True
    assert rec["effective_context_tokens"] <= budget < free["effective_context_tokens"]


def test_parsers_are_tolerant():
    assert parse_action("  follow-up: who?\nIntermediate answer: x") == ("follow_up", "who?")
    assert parse_action("Thinking... So the final answer is: Paris.") == ("final", "Paris.")
    assert parse_action("nonsense")[0] == "malformed"
    assert parse_prefixed("Paris", _INTER) == (False, "Paris")
