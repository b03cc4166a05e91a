"""Sharded runs merge to the same records as one run; merging twice never duplicates."""

from __future__ import annotations

import json

import pytest

from lara.config import resolve_spec
from lara.engine import run
from lara.results.store import read_records
from lara.sharding import MergeError, merge_runs, parse_shard, select_shard, shard_of
from lara.scheduling import document_key
from lara.testing.openai_server import LoopbackServer

N = 3


def answer(messages, request):
    q = messages[-1]["content"].rsplit("Question:", 1)[-1]
    return "answer to " + " ".join(q.split()[:12])


def spec_for(srv, **task):
    return resolve_spec(
        "synthetic", "lc", "openai:loopback-model",
        task_params={"lengths": [150], "n_docs": 7, **task},
        model_params={"base_url": srv.base_url, "max_retries": 0},
        runner_params={"tokenizer": "words"},
    )


def by_id(path):
    return {r["sample_id"]: r for r in read_records(path)}


def test_parse_and_select_shards():
    assert parse_shard("2/8") == (2, 8) and parse_shard(None) is None
    for bad in ("8/8", "x", "1/0", "-1/3"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    from lara.tasks.synthetic import SyntheticTask

    samples = list(SyntheticTask(lengths=[100], n_docs=9).samples())
    parts = [select_shard(samples, (i, N)) for i in range(N)]
    assert sorted(s.id for p in parts for s in p) == sorted(s.id for s in samples)  # a partition
    for i, p in enumerate(parts):  # a document never straddles shards
        assert {shard_of(s, N) for s in p} <= {i}
        assert not {document_key(s) for s in p} & {document_key(s) for q in parts if q is not p for s in q}


def test_sharded_runs_merge_to_the_single_run(tmp_path):
    with LoopbackServer(responder=answer) as srv:
        spec = spec_for(srv)
        single = run(spec, output_root=tmp_path / "single", max_connections=4, use_cache=False)
        shard_dirs = []
        for i in range(N):
            r = run(spec, output_root=tmp_path / "shards", max_connections=4, use_cache=False, shard=(i, N))
            assert r.run_dir.name.endswith(f"__shard-{i}-of-{N}")
            assert json.loads((r.run_dir / "run.json").read_text())["shard"] == [i, N]
            shard_dirs.append(r.run_dir)
        other = run(spec_for(srv, seed=9), output_root=tmp_path / "other", max_connections=4, use_cache=False)
    ref = by_id(single.run_dir)
    out = tmp_path / "merged"
    summary = merge_runs(shard_dirs, out)
    merged = by_id(out)
    assert summary["n_records"] == len(ref) == 28 and summary["n_expected"] == 28
    assert {k: r["answer"] for k, r in merged.items()} == {k: r["answer"] for k, r in ref.items()}
    assert {r["spec_hash"] for r in merged.values()} == {single.summary and ref[next(iter(ref))]["spec_hash"]}
    # merged twice (and with its own output as an input) does not duplicate
    merge_runs(shard_dirs, out)
    merge_runs([out, *shard_dirs[:1]], out)
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 28 and len({json.loads(l)["sample_id"] for l in lines}) == 28
    info = json.loads((out / "run.json").read_text())
    assert info["merged_shards"] == [[i, N] for i in range(N)] and "shard" not in info
    with pytest.raises(MergeError, match="different spec hashes"):
        merge_runs([shard_dirs[0], other.run_dir], tmp_path / "bad")
