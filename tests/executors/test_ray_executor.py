"""executor="ray": actors on a local Ray run the engine's per-sample code without the data folder,
stream their records to the driver's writer, and every model call is counted.

Slow (Ray startup is several seconds on a busy 2-core machine): one such test, marked ``slow``."""

from __future__ import annotations

import os
import time

import pytest

from lara.config import resolve_spec
from lara.engine import run
from lara.executors.ray_executor import document_batches
from lara.results.store import read_records
from lara.scheduling import OrderPolicy, document_key
from lara.tasks.synthetic import SyntheticTask
from lara.testing.fixtures import make_fixture
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
def test_three_actors_without_the_data_folder_match_a_local_run_and_count_every_call(tmp_path, monkeypatch):
    """A local Ray with 3 actors; once the driver has loaded the samples and shipped the documents
    the data folder is moved away, so a worker that opened it would fail. The summary's call count
    equals the server's request count; the actors are 3 other processes; connections are per actor
    (1 each, yet more than 1 request in flight); answers match a single-process run."""
    pytest.importorskip("ray")
    from lara.executors import ray_executor

    data = make_fixture(tmp_path / "lara")
    real_ship = ray_executor.ship_documents

    def ship_then_hide(samples):
        shipped = real_ship(samples)
        data.rename(tmp_path / "moved-away")
        return shipped

    with LoopbackServer(responder=answer, latency_s=0.3) as srv:
        spec = resolve_spec("lara", "lc", "openai:loopback-model",
                            task_params={"data_dir": str(data), "lengths": ["32k"]},
                            model_params={"base_url": srv.base_url, "max_retries": 0},
                            runner_params={"tokenizer": "words"})
        local = run(spec, output_root=tmp_path / "local", max_connections=1, use_cache=False)
        srv.reset()
        monkeypatch.setattr(ray_executor, "ship_documents", ship_then_hide)
        t0 = time.perf_counter()
        distributed = run(spec, output_root=tmp_path / "ray", max_connections=1, use_cache=False,
                          executor="ray", ray_actors=3)
        print(f"ray run took {time.perf_counter() - t0:.1f}s")
        requests, in_flight = srv.request_count, srv.max_in_flight
    assert not data.exists() and (tmp_path / "moved-away").exists()
    summary = distributed.summary
    assert summary["n_records"] == 6 and summary["errors"] == 0
    assert summary["model_calls_this_invocation"] == requests == 6
    executor = summary["executor"]
    assert executor["actors"] == 3 and executor["documents_shipped"] == 3
    assert len(set(executor["pids"])) == 3 and os.getpid() not in executor["pids"]
    assert sorted(executor["samples_per_actor"]) == [1, 1, 4]  # one document per batch
    assert in_flight > 1  # 1 connection per actor, 3 actors
    a = {r["sample_id"]: r for r in read_records(local.run_dir)}
    b = {r["sample_id"]: r for r in read_records(distributed.run_dir)}
    assert len(a) == 6 and a.keys() == b.keys()
    for sid in a:
        assert (a[sid]["answer"], a[sid]["score"], a[sid]["input_tokens"], a[sid]["spec_hash"]) == (
            b[sid]["answer"], b[sid]["score"], b[sid]["input_tokens"], b[sid]["spec_hash"])
