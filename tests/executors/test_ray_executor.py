"""executor="ray": a local Ray on CPU runs the same per-sample code and matches a local run.

Slow (Ray startup is several seconds on a busy 2-core machine): one test, marked ``slow``."""

from __future__ import annotations

import time

import pytest

from lara.config import resolve_spec
from lara.engine import run
from lara.executors.ray_executor import document_batches
from lara.results.store import read_records
from lara.scheduling import OrderPolicy, document_key
from lara.tasks.synthetic import SyntheticTask
from lara.testing.openai_server import LoopbackServer


def answer(messages, request):
    q = messages[-1]["content"].rsplit("Question:", 1)[-1]
    return "answer to " + " ".join(q.split()[:12])


def test_document_batches_keep_documents_whole():
    samples = list(SyntheticTask(lengths=[100], n_docs=5).samples())
    batches = document_batches(samples, OrderPolicy(), batch_size=6)
    assert sorted(s.id for b in batches for s in b) == sorted(s.id for s in samples)
    keys = [{document_key(s) for s in b} for b in batches]
    assert all(not (a & b) for i, a in enumerate(keys) for b in keys[i + 1:])  # no document split
    assert all(len(b) <= 6 + 3 for b in batches) and len(batches) >= 3


@pytest.mark.slow
def test_local_ray_run_matches_single_process(tmp_path):
    pytest.importorskip("ray")
    with LoopbackServer(responder=answer) as srv:
        spec = resolve_spec(
            "synthetic", "lc", "openai:loopback-model",
            task_params={"lengths": [120], "n_docs": 4},
            model_params={"base_url": srv.base_url, "max_retries": 0},
            runner_params={"tokenizer": "words"},
        )
        local = run(spec, output_root=tmp_path / "local", max_connections=4, use_cache=False)
        t0 = time.perf_counter()
        distributed = run(spec, output_root=tmp_path / "ray", max_connections=4, use_cache=False, executor="ray")
        print(f"ray run took {time.perf_counter() - t0:.1f}s")
    a = {r["sample_id"]: r for r in read_records(local.run_dir)}
    b = {r["sample_id"]: r for r in read_records(distributed.run_dir)}
    assert len(a) == 16 and a.keys() == b.keys()
    for sid in a:
        assert (a[sid]["answer"], a[sid]["score"], a[sid]["input_tokens"], a[sid]["spec_hash"]) == (
            b[sid]["answer"], b[sid]["score"], b[sid]["input_tokens"], b[sid]["spec_hash"])
    assert distributed.summary["n_records"] == 16 and distributed.summary["errors"] == 0
