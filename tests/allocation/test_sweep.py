"""Sweep end to end on the synthetic task over the loopback server: pruning before any model call,
one run per configuration, cached rerun, P*(L_max), fit, allocate, plot."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from lara.allocation.sweep import Config, expand, parse_ints
from lara.cli import _register_commands, app
from lara.results.store import find_runs, read_records
from lara.testing.openai_server import LoopbackServer, word_count

pytestmark = pytest.mark.needs('bm25s')

_register_commands()
COMMON = ["--task", "synthetic", "-T", "lengths=[300]", "-T", "n_docs=2",
          "-R", "chunk_size=60", "-R", "chunk_overlap=0", "-R", "tokenizer=words"]


def reader(messages, request):
    """Answers a location question when its fact is in the prompt's test part, else refuses."""
    text = messages[-1]["content"]
    q = re.findall(r"Question: What is the access code for the (\w+) vault\?", text)
    if not q:
        return "So the final answer is: not mentioned"
    test_part = re.split(r"\n(?:Answer|So the final answer is): ", text)[-1]  # after the demonstrations
    m = re.search(rf"access code for the {q[-1]} vault is (\d+)", test_part)
    return f"So the final answer is: {m.group(1)}" if m else "So the final answer is: not mentioned"


def test_parse_and_expand():
    assert parse_ints("1..3,8") == [1, 2, 3, 8]
    with pytest.raises(ValueError):
        parse_ints("-1")
    grid = expand(["drag", "iterdrag"], [0, 1], [0, 2], [1, 2])
    assert Config("drag", 1, 2, 1) in grid and Config("drag", 1, 2, 2) not in grid
    assert len(grid) == 4 + 8


def test_sweep_prunes_before_calling_reruns_from_cache_and_allocates(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", *COMMON, "--runner", "drag,iterdrag", "--k", "0,1,2", "--m", "0,1", "--n", "1..2",
            "--budget", "250,1500", "--limit", "4", "-o", str(out)]
    with LoopbackServer(responder=reader) as srv:
        r = CliRunner().invoke(app, [*args, "--model", "openai:loop", "--base-url", srv.base_url])
        assert r.exit_code == 0, r.output
        first_requests = list(srv.requests)
        manifest = json.loads((out / "sweep.json").read_text())
        est = {e["config"]: e for e in manifest["estimates"]}
        pruned = set(manifest["pruned"])
        assert pruned and all(est[c]["max_tokens"] > 1500 for c in pruned)
        assert all(e["max_tokens"] <= 1500 for c, e in est.items() if c not in pruned)
        assert "pruned" in r.output
        labels = {json.loads((d / "run.json").read_text())["spec"]["runner_preset"] for d in find_runs(out)}
        assert labels == set(est) - pruned  # one run per surviving configuration, none for pruned ones
        records = list(read_records(out))
        assert len(first_requests) == sum(x["n_calls"] for x in records if not x["cached"]) > 0
        assert max(sum(word_count(m["content"]) for m in q["messages"]) for q in first_requests) <= 1500
        drag = [x for x in records if x["runner"] == "drag"]
        assert all(x["effective_context_tokens"] == x["extra"]["estimated_tokens"] for x in drag)
        srv.reset()
        r2 = CliRunner().invoke(app, [*args, "--model", "openai:loop", "--base-url", srv.base_url])
        assert r2.exit_code == 0, r2.output
        assert srv.request_count == 0 and "0 model call(s)" in r2.output
    assert (out / "scaling.png").read_bytes()[:4] == b"\x89PNG"

    r = CliRunner().invoke(app, ["best-per-budget", str(out), "--format", "json", "--plot", str(tmp_path / "p.png"), "--params", "paper"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output.split("plot:")[0])
    by_budget = {x["budget"]: x for x in rows}
    assert set(by_budget) == {250, 1500}
    assert by_budget[250]["best"]["max_effective"] <= 250
    assert by_budget[1500]["best"]["mean"] >= by_budget[250]["best"]["mean"]
    assert (tmp_path / "p.png").exists()

    fitted = tmp_path / "fitted.json"
    r = CliRunner().invoke(app, ["fit-allocation", str(out), "--out", str(fitted)])
    assert r.exit_code == 0, r.output
    assert "R2=" in r.output and json.loads(fitted.read_text())["informativeness"]["synthetic"]
    for params in ("paper", str(fitted)):
        r = CliRunner().invoke(app, ["allocate", "--budget", "1500", "--params", params, *COMMON,
                                     "--k", "0,1,2,5,50", "--m", "0,1,2", "--n", "1..3", "--limit", "4"])
        assert r.exit_code == 0, r.output
        best = re.search(r"best (\w+) k=(\d+) m=(\d+) n=(\d+): predicted \S+ \(z\), ~([\d,]+) tokens", r.output)
        assert best and int(best.group(5).replace(",", "")) <= 1500
        assert "saturated" in r.output  # k=50 is more than a 300-word document has


def test_bad_options_are_clear():
    r = CliRunner().invoke(app, ["sweep", "--runner", "rag"])
    assert r.exit_code == 2 and "drag" in r.output
    r = CliRunner().invoke(app, ["allocate", "--budget", "abc"])
    assert r.exit_code == 2


def test_one_dispatcher_for_the_whole_sweep_and_both_rerun_paths(tmp_path):
    """Configurations overlap in time on shared connections (never more than the limit), identical
    requests of different configurations make one call, the reported calls equal the server's
    count, and a rerun goes through the engine's resume (same folder) or the response cache (fresh
    folder) with 0 calls."""
    from lara.allocation.sweep import run_sweep
    from lara.results.store import read_records

    kwargs = dict(task="synthetic", runners=["iterdrag"], ks=[0, 1], ms=[0, 1], ns=[1, 2], budgets=[1_000_000],
                  model="openai:loop", task_params={"lengths": [300], "n_docs": 2},
                  runner_params={"chunk_size": 60, "chunk_overlap": 0, "tokenizer": "words"}, limit=6,
                  max_connections=3)
    with LoopbackServer(responder=reader, latency_s=0.03) as srv:
        kwargs["model_params"] = {"base_url": srv.base_url, "max_retries": 0}
        first = run_sweep(output_root=tmp_path / "a", **kwargs)
        assert srv.max_in_flight <= 3
        assert sum(r.model_calls for r in first.runs) == srv.request_count > 0
        prompts = [str(q["messages"]) for q in srv.requests]
        assert len(prompts) == len(set(prompts))  # shared prompts across configurations: one call each
        spans = []
        for r in first.runs:
            recs = list(read_records(r.run_dir))
            assert len(recs) == 6
            spans.append((min(x["started_at"] for x in recs), max(x["finished_at"] for x in recs)))
        assert any(spans[j][0] < spans[i][1] for i in range(len(spans)) for j in range(i + 1, len(spans)))
        srv.reset()
        resumed = run_sweep(output_root=tmp_path / "a", **kwargs)
        assert srv.request_count == 0 and all(r.model_calls == 0 and r.records == 0 for r in resumed.runs)
        cached = run_sweep(output_root=tmp_path / "b", **kwargs)
        assert srv.request_count == 0 and all(r.model_calls == 0 and r.records == 6 for r in cached.runs)
        assert all(r.cache_hits > 0 for r in cached.runs)
