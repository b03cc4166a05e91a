"""IterDRAG: the paper's interleaved demonstration format (exact prompts against hand-written
strings), chains from the task, a demo file or generated once by the model (cached, deduplicated,
outside per-sample effective length), and the follow-up loop against the loopback server: exact
token accounting, forced final answer, dedup of re-retrieved chunks, malformed steps, guided
decoding, budget stop."""

from __future__ import annotations

import asyncio
import json

import pytest

from lara.config import resolve_spec
from lara.engine import run
from lara.tasks.demos import DataError
from lara.protocols import ContextBlock, RunContext
from lara.runners import budget as B
from lara.runners.iterdrag import IterDragRunner
from lara.runners.selfask import _INTER, parse_action, parse_prefixed, prompts
from lara.testing.backends import RecordingBackend
from lara.testing.fixtures import write_gsm8k
from lara.testing.openai_server import LoopbackServer, word_count
from lara.tokens import get_tokenizer
from lara.types import Document, GenerateConfig, Message, Sample

pytestmark = pytest.mark.needs('bm25s')

PARAMS = {"k": 2, "m": 1, "n": 3, "chunk_size": 60, "chunk_overlap": 0, "tokenizer": "words"}

# The exact-layout fixture: retrieval is unambiguous by construction (BM25 with English stopwords:
# every query shares content words with exactly one best document).
DEMO = Sample("demo", "Which colour is the sedan that the sister of Bo owns?", ("red",),
              (Document("d1", "Bo has one sister, Cy."), Document("d2", "Cy drives a red sedan."),
               Document("d3", "Owls hunt mice at night.")),
              {"context_type": "tiny", "decomposition": [["Who is the sister of Bo?", "Cy"],
                                                         ["Which colour is the sedan Cy drives?", "red"]]})
TEST = Sample("test", "Which river flows past Ada's birthplace?", ("the Tyne",),
              (Document("t1", "Ada was born in Hexham."), Document("t2", "The Tyne flows past Hexham."),
               Document("t3", "Bakers bake bread daily.")), {"context_type": "tiny"})

INSTRUCTION = (
    "You are an expert in question answering. You are given example sets of documents, a question, "
    "follow-up questions with their intermediate answers, and the final answer; the documents may or "
    "may not be relevant. Then you are given documents and a question to answer in the same format: "
    "ask one follow-up question at a time as 'Follow up: <question>', answer it as 'Intermediate "
    "answer: <answer>', and finish with 'So the final answer is: <answer>'."
)
DEMO_BLOCK = """Document [1]: Cy drives a red sedan.
Document [2]: Bo has one sister, Cy.
Question: Which colour is the sedan that the sister of Bo owns?
Follow up: Who is the sister of Bo?
Intermediate answer: Cy
Follow up: Which colour is the sedan Cy drives?
Intermediate answer: red
So the final answer is: red"""
EXPECTED_DECIDE = f"""{INSTRUCTION}

{DEMO_BLOCK}

Document [1]: The Tyne flows past Hexham.
Question: Which river flows past Ada's birthplace?

Continue with 'Follow up: <sub-question>' if more information is needed, otherwise write 'So the final answer is: <answer>'."""
EXPECTED_INTERMEDIATE = f"""{INSTRUCTION}

{DEMO_BLOCK}

Document [1]: Ada was born in Hexham.
Document [2]: The Tyne flows past Hexham.
Question: Which river flows past Ada's birthplace?
Follow up: Where was Ada born?

Answer the last follow-up question in one line, starting with 'Intermediate answer:'."""
EXPECTED_FORCED = f"""{INSTRUCTION}

{DEMO_BLOCK}

Document [1]: Ada was born in Hexham.
Document [2]: The Tyne flows past Hexham.
Question: Which river flows past Ada's birthplace?
Follow up: Where was Ada born?
Intermediate answer: Hexham

Now write the final answer in one line, starting with 'So the final answer is:'."""


