"""`lara leaderboard --paired` and `lara compare-runners` through the real CLI entry point."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from lara.cli import main
from lara.results.collect import collect
from lara.results.paired import compare_runs, pair_records, strategy_pairings
from lara.testing.fixtures import REPORT_CATS, write_fixture


def test_leaderboard_paired_json_equals_the_statistics(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_fixture(tmp_path / "results", model="replay:/data/predictions/gpt-4o-mini")
    assert main(["leaderboard", str(tmp_path / "results"), "--paired", "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = compare_runs(strategy_pairings(collect([tmp_path / "results"]).records))
    assert [g["category"] for g in got] == [*REPORT_CATS, "overall"]
    assert {(g["a_name"], g["b_name"], g["model_name"]) for g in got} == {("lc", "rag", "gpt-4o-mini (replay)")}
    for g, w in zip(got, want):
        assert (g["n"], g["excluded"], g["diff"], g["ci_low"], g["ci_high"], g["p"], g["p_holm"], g["verdict"]) == (
            w.n, w.excluded, w.diff, w.ci_low, w.ci_high, w.p, w.p_holm, w.verdict)
    overall = got[-1]
    assert overall["n"] + overall["excluded"] == 32 and overall["excluded"] == 5  # error, skipped, 3 unparsed


def test_leaderboard_paired_rich_and_md(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_fixture(tmp_path / "results")
    assert main(["leaderboard", str(tmp_path / "results"), "--paired"]) == 0
    out = capsys.readouterr().out
    assert "A = lc, B = rag" in out and "toy (openai)" in out
    for cat in (*REPORT_CATS, "overall"):
        assert cat in out
    assert "no significant difference" in out and "Holm over the 5 tests shown" in " ".join(out.split())
    assert main(["leaderboard", str(tmp_path / "results"), "--paired", "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert "### lara-mini · toy (openai): A = lc, B = rag" in md and "| overall | 32k |" in md


def test_leaderboard_paired_refusals(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = write_fixture(tmp_path / "results")
    assert main(["leaderboard", str(tmp_path / "results"), "--paired", "--combine"]) == 2
    assert "--combine" in capsys.readouterr().err
    assert main(["leaderboard", str(runs["lc"]), "--paired"]) == 1  # an LC run alone has nothing to pair with
    assert "long_context runner and one with a rag runner" in capsys.readouterr().err


def test_compare_runners_csv(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = write_fixture(tmp_path / "results")
    assert main(["compare-runners", str(runs["rag"]), str(runs["lc"]), "--format", "csv", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    assert "A = rag (lara-mini__rag__toy__abc123); B = lc (lara-mini__lc__toy__abc123)" in captured.err
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    a, b = collect([runs["rag"]]).records, collect([runs["lc"]]).records
    want = compare_runs([pair_records(a, b, "rag", "lc", task="lara-mini", model="openai:toy")], seed=3)
    assert [r["category"] for r in rows] == [w.category for w in want]
    assert [r["A−B pts"] for r in rows] == [f"{100 * w.diff:+.1f}" for w in want]
    assert all(r["A"] == "rag" and r["B"] == "lc" and r["model"] == "toy (openai)" for r in rows)


def test_compare_runners_refusals(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = write_fixture(tmp_path / "results")
    assert main(["compare-runners", str(tmp_path / "results"), str(runs["lc"])]) == 2
    assert "holds 2 runs; pass one run folder" in capsys.readouterr().err
    assert main(["compare-runners", str(runs["lc"]), str(runs["rag"]), "--n-boot", "500"]) == 2
    assert "--n-boot must be at least 2000" in capsys.readouterr().err
    other = write_fixture(tmp_path / "other", model="openai:other")
    lines = (other["rag"] / "samples.jsonl").read_text().splitlines()
    renamed = [json.dumps({**json.loads(x), "sample_id": "x" + json.loads(x)["sample_id"]}) for x in lines]
    (other["rag"] / "samples.jsonl").write_text("\n".join(renamed) + "\n")
    assert main(["compare-runners", str(runs["lc"]), str(other["rag"])]) == 1
    assert "share no sample id" in capsys.readouterr().err
    assert main(["compare-runners", str(runs["lc"]), str(runs["rag"]), "--format", "xml"]) == 2
