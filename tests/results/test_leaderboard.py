"""Leaderboard aggregation: explicit counts, denominators, bootstrap CIs and output formats."""

from __future__ import annotations

import csv
import io
import json

from lara.results.leaderboard import aggregate, bootstrap_ci, render
from lara.results.summary import summarize


def rec(score=None, status="ok", error=None, skipped=None, runner="lc", cat="location", tok=10):
    return {"model": "m", "runner": "long_context", "runner_label": runner, "task": "t", "category": cat,
            "length": "1k", "score": score, "score_status": status, "error": error, "skipped": skipped,
            "input_tokens": tok, "n_calls": 1, "cached": False, "output_tokens": 1}


def test_counts_and_denominators():
    records = [rec(1.0), rec(0.0), rec(1.0), rec(None, status="unparsed"), rec(error={"type": "X"}),
               rec(skipped="context_too_long", status="skipped"), rec(1.0, runner="rag")]
    rows = {r.key[1]: r for r in aggregate(records)}
    lc = rows["lc"]
    assert (lc.n, lc.scored, lc.errors, lc.skipped, lc.unparsed) == (6, 3, 1, 1, 1)
    assert abs(lc.mean - 2 / 3) < 1e-12  # unparsed/errors/skipped are not counted as wrong
    assert lc.ci_low <= lc.mean <= lc.ci_high
    assert rows["rag"].mean == 1.0
    s = summarize(records)
    assert (s["scored"], s["errors"], s["skipped"], s["unparsed"]) == (4, 1, 1, 1)


def test_bootstrap_ci_behaviour():
    lo, hi = bootstrap_ci([1.0] * 50)
    assert lo == hi == 1.0
    lo, hi = bootstrap_ci([0.0, 1.0] * 200)
    assert 0.4 < lo < 0.5 < hi < 0.6  # ~ ±1.96*sqrt(.25/400) = ±0.049
    lo2, hi2 = bootstrap_ci([0.2, 0.4, 0.6, 0.8] * 25)
    assert lo2 < 0.5 < hi2


def test_formats():
    rows = aggregate([rec(1.0), rec(0.0)])
    keys = ("model", "runner", "task", "category", "length")
    data = json.loads(render(rows, keys, "json"))
    assert data[0]["mean"] == 0.5 and data[0]["runner"] == "lc"
    table = list(csv.reader(io.StringIO(render(rows, keys, "csv"))))
    assert table[0][:5] == list(keys) and table[1][6] == "50.0"
    assert "| m | lc | t | location | 1k | 2 | 50.0 |" in render(rows, keys, "md")