class TinyTask:
    """Two samples; the demonstration's decomposition comes from the task hook, as in synthetic."""

    name, version, default_scorer = "tiny", "1", "exact"

    def samples(self):  # noqa: ANN201
        return [TEST, DEMO]

    def messages(self, sample: Sample, context: ContextBlock) -> list[Message]:
        return [Message("user", sample.question)]

    def decomposition(self, sample: Sample):  # noqa: ANN201
        chain = sample.metadata.get("decomposition")
        return tuple(map(tuple, chain)) if chain else None


def self_ask(decide: str, intermediate: str = "Intermediate answer: Hexham", final: str = "So the final answer is: the Tyne"):
    """A model that follows the format: the answer depends on the action line the prompt ends with."""
    p = prompts()

    def respond(messages, config=None):  # noqa: ANN001, ANN202
        last = messages[-1].content if isinstance(messages[-1], Message) else messages[-1]["content"]
        if last.endswith(p.answer_follow_up):
            return intermediate
        if last.endswith(p.force):
            return final
        assert last.endswith(p.decide), last[-200:]
        return decide
    return respond


def _ctx(task, backend) -> RunContext:  # noqa: ANN001
    return RunContext(task=task, backend=backend, generate_config=GenerateConfig(max_tokens=8), params={},
                      tokenizer=get_tokenizer("words"))


def _tiny_runner(**kw) -> IterDragRunner:  # noqa: ANN003
    return IterDragRunner(**{"k": 1, "m": 1, "n": 1, "demos": "task", "chunk_size": 50, "chunk_overlap": 0,
                             "tokenizer": "words", **kw})


def test_exact_prompts_of_every_call_in_the_paper_format():
    be = RecordingBackend(self_ask("Follow up: Where was Ada born?"))
    out = asyncio.run(_tiny_runner().run(TEST, _ctx(TinyTask(), be)))
    prompts_sent = [c[0].content for c in be.calls]
    assert prompts_sent == [EXPECTED_DECIDE, EXPECTED_INTERMEDIATE, EXPECTED_FORCED]
    assert out.answer == "the Tyne" and out.extra["forced_final"] is True
    # per step: sub-query, retrieved chunk ids, intermediate answer
    assert [(s.kind, s.query) for s in out.steps] == [
        ("retrieve", TEST.question), ("follow_up", "Where was Ada born?"), ("retrieve", "Where was Ada born?"),
        ("intermediate", "Where was Ada born?"), ("final_forced", None)]
    assert [r.chunk_id for r in out.steps[0].retrieved] == ["t2:0"]
    assert [r.chunk_id for r in out.steps[2].retrieved] == ["t1:0"]
    assert out.extra["iterations"] == [{"sub_query": "Where was Ada born?", "retrieved": ["t1:0"], "new": ["t1:0"],
                                        "intermediate": "Hexham", "well_formed": True}]
    assert out.extra["demo_chains"] == [{"id": "demo", "chain_source": "task", "steps": [
        {"sub_query": "Who is the sister of Bo?", "retrieved": ["d1:0"], "intermediate": "Cy"},
        {"sub_query": "Which colour is the sedan Cy drives?", "retrieved": ["d2:0"], "intermediate": "red"}]}]
    assert out.extra["demo_chain_generation"]["calls"] == 0
    tok = get_tokenizer("words")
    assert out.effective_context_tokens == sum(B.message_tokens(tok, c) for c in be.calls)


def test_estimate_equals_the_exact_first_prompt_with_the_words_tokenizer():
    be = RecordingBackend(self_ask("unused", final="So the final answer is: x"))
    runner, ctx = _tiny_runner(n=0), _ctx(TinyTask(), be)
    asyncio.run(runner.run(TEST, ctx))  # n=0: the only call is the forced final answer on the first prompt
    pieces = asyncio.run(runner.estimate_pieces(ctx, TEST, 1, 1))
    assert pieces.single_call(1, 1) == B.message_tokens(get_tokenizer("words"), be.calls[0])
    assert pieces.single_call(0, 1) < pieces.single_call(1, 1)


