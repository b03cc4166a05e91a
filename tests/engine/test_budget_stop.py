"""--max-cost / --max-input-tokens: dispatching stops at the cap, in-flight samples finish, the rest
is recorded as skipped: budget, and a rerun with a larger cap (or none) starts exactly those."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lara.cli import main
from lara.config import resolve_spec
from lara.engine import RunOptions, run
from lara.engine.budget import Budget, budget_skipped_ids
from lara.errors import ConfigError
from lara.pricing import load_prices
from lara.results.collect import collect
from lara.results.store import read_records
from lara.testing.openai_server import LoopbackServer


def spec(n: int = 8):
    # one haystack size, so every sample costs about the same (the mean is a good guess)
    return resolve_spec("synthetic", "lc", "mock", task_params={"lengths": "[1000]", "n_docs": "4"}, limit=n)


def lines(run_dir: Path) -> list[dict]:
    return list(read_records(run_dir / "samples.jsonl"))


def test_token_cap_stops_dispatch_and_a_larger_cap_resumes_the_rest(tmp_path: Path) -> None:
    cap = 4_000
    budget = Budget(max_input_tokens=cap)
    res = run(spec(), RunOptions(output_root=tmp_path, max_connections=2, budget=budget))
    recs = lines(res.run_dir)
    done = [r for r in recs if r["skipped"] != "budget"]
    skipped = [r for r in recs if r["skipped"] == "budget"]
    per_sample = max(r["input_tokens"] for r in done)
    assert len(recs) == 8 and skipped and done
    spent = sum(r["input_tokens"] for r in done)
    assert spent == budget.spent_input_tokens
    assert cap - per_sample < spent <= cap + 20  # stopped at the cap, not long before it
    assert all(r["n_calls"] == 0 and r["score_status"] == "skipped" for r in skipped)
    assert res.summary["outcomes"]["skipped"] == len(skipped) == budget.skipped
    assert res.summary["model_calls_this_invocation"] == len(done)
    assert budget_skipped_ids(res.run_dir / "samples.jsonl") == {r["sample_id"] for r in skipped}

    # A larger cap counts what the run already spent and starts only the skipped samples.
    bigger = Budget(max_input_tokens=100_000)
    res2 = run(spec(), RunOptions(output_root=tmp_path, max_connections=2, budget=bigger))
    assert res2.summary["model_calls_this_invocation"] == len(skipped)
    assert bigger.spent_input_tokens == spent + sum(r.input_tokens for r in collect([res2.run_dir]).records
                                                    if r.sample_id in {x["sample_id"] for x in skipped})
    latest = collect([res2.run_dir]).records
    assert len(latest) == 8 and all(r.outcome in ("correct", "incorrect") for r in latest)
    assert {r.attempt for r in latest if r.sample_id in {x["sample_id"] for x in skipped}} == {2}
    assert budget_skipped_ids(res2.run_dir / "samples.jsonl") == set()
    # and a plain rerun now makes no call
    res3 = run(spec(), RunOptions(output_root=tmp_path))
    assert res3.summary["model_calls_this_invocation"] == 0


def test_rerun_without_a_cap_starts_the_budget_skipped_samples(tmp_path: Path) -> None:
    run(spec(4), RunOptions(output_root=tmp_path, budget=Budget(max_input_tokens=1_500)))
    res = run(spec(4), RunOptions(output_root=tmp_path))
    assert res.summary["outcomes"]["skipped"] == 0 and res.summary["n_records"] == 4


def test_cli_max_cost_against_a_priced_model_on_the_loopback_server(tmp_path: Path, capsys) -> None:
    table = tmp_path / "prices.yaml"
    table.write_text("date: '2030-01-01'\nmodels:\n  test-model: {input: 100.0, output: 100.0, tokenizer: cl100k}\n",
                     encoding="utf-8")
    per_sample = 1_050 * 100.0 / 1e6  # ~1,050 prompt words at $100 per 1M (the server counts words)
    cap = 3.5 * per_sample
    with LoopbackServer(responder=lambda m, r: "42") as srv:
        code = main(["run", "--model", "openai:test-model", "--base-url", srv.base_url, "--runner", "lc",
                     "-T", "lengths=[1000]", "-T", "n_docs=4", "-n", "8", "--max-connections", "2",
                     "--max-cost", str(cap), "--price-table", str(table), "-o", str(tmp_path / "r"), "--format", "md"])
        requests = srv.request_count
    err = capsys.readouterr().err
    assert code == 0
    recs = [r for d in (tmp_path / "r").iterdir() if d.is_dir() for r in lines(d)]
    done = [r for r in recs if r["skipped"] != "budget"]
    assert requests == len(done) and 0 < len(done) < 8
    spent = load_prices(table).lookup("test-model").cost(sum(r["input_tokens"] for r in done),
                                                         sum(r["output_tokens"] for r in done))
    assert cap - per_sample < spent <= cap * 1.01
    assert "budget: spent $" in err and "skipped: budget" in err


def test_cli_refuses_a_cost_cap_on_an_unpriced_model_before_any_call(tmp_path: Path, capsys) -> None:
    with LoopbackServer(responder=lambda m, r: "42") as srv:
        code = main(["run", "--model", "openai:no-such-priced-model", "--base-url", srv.base_url, "--runner", "lc",
                     "-n", "2", "--max-cost", "1", "-o", str(tmp_path / "r")])
        assert srv.request_count == 0
    assert code == 2
    assert "no price for model 'no-such-priced-model'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, message", [
    (["--max-cost", "0"], "--max-cost must be a positive"),
    (["--max-cost", "-3"], "--max-cost must be a positive"),
    (["--max-input-tokens", "lots"], "--max-input-tokens: not a token count"),
    (["--max-input-tokens", "1k", "--executor", "ray"], "local executor only"),
])
def test_bad_budget_options_fail_with_one_line(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    assert main(["run", "--model", "mock", "-n", "1", "-o", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_budget_gate_rules() -> None:
    b = Budget(max_input_tokens=1_000)
    assert b.gate(0) == "go" and b.gate(1) == "wait"  # the first sample runs alone
    b.finished, b.finished_tokens, b.spent_input_tokens = 1, 300, 300
    assert b.gate(1) == "go"  # 300 + 2 x 300 <= 1000
    assert b.gate(2) == "wait" and b.gate(0) == "go"
    b.spent_input_tokens = 800
    assert b.gate(0) == "stop"
    with pytest.raises(ConfigError):
        Budget(max_cost_usd=0)
    assert json.dumps(b.describe())
