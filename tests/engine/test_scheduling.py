"""Prefix-cache-aware dispatch: warm one request per document first, bound documents in flight,
and the engine really dispatches that way over a loopback server (arrival vs completion times)."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from lara.config import resolve_spec
from lara.engine import run
from lara.scheduling import OrderPolicy, PrefixDispatcher, default_policy, document_key, grouped_order
from lara.testing.openai_server import LoopbackServer
from lara.types import Document, Sample


def make_samples(n_docs: int, per_doc: int, doc_chars: int = 4000, shuffle: bool = True) -> list[Sample]:
    docs = [Document(id=f"d{j}", text="x" * doc_chars) for j in range(n_docs)]
    out = [Sample(id=f"d{j}-q{k}", question="?", documents=(docs[j],)) for j in range(n_docs) for k in range(per_doc)]
    if shuffle:
        random.Random(1).shuffle(out)
    return out


def simulate(dispatcher: PrefixDispatcher, concurrency: int, seed: int = 0) -> list[tuple[str, Sample]]:
    """Drive the dispatcher with random completion order; returns the (start|done, sample) events."""
    rng = random.Random(seed)
    running: list[Sample] = []
    events: list[tuple[str, Sample]] = []
    while not dispatcher.exhausted or running:
        while len(running) < concurrency:
            s = dispatcher.next_ready()
            if s is None:
                break
            running.append(s)
            events.append(("start", s))
        assert running, "dispatcher stalled with nothing in flight"
        s = running.pop(rng.randrange(len(running)))
        dispatcher.done(s)
        events.append(("done", s))
    return events


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_warm_request_finishes_before_the_rest_of_its_document(seed):
    samples = make_samples(n_docs=7, per_doc=5)
    events = simulate(PrefixDispatcher(samples, OrderPolicy("prefix_warm")), concurrency=6, seed=seed)
    started = [s.id for kind, s in events if kind == "start"]
    assert sorted(started) == sorted(s.id for s in samples)  # each exactly once
    first_done: dict[str, int] = {}
    for t, (kind, s) in enumerate(events):
        key = document_key(s)
        if kind == "done":
            first_done.setdefault(key, t)
        elif key in {document_key(x) for k, x in events[:t] if k == "start"}:
            assert key in first_done and first_done[key] < t  # a second request only after the warm one


def test_prefix_cache_tokens_bounds_documents_in_flight():
    samples = make_samples(n_docs=10, per_doc=4, doc_chars=4000)  # ~1000 tokens each
    policy = OrderPolicy("prefix_warm", prefix_cache_tokens=3000, cache_fill=1.0, output_tokens=0)
    d = PrefixDispatcher(samples, policy, request_tokens=lambda s: 0)
    simulate(d, concurrency=16)
    assert d.max_docs_open == 3
    unbounded = PrefixDispatcher(samples, OrderPolicy("prefix_warm"))
    simulate(unbounded, concurrency=16)
    assert unbounded.max_docs_open > 3
    # a document larger than the bound still runs (alone)
    big = PrefixDispatcher(make_samples(2, 2, doc_chars=40000), OrderPolicy("prefix_warm", prefix_cache_tokens=10))
    assert len(simulate(big, concurrency=4)) == 8 and big.max_docs_open == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kv_plan_counts_running_requests_and_keeps_connections_busy(seed):
    """Open prefixes + every in-flight request's own tokens stay within the cache; and whenever the
    dispatcher leaves a connection idle, every remaining request either would not fit the cache or
    would re-prefill a document whose warm request is still running."""
    rng = random.Random(seed)
    docs = [Document(id=f"d{j}", text=f"{j} " + "y" * rng.randrange(2000, 8000)) for j in range(12)]
    samples = [Sample(id=f"d{j}-q{k}", question="q" * rng.randrange(40, 400), documents=(docs[j],))
               for j in range(12) for k in range(rng.randrange(1, 7))]
    rng.shuffle(samples)
    policy = OrderPolicy("prefix_warm", prefix_cache_tokens=5000, cache_fill=1.0, output_tokens=50)
    d = PrefixDispatcher(samples, policy)
    doc_tok = {s.id: len(s.documents[0].text) // 4 for s in samples}
    own = {s.id: len(s.question) // 4 + 50 for s in samples}
    running: list[Sample] = []
    started: set[str] = set()
    finished_docs: set[str] = set()
    idle_checks = 0
    while not d.exhausted or running:
        while len(running) < 8:
            s = d.next_ready()
            if s is None:
                break
            running.append(s)
            started.add(s.id)
        open_docs = {document_key(x) for x in samples if x.id in started} - {
            document_key(x) for x in samples if all(y.id in started and y not in running
                                                    for y in samples if document_key(y) == document_key(x))}
        planned = sum(doc_tok[x.id] for x in {document_key(y): y for y in samples if document_key(y) in open_docs}.values())
        planned += sum(own[x.id] for x in running)
        assert planned == d.planned_tokens
        assert planned <= 5000 or len(running) == 1  # one request always runs, however large
        if len(running) < 8 and not d.exhausted:
            idle_checks += 1
            nexts = {}  # each document's requests go out in input order: only its next one is a candidate
            for x in samples:
                if x.id not in started:
                    nexts.setdefault(document_key(x), x)
            for key, x in nexts.items():
                cold_duplicate = key in open_docs and key not in finished_docs
                need = own[x.id] + (0 if key in open_docs else doc_tok[x.id])
                assert cold_duplicate or planned + need > 5000, x.id
        s = running.pop(rng.randrange(len(running)))
        d.done(s)
        finished_docs.add(document_key(s))
    assert started == {s.id for s in samples} and idle_checks > 0


def test_static_orders_and_policy_defaults():
    samples = make_samples(n_docs=4, per_doc=3)
    grouped = grouped_order(samples)
    keys = [document_key(s) for s in grouped]
    assert all(keys.count(k) == 3 for k in set(keys))
    assert keys == sorted(keys, key=keys.index)  # contiguous groups
    assert PrefixDispatcher(samples, OrderPolicy("dataset")).order() == samples
    assert PrefixDispatcher(samples, OrderPolicy("prefix_grouped")).order() == grouped
    assert default_policy("long_context").name == "prefix_warm"
    assert default_policy("rag").name == "prefix_grouped"
    with pytest.raises(ValueError, match="valid"):
        OrderPolicy("random")


def test_engine_dispatches_warm_first_over_loopback(tmp_path):
    log: list[tuple[str, str, float]] = []

    async def responder(messages, request):
        key = messages[-1]["content"][:300]
        log.append(("start", key, asyncio.get_running_loop().time()))
        await asyncio.sleep(0.03)
        log.append(("done", key, asyncio.get_running_loop().time()))
        return "It is not mentioned."

    with LoopbackServer(responder=responder) as srv:
        spec = resolve_spec(
            "synthetic", "lc", "openai:loopback-model",
            task_params={"lengths": [200], "n_docs": 5},
            model_params={"base_url": srv.base_url, "max_retries": 0},
            runner_params={"tokenizer": "words"},
        )
        result = run(spec, output_root=tmp_path, max_connections=4, use_cache=False)
        assert srv.max_in_flight <= 4
    assert result.summary["n_records"] == 20 and result.summary["errors"] == 0
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["order"] == "prefix_warm" and info["order_params"]["policy"] == "prefix_warm"
    first_done: dict[str, float] = {}
    seen: set[str] = set()
    for kind, key, _ in log:
        if kind == "done":
            first_done.setdefault(key, 0)
        elif key in seen:
            assert key in first_done, "a second request of a document started before its warm request ended"
        else:
            seen.add(key)
    assert len(seen) == 5


def test_run_plans_with_the_cache_size_the_server_publishes(tmp_path):
    from lara.cli import main

    metrics = 'vllm:cache_config_info{block_size="16",enable_prefix_caching="True",num_gpu_blocks="500"} 1.0\n'
    with LoopbackServer(metrics_text=metrics) as srv:
        spec = resolve_spec("synthetic", "lc", "openai:loopback-model", task_params={"lengths": [200], "n_docs": 2},
                            model_params={"base_url": srv.base_url, "max_retries": 0},
                            runner_params={"tokenizer": "words"})
        result = run(spec, output_root=tmp_path / "auto", use_cache=False)  # RunOptions' default: auto
        order = json.loads((result.run_dir / "run.json").read_text())["order_params"]
        assert order["prefix_cache_tokens"] == 8000 and order["source"] == "server"
        rc = main(["run", "--task", "synthetic", "-T", "lengths=[200]", "-T", "n_docs=2", "--runner", "lc",
                   "-R", "tokenizer=words", "--model", "openai:loopback-model", "--base-url", srv.base_url,
                   "--no-cache", "--prefix-cache-tokens", "0", "-o", str(tmp_path / "off"), "--format", "json"])
        assert rc == 0
    (run_dir,) = (tmp_path / "off").iterdir()
    order = json.loads((run_dir / "run.json").read_text())["order_params"]
    assert order["prefix_cache_tokens"] is None and order["source"] == "off"