def test_demo_file_chain_with_its_own_documents(tmp_path):
    f = tmp_path / "demos.jsonl"
    f.write_text(json.dumps({
        "question": "Where does the pet of Lu sleep?", "answer": "in the attic",
        "documents": ["Lu owns a cat named Mo.", "Gulls nest on cliffs."],
        "chain": [{"follow_up": "Which pet does Lu own?", "intermediate": "a cat named Mo",
                   "documents": ["Mo sleeps in the attic."]},
                  {"follow_up": "Where does Mo sleep?", "intermediate": "in the attic"}]}) + "\n")
    be = RecordingBackend(self_ask("So the final answer is: the Tyne"))
    out = asyncio.run(_tiny_runner(demos="file", demo_file=str(f)).run(TEST, _ctx(TinyTask(), be)))
    block = """Document [1]: Mo sleeps in the attic.
Document [2]: Lu owns a cat named Mo.
Question: Where does the pet of Lu sleep?
Follow up: Which pet does Lu own?
Intermediate answer: a cat named Mo
Follow up: Where does Mo sleep?
Intermediate answer: in the attic
So the final answer is: in the attic"""
    assert be.calls[0][0].content.split("\n\n")[1] == block
    assert out.extra["demo_chains"][0]["chain_source"] == "file" and out.answer == "the Tyne"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "answer": "a", "chain": [{"follow_up": "x"}]}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: chain\[0\]: missing field 'intermediate'"):
        asyncio.run(_tiny_runner(demos="file", demo_file=str(bad)).run(TEST, _ctx(TinyTask(), RecordingBackend())))


def test_synthetic_demonstrations_show_the_real_decomposition():
    from lara.tasks.synthetic import SyntheticTask

    task = SyntheticTask(lengths=[300], n_docs=2)
    be = RecordingBackend(lambda msgs, cfg: "So the final answer is: x")
    sample = next(iter(task.samples()))
    out = asyncio.run(IterDragRunner(k=2, m=2, n=1, chunk_size=60, chunk_overlap=0, tokenizer="words")
                      .run(sample, _ctx(task, be)))
    demos = {s.id: s for s in task.samples()}
    head = be.calls[0][0].content
    for rec in out.extra["demo_chains"]:
        assert rec["chain_source"] == "task"
        for q, a in demos[rec["id"]].metadata["decomposition"]:
            assert f"Follow up: {q}\nIntermediate answer: {a}\n" in head
        ref = demos[rec["id"]].references[0]
        assert f"So the final answer is: {ref}\n\n" in head


def test_generated_chains_once_per_run_cached_and_outside_effective_length(tmp_path, monkeypatch):
    """GSM8K has no decompositions: each demonstration's chain is generated by the model with the
    same loop (first step a follow-up), once per run although two samples use it, never charged to
    a sample's effective context length, and a rerun with the cache makes no call at all."""
    monkeypatch.setenv("LARA_CACHE_DIR", str(tmp_path / "cache"))
    data = write_gsm8k(tmp_path / "gsm8k", n_train=6, n_test=2)
    p = prompts()

    def responder(messages, request):  # noqa: ANN001, ANN202
        last = messages[-1]["content"]
        if last.endswith(p.first_follow_up):
            return "Follow up: How many apples were bought?"
        if last.endswith(p.answer_follow_up):
            return "Intermediate answer: one more than he had"
        if last.endswith(p.decide):
            return "So the final answer is: 9"
        return "So the final answer is: 9"

    def go(srv, out):  # noqa: ANN001, ANN202
        spec = resolve_spec("gsm8k", "iterdrag", "openai:loop", task_params={"data_dir": str(data)},
                            runner_params={"k": 1, "m": 2, "n": 2, "chunk_size": 200, "chunk_overlap": 0,
                                           "tokenizer": "words", "chain_k": 1, "chain_n": 1},
                            model_params={"base_url": srv.base_url}, generation={"temperature": 0.7})
        res = run(spec, output_root=out, max_connections=2)
        return [json.loads(line) for line in (res.run_dir / "samples.jsonl").open()]

    with LoopbackServer(responder=responder) as srv:
        recs = go(srv, tmp_path / "a")
        requests = list(srv.requests)
        srv.reset()
        again = go(srv, tmp_path / "b")
        assert srv.request_count == 0  # deterministic generation: the cache answers everything
    assert len(recs) == 2 and all(r["error"] is None for r in recs)
    chains = {c["id"]: c for r in recs for c in r["extra"]["demo_chains"]}
    assert len(chains) == 2 and all(c["chain_source"] == "generated" for c in chains.values())
    for c in chains.values():
        assert c["steps"] == [{"sub_query": "How many apples were bought?", "retrieved": c["steps"][0]["retrieved"],
                               "intermediate": "one more than he had"}]
        assert c["generation"]["calls"] == 2  # one forced follow-up + its intermediate answer (chain_n=1)
    generation_requests = [q for q in requests if q["messages"][-1]["content"].endswith(
        (p.first_follow_up, p.answer_follow_up)) and "Question: Ann" not in q["messages"][-1]["content"]]
    assert len(generation_requests) == 4  # 2 demonstrations x 2 calls, not repeated for the 2nd sample
    assert all(q["temperature"] == 0.0 and "stop" in q for q in generation_requests)
    assert len(requests) == sum(r["n_calls"] for r in recs) + len(generation_requests)
    for r in recs:
        assert r["effective_context_tokens"] == sum(s["input_tokens"] for s in r["steps"])
        own = [q for q in requests if f"Question: {r['question']}" in q["messages"][-1]["content"]]
        assert r["effective_context_tokens"] == sum(word_count(q["messages"][-1]["content"]) for q in own)
        assert r["extra"]["demo_chain_generation"]["calls"] == 4
        demo_part = r["extra"]["demo_chains"]
        assert all(f"Follow up: {c['steps'][0]['sub_query']}" in own[0]["messages"][-1]["content"] for c in demo_part)
    def chains_of(records):  # noqa: ANN001, ANN202
        return [[{**c, "generation": {k: v for k, v in c["generation"].items() if k != "cached"}}
                 for c in r["extra"]["demo_chains"]] for r in records]

    assert chains_of(again) == chains_of(recs)
    assert all(c["generation"]["cached"] == c["generation"]["calls"] for r in again for c in r["extra"]["demo_chains"])


