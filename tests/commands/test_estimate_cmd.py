"""`lara run --dry-run` / `lara estimate`: every prompt built, no model called, no run folder
written; the figures equal what a real run then records (mock backend, loopback server with the
o200k counts of the bodies it received, replay of LaRA 32k within 5%)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lara.cli import main
from lara.pricing import default_table
from lara.results.collect import collect
from lara.testing.openai_server import LoopbackServer
from lara.tokens import get_tokenizer

pytestmark = pytest.mark.needs('bm25s')


def dry(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    capsys.readouterr()
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def run_records(out: Path) -> dict[str, list]:
    by_runner: dict[str, list] = {}
    for r in collect([out]).records:
        by_runner.setdefault(r.runner_label, []).append(r)
    return by_runner


def test_dry_run_equals_the_real_run_and_writes_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"
    args = ["--model", "mock", "-n", "6", "-o", str(out)]
    est = dry(capsys, "run", *args, "--dry-run")
    assert not out.exists()  # nothing on disk
    assert [e["runner"] for e in est] == ["lc", "rag"] and all(e["samples"] == e["to_run"] == 6 for e in est)
    assert main(["run", *args, "--format", "md"]) == 0
    recorded = run_records(out)
    for e in est:
        recs = recorded[e["runner"]]
        assert e["calls"] == sum(r.n_calls for r in recs) == 6
        assert e["input_tokens"] == sum(r.input_tokens for r in recs)  # mock counts words, like the estimate
        assert e["cost_usd"] == 0.0 and e["tokenizer"] == "words"
    again = dry(capsys, "estimate", *args)  # `lara estimate` = run --dry-run; finished samples are left out
    assert all(e["to_run"] == 0 and e["calls"] == 0 and e["samples"] == 6 for e in again)


def test_openai_dry_run_needs_no_key_and_counts_what_the_server_receives(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    args = ["--model", "openai:gpt-4o", "-n", "4", "-o", str(tmp_path / "r")]
    est = dry(capsys, "run", *args, "--dry-run")
    assert "OPENAI_API_KEY" not in os.environ
    price = default_table().lookup("gpt-4o")
    for e in est:
        assert e["tokenizer"] == "o200k" and e["price_model"] == "gpt-4o"
        assert e["cost_usd"] == pytest.approx(price.cost(e["input_tokens"], e["output_tokens_expected"]))
        assert e["batch_cost_usd"] == pytest.approx(e["cost_usd"] / 2, rel=1e-9)
        assert e["cost_max_usd"] >= e["cost_usd"] > 0 and e["latency_source"] == "assumed"
    # The same prompts, sent for real to a loopback server: their o200k counts are the estimate.
    o200k = get_tokenizer("o200k")
    with LoopbackServer(responder=lambda m, r: "42") as srv:
        assert main(["run", *args, "--base-url", srv.base_url, "--format", "md"]) == 0
        sent = sum(o200k.count(m["content"]) for body in srv.requests for m in body["messages"])
        assert len(srv.requests) == sum(e["calls"] for e in est) == 8
    assert sent == sum(e["input_tokens"] for e in est)


def test_iterative_runner_calls_are_an_upper_bound_from_n(tmp_path: Path, capsys) -> None:
    est = dry(capsys, "run", "--model", "mock", "--runner", "iterdrag", "-R", "n=2", "-R", "m=0", "-n", "3",
              "-o", str(tmp_path), "--dry-run")
    (e,) = est
    assert e["calls_upper_bound"] is True
    assert e["calls"] == 3 * (2 * 2 + 1)  # n follow-ups + n intermediate answers + the forced final answer
    capsys.readouterr()
    assert main(["run", "--model", "mock", "--runner", "iterdrag", "-R", "n=2", "-R", "m=0", "-n", "3",
                 "-o", str(tmp_path), "--dry-run"]) == 0
    assert "≤ 15" in capsys.readouterr().out


def test_dry_run_reports_truncation_and_a_missing_price(tmp_path: Path, capsys) -> None:
    est = dry(capsys, "run", "--model", "mock", "-M", "context_window=700", "--runner", "lc", "-n", "4",
              "-o", str(tmp_path), "--dry-run")
    assert est[0]["truncated"] == 4  # 1k-word haystacks do not fit a 700-token window
    capsys.readouterr()
    assert main(["run", "--model", "openai:my-own-model", "--base-url", "http://127.0.0.1:9/v1", "--runner", "lc",
                 "-n", "2", "-o", str(tmp_path), "--dry-run", "--format", "md"]) == 0
    err = capsys.readouterr().err
    assert "no price for 'my-own-model'" in err and "--price-table" in err


@pytest.mark.realdata
def test_replay_lara_32k_estimate_within_5_percent_of_recorded_tokens(shared_data: Path, tmp_path: Path, capsys,
                                                                        monkeypatch) -> None:
    monkeypatch.setenv("LARA_DATA_DIR", str(shared_data / "lara"))
    model = f"replay:{shared_data / 'lara' / 'predictions' / 'gpt-4o-mini'}"
    args = ["--task", "lara-32k", "--runner", "lc,rag", "--model", model, "--scorer", "lexical", "-o", str(tmp_path)]
    est = {e["runner"]: e for e in dry(capsys, "run", *args, "--dry-run")}
    assert est["lc"]["samples"] == est["rag"]["samples"] == 887
    assert main(["run", *args, "--format", "md"]) == 0
    for runner, recs in run_records(tmp_path).items():
        e = est[runner]
        rec_in = sum(r.input_tokens for r in recs)
        rec_all = rec_in + sum(r.output_tokens for r in recs)
        assert abs(e["input_tokens"] - rec_in) / rec_in < 0.05, (runner, e["input_tokens"], rec_in)
        assert abs(e["input_tokens"] + e["output_tokens_expected"] - rec_all) / rec_all < 0.05
        assert e["calls"] >= sum(r.n_calls for r in recs)  # error records (JSON false upstream) made no call
