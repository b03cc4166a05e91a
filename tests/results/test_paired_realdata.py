"""`lara leaderboard --paired` on replayed LaRA predictions of gpt-4o-mini at 32k (all 887 questions),
checked against statistics recomputed here from the JSON lines with statsmodels.

The replay backend answers with the recorded LC or RAG prediction whatever the retrieved chunks, so
the BM25 ``rag`` preset gives the same answers as ``rag-lara`` at a fraction of the indexing cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lara.cli import main

# LaRA 32k questions per category (BENCHMARKS.md §1: book + financial + paper)
COUNTS = {"location": 75 + 148 + 53, "reasoning": 59 + 118 + 53, "comparison": 45 + 87 + 19, "hallucination": 59 + 118 + 53}


@pytest.mark.realdata
@pytest.mark.slow
def test_paired_lc_vs_rag_gpt4o_mini_32k(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    pred = shared_data / "lara" / "predictions" / "gpt-4o-mini"
    if not pred.is_dir():
        pytest.skip(f"no replay predictions at {pred}")
    out = tmp_path / "results"
    assert main(["run", "--task", "lara-32k", "--runner", "lc,rag", "--model", f"replay:{pred}", "--scorer", "lexical",
                 "--data-dir", str(shared_data / "lara" / "datasets"), "-o", str(out), "--format", "json",
                 "--no-cache"]) == 0
    capsys.readouterr()
    assert main(["leaderboard", str(out), "--paired", "--format", "json"]) == 0
    rows = {r["category"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == [*COUNTS, "overall"]

    records: dict[str, dict[str, dict]] = {}
    for run in out.iterdir():
        for line in (run / "samples.jsonl").read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            records.setdefault(d["runner_label"], {})[d["sample_id"]] = d
    lc, rag = records["lc"], records["rag"]

    def scored(d: dict) -> bool:
        return d["score_status"] == "ok" and not d["error"] and not d["skipped"] and d["score"] is not None

    for cat, total in COUNTS.items():
        row = rows[cat]
        ids = [s for s, d in lc.items() if d["category"] == cat]
        assert len(ids) == total and row["n"] + row["excluded"] == total
        both = [s for s in ids if scored(lc[s]) and scored(rag[s])]
        a_only = sum(1 for s in both if lc[s]["score"] >= 0.5 > rag[s]["score"])
        b_only = sum(1 for s in both if rag[s]["score"] >= 0.5 > lc[s]["score"])
        assert (row["n"], row["a_only"], row["b_only"]) == (len(both), a_only, b_only)
        assert row["diff"] == pytest.approx(sum(lc[s]["score"] - rag[s]["score"] for s in both) / len(both))
        table = [[0, a_only], [b_only, 0]]
        assert row["p"] == pytest.approx(contingency.mcnemar(table, exact=True).pvalue, rel=1e-9)
        assert row["ci_low"] < row["diff"] < row["ci_high"]
        assert row["verdict"] == ("no significant difference" if row["p_holm"] >= 0.05
                                  else "A better" if row["diff"] > 0 else "B better")
        assert row["a_name"] == "lc" and row["b_name"] == "rag" and row["model_name"] == "gpt-4o-mini (replay)"
    assert rows["overall"]["n"] == sum(rows[c]["n"] for c in COUNTS)