def test_pricing_without_a_backend_marks_chains_pending(tmp_path):
    from lara.tasks.gsm8k import GSM8KTask

    task = GSM8KTask(data_dir=str(write_gsm8k(tmp_path, n_train=4, n_test=1)))
    runner = IterDragRunner(k=1, m=2, n=1, chunk_size=200, chunk_overlap=0, tokenizer="words")
    ctx = RunContext(task=task, backend=None, generate_config=GenerateConfig(), params={}, tokenizer=runner.tokenizer())
    sample = next(iter(task.samples()))
    demos = asyncio.run(runner.demonstrations(ctx, sample, 2, 1))
    assert [d.chain_source for d in demos] == ["pending", "pending"]
    pieces = asyncio.run(runner.estimate_pieces(ctx, sample, 1, 2))
    bare = sum(get_tokenizer("words").count(f"Question: {d.question}\nSo the final answer is: {d.answer}") for d in demos)
    assert sum(pieces.demo_qa) > bare  # the chain not generated yet is priced, not ignored


# -- the loop against the loopback server ----------------------------------------------------
def scripted(decide: str = "Follow up: What is the access code?"):
    p = prompts()

    def responder(messages, request):  # noqa: ANN001, ANN202
        last = messages[-1]["content"]
        if last.endswith(p.answer_follow_up):
            return "Intermediate answer: 1234"
        if last.endswith(p.force):
            return "So the final answer is: 1234"
        assert last.endswith(p.decide)
        return decide
    return responder


def _run(srv, tmp_path, params=None, model_params=None):  # noqa: ANN001, ANN202
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
    assert test_part.count("Follow up: What is the access code?") == 3
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


class NoChainTask(TinyTask):
    def decomposition(self, sample):  # noqa: ANN001, ANN201
        return None


def test_generated_chain_first_step_is_constrained_to_a_follow_up():
    answer = self_ask("So the final answer is: x", "Intermediate answer: Cy")
    be = RecordingBackend(lambda msgs, cfg: "Follow up: Who is the sister of Bo?"
                          if msgs[0].content.endswith(prompts().first_follow_up) else answer(msgs, cfg), guided=True)
    out = asyncio.run(_tiny_runner(chain_n=1).run(TEST, _ctx(NoChainTask(), be)))
    first = be.configs[0].guided_regex
    assert first is not None and "Follow up" in first and "final answer" not in first
    assert "final answer" in be.configs[2].guided_regex  # inference may answer at once
    assert out.extra["demo_chains"][0]["chain_source"] == "generated"
    assert "Follow up: Who is the sister of Bo?\nIntermediate answer: Cy\nSo the final answer is: red" in be.calls[2][0].content


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


def test_cli_run_logs_a_prompt_whose_demonstration_is_a_chain(tmp_path):
    """The issue's done-when, with the loopback server answering every call with a fixed final
    answer (what the mock backend does): the stored prompt's demonstration has the chain."""
    from typer.testing import CliRunner

    from lara.cli import _register_commands, app
    from lara.results.store import read_records

    _register_commands()
    with LoopbackServer(responder=lambda messages, request: "So the final answer is: x") as srv:
        r = CliRunner().invoke(app, ["run", "--task", "synthetic", "--runner", "iterdrag", "-R", "m=1",
                                     "--model", "openai:loop", "--base-url", srv.base_url, "--log-prompts",
                                     "-n", "1", "--output", str(tmp_path), "--no-cache"])
    assert r.exit_code == 0, r.output
    (rec,) = list(read_records(tmp_path))
    (call,) = [s for s in rec["steps"] if s["kind"] != "retrieve"]
    prompt = call["prompt"][0]["content"]
    (chain,) = rec["extra"]["demo_chains"]
    from lara.tasks.synthetic import SyntheticTask

    demo = {s.id: s for s in SyntheticTask().samples()}[chain["id"]]
    lines = [f"Question: {demo.question}"]
    for step in chain["steps"]:
        lines += [f"Follow up: {step['sub_query']}", f"Intermediate answer: {step['intermediate']}"]
    block = "\n".join([*lines, f"So the final answer is: {demo.references[0]}"])
    assert len(chain["steps"]) >= 1 and "\n" + block + "\n\n" in prompt
    assert prompt.index(block) < prompt.index(f"Question: {rec['question']}")  # demonstration first
    assert rec["answer"] == "x" and chain["chain_source"] == "task"


def test_real_lara_demonstrations_are_generated_chains(shared_data, tmp_path):
    """LaRA has no decompositions: a 32k book question's demonstration is another book question
    (other document) whose chain the model generates; the prompt shows it in the paper's format."""
    from lara.tasks.lara import LaraTask

    p = prompts()

    def responder(messages, request):  # noqa: ANN001, ANN202
        last = messages[-1]["content"]
        if last.endswith(p.first_follow_up):
            return "Follow up: Who is the main character?"
        if last.endswith(p.answer_follow_up):
            return "Intermediate answer: the narrator"
        return "So the final answer is: unknown"

    task = LaraTask(data_dir=str(shared_data / "lara"), lengths=["32k"], context_types=["book"], categories=["location"])
    sample = next(iter(task.samples()))
    with LoopbackServer(responder=responder) as srv:
        spec = resolve_spec("lara-32k", "iterdrag", "openai:loop",
                            task_params={"data_dir": str(shared_data / "lara"), "context_types": ["book"],
                                         "categories": ["location"]},
                            runner_params={"k": 2, "m": 1, "n": 1, "chain_k": 2, "chain_n": 1, "tokenizer": "words"},
                            model_params={"base_url": srv.base_url}, limit=1)
        res = run(spec, output_root=tmp_path, log_prompts=True)
    (rec,) = [json.loads(line) for line in (res.run_dir / "samples.jsonl").open()]
    assert rec["error"] is None and rec["sample_id"] == sample.id
    (chain,) = rec["extra"]["demo_chains"]
    demo = {s.id: s for s in task.samples()}[chain["id"]]
    assert chain["chain_source"] == "generated" and chain["generation"]["calls"] == 2
    assert demo.documents[0].id != sample.documents[0].id  # another book, never the test's own
    prompt = [s for s in rec["steps"] if s["kind"] != "retrieve"][0]["prompt"][0]["content"]
    assert (f"Question: {demo.question}\nFollow up: Who is the main character?\n"
            f"Intermediate answer: the narrator\nSo the final answer is: {demo.references[0]}\n\n") in prompt
